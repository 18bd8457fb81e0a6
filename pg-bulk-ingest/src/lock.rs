//! Every lock the library takes: the advisory locks that serialise calls on a
//! table (and the creation of an enum type), `LOCK TABLE` in each mode a plan
//! uses, the session's `lock_timeout`, and the `ACCESS EXCLUSIVE` lock a swap
//! needs, taken without stalling readers for long and terminating the
//! backends that block it when told to (PostgreSQL's documentation,
//! "Explicit Locking").
//!
//! While a lock request waits, every later `SELECT` on the table queues behind
//! it. So each attempt waits at most the lock timeout, inside a savepoint,
//! and between attempts readers get through. Past the deadline, with a side
//! connection configured, the backends blocking the attempt are terminated
//! (`pg_terminate_backend` over `pg_blocking_pids`), each logged at warn.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use postgres::error::SqlState;
use postgres::Transaction;

use crate::error::{describe, Error, OnTable, Result};
use crate::ident::Literal;
use crate::savepoint::{attempt, Attempt};
use crate::table::TableDef;
use crate::types::EnumDef;

/// A table-level lock mode, by PostgreSQL's name for it (PostgreSQL's
/// documentation, "Explicit Locking", section "Table-Level Locks"), or the
/// library's transaction-level advisory lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LockMode {
    /// `pg_advisory_xact_lock`: conflicts only with the same lock of
    /// another call, and with [`AdvisoryShared`](LockMode::AdvisoryShared).
    Advisory,
    /// `pg_advisory_xact_lock_shared` on the table's name: taken by calls
    /// that only write rows into existing or new partitions of a table
    /// partitioned by range or list; conflicts only with
    /// [`Advisory`](LockMode::Advisory) (a call that changes the table's
    /// definition, or touches every partition), not with itself.
    AdvisoryShared,
    /// `pg_advisory_xact_lock` on each partition a call writes into (one key
    /// per range interval or list value, the table's name with it), in key
    /// order: two calls on one partition take turns, calls on different
    /// partitions don't.
    AdvisoryPartitions,
    /// `ACCESS SHARE`: what reads take; conflicts only with `ACCESS
    /// EXCLUSIVE` (most `ALTER TABLE` forms, `DROP`, `TRUNCATE`).
    AccessShare,
    /// `ROW EXCLUSIVE`: what writes take; conflicts with neither readers nor
    /// other writers.
    RowExclusive,
    /// `SHARE UPDATE EXCLUSIVE`: what `COMMENT ON` takes (and `VACUUM`,
    /// `ANALYZE`, `CREATE INDEX CONCURRENTLY`); conflicts with neither
    /// readers nor writers, but with those and with itself.
    ShareUpdateExclusive,
    /// `EXCLUSIVE`: writers wait, readers go on.
    Exclusive,
    /// `ACCESS EXCLUSIVE`: readers wait too.
    AccessExclusive,
}

impl fmt::Display for LockMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LockMode::Advisory => "advisory lock",
            LockMode::AdvisoryShared => "shared advisory lock",
            LockMode::AdvisoryPartitions => "advisory lock per partition",
            LockMode::AccessShare => "ACCESS SHARE",
            LockMode::RowExclusive => "ROW EXCLUSIVE",
            LockMode::ShareUpdateExclusive => "SHARE UPDATE EXCLUSIVE",
            LockMode::Exclusive => "EXCLUSIVE",
            LockMode::AccessExclusive => "ACCESS EXCLUSIVE",
        })
    }
}

/// Key space of the advisory locks on tables (ASCII "bulk").
const TABLE_LOCK_SPACE: i32 = 0x6275_6c6b;

/// Key space of the advisory locks that serialise the creation of an enum
/// type (ASCII "enum"); distinct from the tables' space.
const ENUM_LOCK_SPACE: i32 = 0x656e_756d;

/// Key space of the advisory locks on the partitions of a table (ASCII
/// "part"), keyed by the table's name and the partition's interval or value.
const PARTITION_LOCK_SPACE: i32 = 0x7061_7274;

/// The transaction-level advisory lock on `key` in `space`, as a statement.
fn advisory(space: i32, key: &str) -> String {
    format!(
        "SELECT pg_catalog.pg_advisory_xact_lock({space}, pg_catalog.hashtext({}))",
        Literal(key)
    )
}

/// The advisory lock that serialises calls on table `def`: a second call
/// waits until the first one's transaction ends.
pub(crate) fn advisory_table(def: &TableDef) -> String {
    advisory(TABLE_LOCK_SPACE, &def.name().to_string())
}

