//! Readers on other connections during a 1,000,000-row `upsert` that merges
//! and a 1,000,000-row `insert` into a table that holds rows: they are never
//! blocked, they see the old contents until the caller commits, and the new
//! ones after. During a 1,000,000-row `replace`, a rebuild for a migration and
//! an `upsert` that rebuilds (the default for a batch this large against the
//! table), they wait only for the swap at the end: about the lock timeout plus
//! the swap itself.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use pg_bulk_ingest::BulkTable;

#[derive(BulkTable)]
#[bulk(table = "reading")]
struct Reading {
    #[bulk(primary_key)]
    id: i64,
    v: i64,
    label: String,
}

const LABELS: [&str; 4] = ["north", "south", "east", "west"];

fn reading(id: i64, v: i64) -> Reading {
    Reading {
        id,
        v,
        label: LABELS[(id % 4) as usize].to_owned(),
    }
}

/// The OID of `public.reading`: a swap changes it.
fn reading_oid(tx: &mut postgres::Transaction<'_>) -> u32 {
    tx.query_one("SELECT 'public.reading'::regclass::oid", &[])
        .unwrap()
        .get(0)
}

/// Rows in the table before the call.
const SEEDED: i64 = 200_000;
/// Rows of the call.
const ROWS: i64 = 1_000_000;

/// The two 1M-row tests run one after the other: on a small machine two of
/// them side by side would measure each other.
static SERIAL: Mutex<()> = Mutex::new(());

// Phases of the writer, as the reader sees them.
const BASELINE: u8 = 0;
const CALL_RUNNING: u8 = 1;
const CALL_RETURNED: u8 = 2;
const COMMITTING: u8 = 3;
const COMMITTED: u8 = 4;

#[derive(Debug, Clone, Copy)]
struct Observation {
    /// Writer phase when the probe started and when the count ended.
    phase_before: u8,
    phase_after: u8,
    /// `SELECT 1 FROM t LIMIT 1`: waits for the same lock any reader takes,
    /// but does no work that grows with the table.
    probe: Duration,
    /// `SELECT count(*) FROM t`, and how long it took.
    count: i64,
    count_time: Duration,
}

struct Reader {
    phase: Arc<AtomicU8>,
    stop: Arc<AtomicBool>,
    done: Arc<AtomicUsize>,
    handle: Option<thread::JoinHandle<Vec<Observation>>>,
}

fn start_reader(config: postgres::Config) -> Reader {
    let phase = Arc::new(AtomicU8::new(BASELINE));
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let handle = {
        let (phase, stop, done) = (phase.clone(), stop.clone(), done.clone());
        thread::spawn(move || {
            let mut client = config.connect(postgres::NoTls).unwrap();
            // A safety net only: a blocked reader is measured, not cut short
            // (the writer never waits for the reader, so it ends at the commit).
            client
                .batch_execute("SET statement_timeout = '60s'")
                .unwrap();
            let probe = client
                .prepare("SELECT 1 FROM public.reading LIMIT 1")
                .unwrap();
            let count = client
                .prepare("SELECT count(*) FROM public.reading")
                .unwrap();
            let mut seen = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                let phase_before = phase.load(Ordering::SeqCst);
                let t0 = Instant::now();
                client.query_one(&probe, &[]).unwrap();
                let t1 = Instant::now();
                let n: i64 = client.query_one(&count, &[]).unwrap().get(0);
                let t2 = Instant::now();
                seen.push(Observation {
                    phase_before,
                    phase_after: phase.load(Ordering::SeqCst),
                    probe: t1 - t0,
                    count: n,
                    count_time: t2 - t1,
                });
                done.fetch_add(1, Ordering::SeqCst);
            }
            seen
        })
    };
    Reader {
        phase,
        stop,
        done,
        handle: Some(handle),
    }
}

impl Reader {
    fn set(&self, phase: u8) {
        self.phase.store(phase, Ordering::SeqCst);
    }

    /// Waits until the reader has made `n` more observations, at most `limit`.
    fn wait_for(&self, n: usize, limit: Duration) {
        let target = self.done.load(Ordering::SeqCst) + n;
        let deadline = Instant::now() + limit;
        while self.done.load(Ordering::SeqCst) < target {
            assert!(
                Instant::now() < deadline,
                "the reader made no progress in {limit:?}: it is blocked"
            );
            thread::sleep(Duration::from_millis(2));
        }
    }