/// The same lock as [`advisory_table`], shared: calls holding it run
/// together, and a call taking it exclusively waits for all of them (and
/// they for it).
pub(crate) fn advisory_table_shared(def: &TableDef) -> String {
    format!(
        "SELECT pg_catalog.pg_advisory_xact_lock_shared({TABLE_LOCK_SPACE}, \
         pg_catalog.hashtext({}))",
        Literal(&def.name().to_string())
    )
}

/// The advisory locks on the partitions of `def` that `keys` names: `keys`
/// is a query whose rows are the partitions' keys (text, one column named
/// `k`, see `sql::partition_keys`). Each key is hashed with the table's
/// name, and the locks are taken in the order of their hashes, so that two
/// calls locking some of the same partitions never wait for each other in
/// a cycle. One row, the number of locks taken.
pub(crate) fn advisory_partitions(def: &TableDef, keys: &str) -> String {
    format!(
        "SELECT pg_catalog.count(pg_catalog.pg_advisory_xact_lock({PARTITION_LOCK_SPACE}, l.h)) \
         FROM (SELECT DISTINCT pg_catalog.hashtext({} || ' ' || p.k) AS h FROM ({keys}) AS p \
         ORDER BY 1) AS l",
        Literal(&def.name().to_string())
    )
}

/// The advisory lock that serialises the creation of enum type `def`.
pub(crate) fn advisory_enum(def: &EnumDef) -> String {
    advisory(ENUM_LOCK_SPACE, &def.name().to_string())
}

/// `LOCK TABLE <table> IN <mode> MODE` (`table` quoted).
pub(crate) fn lock_table(table: &str, mode: LockMode) -> String {
    let mode = match mode {
        LockMode::AccessShare => "ACCESS SHARE",
        LockMode::RowExclusive => "ROW EXCLUSIVE",
        LockMode::ShareUpdateExclusive => "SHARE UPDATE EXCLUSIVE",
        LockMode::Exclusive => "EXCLUSIVE",
        LockMode::AccessExclusive => "ACCESS EXCLUSIVE",
        LockMode::Advisory | LockMode::AdvisoryShared | LockMode::AdvisoryPartitions => {
            unreachable!("advisory locks are not table locks")
        }
    };
    format!("LOCK TABLE {table} IN {mode} MODE")
}

/// `SET LOCAL lock_timeout` to `timeout` (at least 1 ms).
fn set_local_lock_timeout(timeout: Duration) -> String {
    format!(
        "SET LOCAL lock_timeout = {}",
        Literal(&format!("{}ms", timeout.as_millis().max(1)))
    )
}

/// `SET LOCAL lock_timeout`, returning the previous value to restore.
pub(crate) fn set_lock_timeout(
    sp: &mut Transaction<'_>,
    timeout: Duration,
) -> Result<String, postgres::Error> {
    let old: String = sp
        .query_one("SELECT pg_catalog.current_setting('lock_timeout')", &[])?
        .get(0);
    sp.batch_execute(&set_local_lock_timeout(timeout))?;
    Ok(old)
}

/// Restores the `lock_timeout` [`set_lock_timeout`] returned.
pub(crate) fn restore_lock_timeout(
    sp: &mut Transaction<'_>,
    old: &str,
) -> Result<(), postgres::Error> {
    sp.execute(
        "SELECT pg_catalog.set_config('lock_timeout', $1, true)",
        &[&old],
    )?;
    Ok(())
}

/// Runs `lock` (a `LOCK TABLE`) waiting at most `wait`, in a savepoint: true
/// when the lock was had, false when another session held a conflicting one
/// all that time. The session's lock timeout is restored either way.
pub(crate) fn try_lock(
    sp: &mut Transaction<'_>,
    lock: &str,
    wait: Duration,
) -> Result<bool, postgres::Error> {
    let old = set_lock_timeout(sp, wait)?;
    let locked = attempt(sp, &SqlState::LOCK_NOT_AVAILABLE, |t| t.batch_execute(lock))?.is_ok();
    restore_lock_timeout(sp, &old)?;
    Ok(locked)
}

/// How often, from PostgreSQL 14, the server checks during a statement that
/// the client is still there (`client_connection_check_interval`).
const CLIENT_CHECK: &str = "1s";

/// Makes the backend notice a vanished client within about a second while a
/// statement of the call runs, so that a killed batch program does not hold
/// the call's locks until its statement ends: `SET LOCAL
/// client_connection_check_interval` (PostgreSQL 14 and later; earlier
/// majors notice only between statements). Left as it is when the session
/// sets it already, and where the server's platform can't check (its check
/// refuses the value). Returns the value to restore when the call ends.
pub(crate) fn watch_client(sp: &mut Transaction<'_>) -> Result<Option<String>, postgres::Error> {
    // One round trip: the savepoint, the setting where it applies, the
    // release; a platform that can't check refuses the value, and the
    // savepoint is rolled back.
    let set = format!(
        "SAVEPOINT pg_bulk_ingest_client_check; \
         SELECT pg_catalog.set_config('client_connection_check_interval', {}, true) \
         WHERE pg_catalog.current_setting('server_version_num')::int4 >= 140000 \
           AND pg_catalog.current_setting('client_connection_check_interval', true) = '0'; \
         RELEASE SAVEPOINT pg_bulk_ingest_client_check",
        Literal(CLIENT_CHECK)
    );
    match sp.simple_query(&set) {
        Ok(messages) => Ok(messages
            .iter()
            .any(|m| matches!(m, postgres::SimpleQueryMessage::Row(_)))
            .then(|| "0".to_owned())),
        Err(e) if e.code() == Some(&SqlState::INVALID_PARAMETER_VALUE) => {
            sp.batch_execute(
                "ROLLBACK TO SAVEPOINT pg_bulk_ingest_client_check; \
                 RELEASE SAVEPOINT pg_bulk_ingest_client_check",
            )?;
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Restores what [`watch_client`] changed.
pub(crate) fn unwatch_client(sp: &mut Transaction<'_>, old: &str) -> Result<(), postgres::Error> {
    sp.query_typed(
        "SELECT pg_catalog.set_config('client_connection_check_interval', $1, true)",
        &[(&old, postgres::types::Type::TEXT)],
    )?;
    Ok(())
}

/// How long blockers are terminated before a swap gives up.
const FORCE_WAIT: Duration = Duration::from_secs(10);

/// The pause between two attempts at the swap lock while blockers are
/// terminated.
const FORCE_PAUSE: Duration = Duration::from_millis(50);

/// How the swap lock is taken.
#[derive(Clone, Debug)]
pub(crate) struct LockPolicy {
    /// The longest one attempt waits (readers queue behind it meanwhile).
    pub attempt_timeout: Duration,
    /// After this long, blockers are terminated (with `force`), or the call
    /// fails.
    pub deadline: Duration,
    /// Side connection for terminating blockers.
    pub force: Option<postgres::Config>,
}

/// Takes `ACCESS EXCLUSIVE` on `table` (quoted, qualified), after running
/// `first` in the same attempt (dropping the views to be made again: a
/// `DROP VIEW` locks the view alone, where `LOCK` on a view would lock what it
/// reads with its owner's rights; views first, table last, the order readers
/// lock them in). The lock is held until the caller's transaction ends.
pub(crate) fn lock_exclusive(
    sp: &mut Transaction<'_>,
    table: &str,
    first: &[String],
    policy: &LockPolicy,
) -> Result<()> {
    let started = Instant::now();
    let mut backoff = Duration::from_millis(50);
    let mut jitter = Jitter::new();
    loop {
        match try_swap_lock(sp, table, first, policy.attempt_timeout) {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(_)) => {
                if started.elapsed() >= policy.deadline {
                    return match &policy.force {
                        Some(config) => force(sp, table, first, config, policy),
                        None => Err(Error::SwapTimeout {
                            table: table.to_owned(),
                            waited: started.elapsed(),
                            reason: "other sessions hold locks on the table, and no \
                                     force_connection is configured to terminate them"
                                .to_owned(),
                        }),
                    };
                }
                log::info!("{table}: waiting for the swap lock (retrying in {backoff:?})");
                std::thread::sleep(backoff + jitter.upto(backoff / 2));
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
            Err(e) => return Err(Error::server(table, e)),
        }
    }
}

/// One attempt, in a savepoint so that a timeout leaves the transaction usable.
fn try_swap_lock(
    sp: &mut Transaction<'_>,
    table: &str,
    first: &[String],
    timeout: Duration,
) -> Result<Attempt<()>, postgres::Error> {
    attempt(sp, &SqlState::LOCK_NOT_AVAILABLE, |t| {
        t.batch_execute(&set_local_lock_timeout(timeout))?;
        for sql in first {
            log::debug!("{sql}");
            t.batch_execute(sql)?;
        }
        t.batch_execute(&lock_table(table, LockMode::AccessExclusive))
    })
}

/// Terminates the backends that block our lock request while it waits.
fn force(
    sp: &mut Transaction<'_>,
    table: &str,
    first: &[String],
    config: &postgres::Config,
    policy: &LockPolicy,
) -> Result<()> {
    let pid: i32 = sp
        .query_one("SELECT pg_catalog.pg_backend_pid()", &[])
        .on(table)?
        .get(0);
    let stop = Arc::new(AtomicBool::new(false));
    let (failed_tx, failed_rx) = mpsc::channel::<String>();
    let terminator = {
        let (stop, config, table) = (stop.clone(), config.clone(), table.to_owned());
        std::thread::Builder::new()
            .name("pg-bulk-ingest-terminator".into())
            .spawn(move || {
                if let Err(message) = terminate_blockers(&config, pid, &table, &stop) {
                    let _ = failed_tx.send(message);
                }
            })
            .expect("spawn the terminator thread")
    };
    // The blockers are terminated while this keeps asking for the lock, each
    // attempt no longer than the lock timeout (so that readers never queue
    // behind a request for longer), until it is granted, the terminator
    // fails, or FORCE_WAIT has passed.
    let started = Instant::now();
    let result = loop {
        match try_swap_lock(sp, table, first, policy.attempt_timeout) {
            Ok(Ok(())) => break Ok(()),
            Ok(Err(_)) => {
                let failed = failed_rx.try_recv().ok();
                if failed.is_none() && started.elapsed() < FORCE_WAIT {
                    // Readers that queued behind the attempt get through, and
                    // the terminator gets to see the next one.
                    std::thread::sleep(FORCE_PAUSE);
                    continue;
                }
                break Err(failed.unwrap_or_else(|| {
                    format!(
                        "the blocking sessions were still there after {FORCE_WAIT:?} of \
                         terminating them"
                    )
                }));
            }
            Err(source) => {
                stop.store(true, Ordering::Relaxed);
                let _ = terminator.join();
                return Err(Error::server(table, source));
            }
        }
    };
    stop.store(true, Ordering::Relaxed);
    let _ = terminator.join();
    result.map_err(|reason| Error::SwapTimeout {
        table: table.to_owned(),
        waited: policy.deadline + started.elapsed(),
        reason: failed_rx.try_recv().unwrap_or(reason),
    })
}

/// Side connection: every 100 ms, terminate whatever blocks backend `pid`.
fn terminate_blockers(
    config: &postgres::Config,
    pid: i32,
    table: &str,
    stop: &AtomicBool,
) -> Result<(), String> {
    let mut client = config
        .connect(postgres::NoTls)
        .map_err(|e| format!("the force_connection could not connect: {}", describe(&e)))?;
    while !stop.load(Ordering::Relaxed) {
        let blockers = client
            .query(
                "SELECT a.pid, a.usename::text, \
                        EXTRACT(EPOCH FROM now() - a.query_start)::float8, \
                        left(a.query, 200) \
                 FROM pg_catalog.pg_stat_activity a \
                 WHERE a.pid = ANY (pg_catalog.pg_blocking_pids($1))",
                &[&pid],
            )
            .map_err(|e| format!("could not list the blocking sessions: {}", describe(&e)))?;
        for row in blockers {
            let (blocker, user, age, query): (i32, Option<String>, Option<f64>, Option<String>) =
                (row.get(0), row.get(1), row.get(2), row.get(3));
            log::warn!(
                "{table}: terminating backend {blocker} (user {}, query running for {:.1} s: {:?}) \
                 that blocks the swap",
                user.as_deref().unwrap_or("?"),
                age.unwrap_or(0.0),
                query.unwrap_or_default()
            );
            let terminated: bool = client
                .query_one("SELECT pg_catalog.pg_terminate_backend($1)", &[&blocker])
                .map_err(|e| format!("could not terminate backend {blocker}: {}", describe(&e)))?
                .get(0);
            if !terminated {
                // `false`: the pid is no longer a backend (it ended between
                // the listing and the termination); a refusal is an error.
                log::debug!("{table}: backend {blocker} was gone before it was terminated");
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// A small xorshift generator for back-off jitter (no dependency needed).
struct Jitter(u64);

impl Jitter {
    fn new() -> Jitter {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let seed = u64::from(now.subsec_nanos()) ^ u64::from(std::process::id()) << 32;
        Jitter(seed | 1)
    }

    fn upto(&mut self, max: Duration) -> Duration {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        let max = max.as_micros().max(1) as u64;
        Duration::from_micros(self.0 % max)
    }
}