    fn finish(mut self) -> Vec<Observation> {
        self.stop.store(true, Ordering::SeqCst);
        let handle = self.handle.take().expect("finished once");
        handle.join().expect("the reader thread panicked")
    }
}

impl Drop for Reader {
    /// Also when a test fails: the reader ends after its current query.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn max_of(obs: &[Observation], f: impl Fn(&Observation) -> Duration) -> Duration {
    obs.iter().map(f).max().unwrap_or_default()
}

/// Seeds `SEEDED` rows (`v = -id - 1`), runs `call` while a reader loops, and
/// checks what the reader saw.
fn run_with_reader(
    prefix: &str,
    new_count: i64,
    call: impl FnOnce(&mut postgres::Transaction<'_>) -> pg_bulk_ingest::Report,
) {
    run_with_reader_and_swap(prefix, new_count, None, call)
}

/// As [`run_with_reader`]; with `swap_lock_timeout`, the call ends with a swap
/// whose lock is held until the commit, which follows at once: reads may wait
/// for the lock attempts and the swap, and no longer.
fn run_with_reader_and_swap(
    prefix: &str,
    new_count: i64,
    swap_lock_timeout: Option<Duration>,
    call: impl FnOnce(&mut postgres::Transaction<'_>) -> pg_bulk_ingest::Report,
) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let started = Instant::now();
    let db = pg_bulk_ingest_testkit::server().create_database(prefix);
    let mut client = db.connect();
    let mut tx = client.transaction().unwrap();
    pg_bulk_ingest::insert(&mut tx, (0..SEEDED).map(|id| reading(id, -id - 1))).unwrap();
    tx.commit().unwrap();
    client
        .batch_execute("VACUUM ANALYZE public.reading")
        .unwrap();

    let reader = start_reader(db.config().clone());
    reader.wait_for(20, Duration::from_secs(20));

    reader.set(CALL_RUNNING);
    let call_started = Instant::now();
    let mut tx = client.transaction().unwrap();
    let report = call(&mut tx);
    let call_time = call_started.elapsed();
    reader.set(CALL_RETURNED);
    assert_eq!(report.rows, ROWS as u64);
    // The caller sees its rows before the commit.
    let own: i64 = tx
        .query_one("SELECT count(*) FROM public.reading", &[])
        .unwrap()
        .get(0);
    assert_eq!(own, new_count);
    let committed_after_swap = Instant::now();
    if swap_lock_timeout.is_none() {
        reader.wait_for(2, Duration::from_secs(5));
    }

    reader.set(COMMITTING);
    tx.commit().unwrap();
    let swap_held = committed_after_swap.elapsed();
    reader.set(COMMITTED);
    reader.wait_for(3, Duration::from_secs(5));
    let seen = reader.finish();

    let phase = |p: u8| -> Vec<Observation> {
        seen.iter()
            .filter(|o| o.phase_before == p && o.phase_after == p)
            .copied()
            .collect()
    };
    let baseline = phase(BASELINE);
    let during: Vec<Observation> = seen
        .iter()
        .filter(|o| {
            (CALL_RUNNING..=CALL_RETURNED).contains(&o.phase_before)
                || (CALL_RUNNING..=CALL_RETURNED).contains(&o.phase_after)
        })
        .copied()
        .collect();
    let after = phase(COMMITTED);
    let summary = format!(
        "call {call_time:?}; observations: {} baseline, {} during, {} after; \
         probe max: baseline {:?}, during {:?}; count max: baseline {:?}, during {:?}",
        baseline.len(),
        during.len(),
        after.len(),
        max_of(&baseline, |o| o.probe),
        max_of(&during, |o| o.probe),
        max_of(&baseline, |o| o.count_time),
        max_of(&during, |o| o.count_time),
    );
    eprintln!("{prefix}: {summary}");

    // The reader ran while the call did, several times.
    assert!(
        phase(CALL_RUNNING).len() >= 5,
        "too few reads during the call: {summary}"
    );
    // Never blocked: the probe takes the same lock as any reader; it is never
    // slower than its own worst idle time plus 100 ms, plus, for a swap, one
    // lock attempt and the time the swap's lock is held before the commit.
    let swap_wait = swap_lock_timeout.map_or(Duration::ZERO, |t| t + swap_held);
    let limit = max_of(&baseline, |o| o.probe) + Duration::from_millis(100) + swap_wait;
    for o in &during {
        assert!(
            o.probe < limit,
            "a read waited {:?} (limit {limit:?}): {summary}",
            o.probe
        );
    }
    // The old contents until the commit ...
    for o in seen.iter().filter(|o| o.phase_after <= CALL_RETURNED) {
        assert_eq!(o.count, SEEDED, "{o:?}");
    }
    // ... one or the other while it commits, the new ones after.
    for o in seen.iter().filter(|o| o.phase_after >= COMMITTING) {
        assert!(o.count == SEEDED || o.count == new_count, "{o:?}");
    }
    assert!(after.len() >= 2, "{summary}");
    for o in &after {
        assert_eq!(o.count, new_count, "{o:?}");
    }
    eprintln!("{prefix}: total {:?}", started.elapsed());
}

#[test]
fn readers_are_not_blocked_by_a_million_row_upsert() {
    // Ids SEEDED/2 .. SEEDED/2 + ROWS: the first 100,000 exist and change
    // (`v = 2 * id`), the other 900,000 are new.
    let first = SEEDED / 2;
    let new_count = first + ROWS;
    let db_check = std::cell::RefCell::new(None);
    run_with_reader("readers_upsert", new_count, |tx| {
        let report = pg_bulk_ingest::Ingest::new()
            .upsert_strategy(pg_bulk_ingest::UpsertStrategy::Merge)
            .upsert(tx, (first..first + ROWS).map(|id| reading(id, 2 * id)))
            .unwrap();
        assert!(!report.tables[0].created);
        assert_eq!(report.tables[0].written, ROWS as u64);
        let row = tx
            .query_one(
                "SELECT count(*) FILTER (WHERE v = 2 * id), count(*) FILTER (WHERE v = -id - 1)
                 FROM public.reading",
                &[],
            )
            .unwrap();
        *db_check.borrow_mut() = Some((row.get::<_, i64>(0), row.get::<_, i64>(1)));
        report
    });
    assert_eq!(db_check.into_inner(), Some((ROWS, first)));
}

#[test]
fn readers_wait_only_for_the_swap_of_a_million_row_upsert_by_rebuild() {
    // The same batch as the merge's; 1,000,000 rows against a table of
    // 200,000: `Auto` rebuilds.
    let first = SEEDED / 2;
    let new_count = first + ROWS;
    let timeout = Duration::from_millis(200);
    let db_check = std::cell::RefCell::new(None);
    run_with_reader_and_swap("readers_upsert_rebuild", new_count, Some(timeout), |tx| {
        let before = reading_oid(tx);
        let report = pg_bulk_ingest::Ingest::new()
            .lock_timeout(timeout)
            .upsert(tx, (first..first + ROWS).map(|id| reading(id, 2 * id)))
            .unwrap();
        assert_ne!(reading_oid(tx), before, "rebuilt");
        assert_eq!(report.tables[0].written, ROWS as u64);
        let row = tx
            .query_one(
                "SELECT count(*) FILTER (WHERE v = 2 * id), count(*) FILTER (WHERE v = -id - 1)
                 FROM public.reading",
                &[],
            )
            .unwrap();
        *db_check.borrow_mut() = Some((row.get::<_, i64>(0), row.get::<_, i64>(1)));
        report
    });
    assert_eq!(db_check.into_inner(), Some((ROWS, first)));
}

#[test]
fn readers_are_not_blocked_by_a_million_row_insert() {
    run_with_reader("readers_insert", SEEDED + ROWS, |tx| {
        let report =
            pg_bulk_ingest::insert(tx, (SEEDED..SEEDED + ROWS).map(|id| reading(id, id))).unwrap();
        assert!(!report.tables[0].created);
        assert_eq!(report.tables[0].written, ROWS as u64);
        report
    });
}

#[test]
fn readers_wait_only_for_the_swap_of_a_million_row_replace() {
    let timeout = Duration::from_millis(200);
    run_with_reader_and_swap("readers_replace", ROWS, Some(timeout), |tx| {
        let before = reading_oid(tx);
        let report = pg_bulk_ingest::Ingest::new()
            .lock_timeout(timeout)
            .replace(tx, (0..ROWS).map(|id| reading(id, id)))
            .unwrap();
        assert!(!report.tables[0].created);
        assert_ne!(reading_oid(tx), before, "a new table");
        report
    });
}

#[test]
fn readers_wait_only_for_the_swap_of_a_million_row_rebuild() {
    /// `Reading` with one more column: the table is rebuilt.
    #[derive(BulkTable)]
    #[bulk(table = "reading")]
    struct Wider {
        #[bulk(primary_key)]
        id: i64,
        v: i64,
        label: String,
        extra: Option<i64>,
    }
    let timeout = Duration::from_millis(200);
    run_with_reader_and_swap("readers_rebuild", SEEDED + ROWS, Some(timeout), |tx| {
        let rows = (SEEDED..SEEDED + ROWS).map(|id| Wider {
            id,
            v: id,
            label: "new".to_owned(),
            extra: Some(id),
        });
        let before = reading_oid(tx);
        let report = pg_bulk_ingest::Ingest::new()
            .lock_timeout(timeout)
            .insert(tx, rows)
            .unwrap();
        assert!(!report.tables[0].created);
        assert_ne!(reading_oid(tx), before, "rebuilt");
        report
    });
}

/// What a reader sees whose `REPEATABLE READ` snapshot was taken (by reading
/// another table) before a call committed, and who reads the call's table
/// only afterwards. A merge: the rows of its snapshot. A created or replaced
/// table: all of it (its rows are written frozen). A rebuilt table
/// (migration, or upsert by rebuild): none of it, as after PostgreSQL's own
/// table rewrites. Never a mix of old and new.
#[test]
fn older_snapshots_see_all_or_none_of_a_new_table() {
    use pg_bulk_ingest::plan::Path;
    use pg_bulk_ingest::{Ingest, UpsertStrategy};

    /// `reading` with one more column: a rebuild.
    #[derive(BulkTable)]
    #[bulk(table = "reading")]
    struct Wider {
        #[bulk(primary_key)]
        id: i64,
        v: i64,
        label: String,
        extra: Option<i64>,
    }

    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    for case in ["merge", "replace", "rebuild", "upsert by rebuild"] {
        let db = pg_bulk_ingest_testkit::server().create_database("readers_snapshot");
        let mut client = db.connect();
        client.batch_execute("CREATE TABLE other (x int)").unwrap();
        let mut tx = client.transaction().unwrap();
        pg_bulk_ingest::insert(&mut tx, (0..10_000).map(|i| reading(i, 0))).unwrap();
        tx.commit().unwrap();

        let mut reader = db.connect();
        reader
            .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM other")
            .unwrap();

        // 1,000 rows: 500 of the stored keys, 500 new.
        let batch = || (9_500..10_500).map(|i| reading(i, 1));
        let mut tx = client.transaction().unwrap();
        let report = match case {
            "merge" => Ingest::new()
                .upsert_strategy(UpsertStrategy::Merge)
                .upsert(&mut tx, batch()),
            "replace" => pg_bulk_ingest::replace(&mut tx, batch()),
            "rebuild" => pg_bulk_ingest::insert(
                &mut tx,
                (10_000..11_000).map(|id| Wider {
                    id,
                    v: 1,
                    label: "x".into(),
                    extra: None,
                }),
            ),
            _ => Ingest::new()
                .upsert_strategy(UpsertStrategy::Rebuild)
                .upsert(&mut tx, batch()),
        }
        .unwrap();
        tx.commit().unwrap();
        let path = report.tables[0].plan.path();

        let seen: i64 = reader
            .query_one("SELECT count(*) FROM public.reading", &[])
            .unwrap()
            .get(0);
        reader.batch_execute("COMMIT").unwrap();
        let now: i64 = client
            .query_one("SELECT count(*) FROM public.reading", &[])
            .unwrap()
            .get(0);
        match case {
            "merge" => {
                assert_eq!(path, Path::Nothing);
                assert_eq!((seen, now), (10_000, 10_500), "{case}: its snapshot's rows");
            }
            "replace" => {
                assert_eq!(path, Path::Replace);
                assert_eq!((seen, now), (1_000, 1_000), "{case}: all of the new table");
            }
            "rebuild" => {
                assert_eq!(path, Path::Rebuild);
                assert_eq!((seen, now), (0, 11_000), "{case}: none of the new table");
            }
            _ => {
                assert_eq!(path, Path::UpsertByRebuild);
                assert_eq!((seen, now), (0, 10_500), "{case}: none of the new table");
            }
        }
    }
}
