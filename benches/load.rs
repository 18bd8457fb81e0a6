//! Loads the `items` shape (see `benches/common/mod.rs`) with pg-bulk-ingest
//! and with hand-written baselines, in one run, into a throw-away PostgreSQL
//! server with its default, durable settings (`fsync=on`,
//! `synchronous_commit=on`, `full_page_writes=on`), and reports rows/s, client
//! CPU, server backend CPU, WAL written and peak RSS per contender.
//!
//! ```text
//! cargo bench --bench load                 # 100k, 1M (median of 3) and 5M rows (once)
//! cargo bench --bench load -- --rounds 3   # the same, 5M rows also 3 times (BENCHMARKS.md)
//! cargo bench --bench load -- --quick      # 100k rows, 1 round: a smoke run
//! cargo bench --bench load -- --sizes 100000,1000000 --rounds 5 --contenders insert-lib,insert-copy
//! ```
//!
//! The parent process starts the server (`DATABASE_URL` instead, when set),
//! prepares each contender's starting state, runs `CHECKPOINT`, then re-runs
//! this binary as a child (`load-child <contender> <rows>`) that connects,
//! loads and commits. Each child generates its rows lazily from an iterator,
//! so its peak RSS (`VmHWM`) is the loader's, not the input's. Prefills are
//! not timed. The contender order alternates between rounds.
//!
//! Writes the Markdown report (also printed) and a CSV of every run under
//! `target/bench-load/`, and the SVG chart to `BENCHMARKS.svg` (quick mode:
//! `target/bench-load/quick.svg`). `--replot target/bench-load/runs.csv`
//! draws the chart again from a run's CSV; `--explain` logs every statement's
//! duration and plan into the server's log, copied to `target/bench-load/`.

mod common;

use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::{BufMut, BytesMut};
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::IsNull;
use postgres::{Client, NoTls, Transaction};

use common::{items, Item, COLUMNS, CREATE_TABLE, TYPES};

/// Environment variable through which children get the connection settings.
const CONN_ENV: &str = "PG_BULK_INGEST_BENCH_CONN";
/// Set (by `--explain`) to make children log every statement with its
/// duration and the plans of DML with `auto_explain` (`ANALYZE`, buffers)
/// into the server's log, which the parent copies to `target/bench-load/`.
const EXPLAIN_ENV: &str = "PG_BULK_INGEST_BENCH_EXPLAIN";
/// Bytes encoded before a write to the COPY, for the hand-written ToSql loop
/// (the same as the library's chunk).
const CHUNK: usize = 256 * 1024;
const TABLE: &str = "\"public\".\"items\"";

// ---------------------------------------------------------------------------
// Contenders

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Contender {
    /// `pg_bulk_ingest::insert` into an existing empty table with its key.
    InsertLib,
    /// `BinaryCopyInWriter` into the same.
    InsertCopy,
    /// `insert` with `Duplicates::KeepLast` into the same: staged, one row of
    /// each key.
    InsertKeepLast,
    /// `ToSql` into one buffer, written to the COPY in 256 KiB pieces.
    InsertToSql,
    /// `pg_bulk_ingest::insert` when the table does not exist.
    CreateLib,
    /// `pg_bulk_ingest::replace` of a table holding N rows.
    ReplaceLib,
    /// `TRUNCATE` + `BinaryCopyInWriter` of the same.
    ReplaceCopy,
    /// `pg_bulk_ingest::upsert` of N rows into N: half updates, half new
    /// (the default strategy, which rebuilds for a batch this large).
    UpsertLib,
    /// The same with `UpsertStrategy::Merge`: staging table + `ON CONFLICT`.
    UpsertMerge,
    /// temp table + `BinaryCopyInWriter` + `INSERT ... ON CONFLICT`, same rows.
    UpsertCopy,
    /// The upsert's choices, each `UpsertStrategy::Merge` of a batch of N/10
    /// rows into N (see [`input`]). Default choices (`OnConflict::Update`,
    /// `Duplicates::KeepLast`), half updates and half new: the base the
    /// others are measured against.
    ModeUpdate,
    /// `OnConflict::Skip`, the same batch.
    ModeSkip,
    /// `Duplicates::KeepFirst`, the same batch.
    ModeKeepFirst,
    /// `Duplicates::AssumeUnique`, the same batch.
    ModeAssumeUnique,
    /// The same batch with its first 1 % of rows again at the end (keys
    /// repeat): the default runs the merge a second time, de-duplicated.
    ModeRepeated,
    /// The default choices, a batch of only new keys.
    ModeUpdateNew,
    /// `OnConflict::Error`, the same batch of only new keys (a stored key
    /// would fail it).
    ModeError,
    /// Incremental loads (issue 14), each a batch of N/10 rows into N merged
    /// by `pg_bulk_ingest::upsert` (it merges: the batch is small against
    /// the table), against the hand-written staging merge of the same rows.
    /// 90 % of the rows equal the stored ones, 5 % change, 5 % are new.
    IncrLib,
    IncrCopy,
    /// The same batch again, once it is stored: every row unchanged.
    RerunLib,
    RerunCopy,
    /// Half updates, half new, keys in random order.
    ShuffledLib,
    ShuffledCopy,
    /// The hand-written merge of `mode-update`'s batch (half updates, half
    /// new, in key order).
    ChangedCopy,
    /// 50 calls of 1,000 rows each, every row unchanged: the fixed cost of
    /// a call.
    SmallLib,
    SmallCopy,
    /// Only makes the rows (no database): the client CPU every contender
    /// spends on its input.
    Generate,
}

use Contender::*;

impl Contender {
    const LOADS: [Contender; 26] = [
        InsertLib,
        InsertCopy,
        InsertKeepLast,
        InsertToSql,
        CreateLib,
        ReplaceLib,
        ReplaceCopy,
        UpsertLib,
        UpsertMerge,
        UpsertCopy,
        ModeUpdate,
        ModeSkip,
        ModeKeepFirst,
        ModeAssumeUnique,
        ModeRepeated,
        ModeUpdateNew,
        ModeError,
        IncrLib,
        IncrCopy,
        RerunLib,
        RerunCopy,
        ShuffledLib,
        ShuffledCopy,
        ChangedCopy,
        SmallLib,
        SmallCopy,
    ];

    /// The upsert's choices, against their base.
    const MODES: [(Contender, Contender); 7] = [
        (InsertKeepLast, InsertLib),
        (ModeSkip, ModeUpdate),
        (ModeKeepFirst, ModeUpdate),
        (ModeAssumeUnique, ModeUpdate),
        (ModeRepeated, ModeUpdate),
        (ModeError, ModeUpdateNew),
        (ModeUpdateNew, ModeUpdate),
    ];

    fn id(self) -> &'static str {
        match self {
            InsertLib => "insert-lib",
            InsertCopy => "insert-copy",
            InsertKeepLast => "insert-keeplast",
            InsertToSql => "insert-tosql",
            CreateLib => "create-lib",
            ReplaceLib => "replace-lib",
            ReplaceCopy => "replace-copy",
            UpsertLib => "upsert-lib",
            UpsertMerge => "upsert-merge",
            UpsertCopy => "upsert-copy",
            ModeUpdate => "mode-update",
            ModeSkip => "mode-skip",
            ModeKeepFirst => "mode-keepfirst",
            ModeAssumeUnique => "mode-assumeunique",
            ModeRepeated => "mode-repeated",
            ModeUpdateNew => "mode-update-new",
            ModeError => "mode-error",
            IncrLib => "incr-lib",
            IncrCopy => "incr-copy",
            RerunLib => "rerun-lib",
            RerunCopy => "rerun-copy",
            ShuffledLib => "shuffled-lib",
            ShuffledCopy => "shuffled-copy",
            ChangedCopy => "changed-copy",
            SmallLib => "small-lib",
            SmallCopy => "small-copy",
            Generate => "generate",
        }
    }

    fn label(self) -> &'static str {
        match self {
            InsertLib => "pg_bulk_ingest::insert, existing table",
            InsertCopy => "BinaryCopyInWriter, existing table",
            InsertKeepLast => "pg_bulk_ingest::insert, existing table, Duplicates::KeepLast",
            InsertToSql => "ToSql + 256 KiB writes, existing table",
            CreateLib => "pg_bulk_ingest::insert, creates the table",
            ReplaceLib => "pg_bulk_ingest::replace",
            ReplaceCopy => "TRUNCATE + BinaryCopyInWriter",
            UpsertLib => "pg_bulk_ingest::upsert (default: rebuilds)",
            UpsertMerge => "pg_bulk_ingest::upsert, UpsertStrategy::Merge",
            UpsertCopy => "temp table + BinaryCopyInWriter + INSERT … ON CONFLICT",
            ModeUpdate => "upsert N/10 into N, merge, defaults (Update, KeepLast)",
            ModeSkip => "upsert N/10 into N, merge, OnConflict::Skip",
            ModeKeepFirst => "upsert N/10 into N, merge, Duplicates::KeepFirst",
            ModeAssumeUnique => "upsert N/10 into N, merge, Duplicates::AssumeUnique",
            ModeRepeated => "upsert N/10 + 1 % repeated keys into N, merge, defaults",
            ModeUpdateNew => "upsert N/10 new keys into N, merge, defaults",
            ModeError => "upsert N/10 new keys into N, merge, OnConflict::Error",
            IncrLib => "upsert N/10 into N, 90 % unchanged",
            IncrCopy => "hand-written merge, N/10 into N, 90 % unchanged",
            RerunLib => "upsert N/10 into N, every row unchanged",
            RerunCopy => "hand-written merge, N/10 into N, every row unchanged",
            ShuffledLib => "upsert N/10 into N, half new, keys shuffled",
            ShuffledCopy => "hand-written merge, N/10 into N, half new, keys shuffled",
            ChangedCopy => "hand-written merge, N/10 into N, half new (mode-update's batch)",
            SmallLib => "upsert, 50 calls of 1,000 unchanged rows",
            SmallCopy => "hand-written merge, 50 calls of 1,000 unchanged rows",
            Generate => "row generation only (no database)",
        }
    }

    /// One of the upsert's choices (a batch of a tenth of the table).
    fn is_mode(self) -> bool {
        !matches!(self, InsertKeepLast | InsertLib)
            && Contender::MODES
                .iter()
                .any(|&(c, base)| c == self || base == self)
    }

    /// The rows it loads for a table of `n`.
    fn batch(self, n: i64) -> i64 {
        match self {
            ModeRepeated => n / 10 + n / 100,
            IncrLib | IncrCopy | RerunLib | RerunCopy | ShuffledLib | ShuffledCopy
            | ChangedCopy => n / 10,
            SmallLib | SmallCopy => SMALL_CALLS * SMALL_ROWS,
            _ if self.is_mode() => n / 10,
            _ => n,
        }
    }

    fn from_id(id: &str) -> Option<Contender> {
        Contender::LOADS
            .into_iter()
            .chain([Generate])
            .find(|c| c.id() == id)
    }

    fn is_library(self) -> bool {
        !matches!(
            self,
            InsertCopy | InsertToSql | ReplaceCopy | UpsertCopy | Generate
        )
    }

    /// What the table holds before the timed load.
    fn start(self) -> Start {
        match self {
            InsertLib | InsertCopy | InsertToSql | InsertKeepLast => Start::Empty,
            CreateLib => Start::Absent,
            ReplaceLib | ReplaceCopy | UpsertLib | UpsertMerge | UpsertCopy => Start::Filled,
            ModeUpdate | ModeSkip | ModeKeepFirst | ModeAssumeUnique | ModeRepeated
            | ModeUpdateNew | ModeError => Start::Filled,
            IncrLib | IncrCopy | ShuffledLib | ShuffledCopy | ChangedCopy | SmallLib
            | SmallCopy => Start::Filled,
            RerunLib | RerunCopy => Start::FilledWithBatch,
            Generate => Start::NoDatabase,
        }
    }

    /// (rows, rows of version 1, primary keys) the table must hold after
    /// loading `n` rows.
    fn expected(self, n: i64) -> (i64, i64, i64) {
        match self.start() {
            Start::Empty | Start::Absent => (n, 0, 1),
            Start::Filled if matches!(self, UpsertLib | UpsertMerge | UpsertCopy) => {
                (n + n / 2, n, 1)
            }
            Start::Filled if matches!(self, ModeUpdateNew | ModeError) => (n + n / 10, n / 10, 1),
            Start::Filled if matches!(self, IncrLib | IncrCopy) => (n + n / 200, n / 100, 1),
            Start::FilledWithBatch => (n + n / 200, n / 100, 1),
            Start::Filled if matches!(self, SmallLib | SmallCopy) => (n, 0, 1),
            Start::Filled if matches!(self, ShuffledLib | ShuffledCopy | ChangedCopy) => {
                (n + n / 20, n / 10, 1)
            }
            // Skip keeps the stored half of the batch's keys as they are.
            Start::Filled if self == ModeSkip => (n + n / 20, n / 20, 1),
            Start::Filled if self.is_mode() => (n + n / 20, n / 10, 1),
            Start::Filled => (n, n, 1),
            Start::NoDatabase => (0, 0, 0),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Start {
    /// An empty table with its key.
    Empty,
    /// No table.
    Absent,
    /// A table with its key holding rows 0..N of version 0, vacuumed and
    /// analyzed.
    Filled,
    /// The same, with the incremental batch ([`incremental`]) merged into it
    /// (then vacuumed and analyzed again).
    FilledWithBatch,
    /// The child does not connect.
    NoDatabase,
}

/// The rows a contender loads: version 0 of ids 0..N for inserts; version 1
/// of ids 0..N for replace (every row changes); version 1 of ids N/2..3N/2
/// for upsert into 0..N (half updates of existing keys, half new keys); for
/// the upsert's choices, version 1 of ids N−N/20..N+N/20 (half updates, half
/// new; the first N/100 again for repeated keys), or of N..N+N/10 (new keys).
fn input(contender: Contender, n: i64) -> Box<dyn Iterator<Item = Item>> {
    match contender {
        UpsertLib | UpsertMerge | UpsertCopy => Box::new(items(n / 2..n / 2 + n, 1)),
        ReplaceLib | ReplaceCopy => Box::new(items(0..n, 1)),
        ModeUpdateNew | ModeError => Box::new(items(n..n + n / 10, 1)),
        IncrLib | IncrCopy | RerunLib | RerunCopy => Box::new(incremental(n)),
        ShuffledLib | ShuffledCopy => {
            // A permutation of the batch (7919 is prime to any N/10 of the
            // benchmark's sizes: 10^k).
            let m = n / 10;
            let base = n - n / 20;
            Box::new((0..m).map(move |i| common::item(base + (i * 7919) % m, 1)))
        }
        ChangedCopy => Box::new(items(n - n / 20..n + n / 20, 1)),
        SmallLib | SmallCopy => Box::new(items(0..SMALL_ROWS, 0)),
        ModeRepeated => Box::new(
            items(n - n / 20..n + n / 20, 1).chain(items(n - n / 20..n - n / 20 + n / 100, 1)),
        ),
        _ if contender.is_mode() => Box::new(items(n - n / 20..n + n / 20, 1)),
        _ => Box::new(items(0..n, 0)),
    }
}

/// Calls of `small-*`, and rows of each.
const SMALL_CALLS: i64 = 50;
const SMALL_ROWS: i64 = 1_000;

/// The incremental batch of N/10 rows for a table of N: 90 % of it equal to
/// stored rows (ids 0..0.09N, version 0), 5 % changed (0.09N..0.095N, version
/// 1), 5 % new (N..1.005N), in key order.
fn incremental(n: i64) -> impl Iterator<Item = Item> {
    items(0..n * 9 / 100, 0)
        .chain(items(n * 9 / 100..n * 95 / 1000, 1))
        .chain(items(n..n + n * 5 / 1000, 1))
}

/// The hand-written staging merge: a temporary table, `BinaryCopyInWriter`,
/// `INSERT ... SELECT ... ON CONFLICT (id) DO UPDATE` of every column.
fn hand_merge(tx: &mut Transaction<'_>, rows: impl Iterator<Item = Item>) -> u64 {
    tx.batch_execute(&format!(
        "CREATE TEMP TABLE \"items_stage\" (LIKE {TABLE}) ON COMMIT DROP"
    ))
    .expect("CREATE TEMP TABLE");
    let count = binary_copy_in_writer(tx, "pg_temp.\"items_stage\"", rows);
    tx.batch_execute(&format!(
        "INSERT INTO {TABLE} ({COLUMNS}) SELECT {COLUMNS} FROM pg_temp.\"items_stage\" \
         ON CONFLICT (\"id\") DO UPDATE SET \"name\" = EXCLUDED.\"name\", \
         \"amount\" = EXCLUDED.\"amount\", \"created\" = EXCLUDED.\"created\", \
         \"flag\" = EXCLUDED.\"flag\", \"note\" = EXCLUDED.\"note\", \
         \"score\" = EXCLUDED.\"score\""
    ))
    .expect("INSERT ... ON CONFLICT");
    tx.batch_execute("DROP TABLE pg_temp.\"items_stage\"")
        .expect("DROP TABLE");
    count
}

// ---------------------------------------------------------------------------
// The loads (run in the child)

fn load(client: &mut Client, contender: Contender, n: i64) -> u64 {
    if matches!(contender, SmallLib | SmallCopy) {
        let mut count = 0;
        for _ in 0..SMALL_CALLS {
            let mut tx = client.transaction().expect("BEGIN");
            count += match contender {
                SmallLib => {
                    pg_bulk_ingest::upsert(&mut tx, input(contender, n))
                        .expect("upsert")
                        .rows
                }
                _ => hand_merge(&mut tx, input(contender, n)),
            };
            tx.commit().expect("COMMIT");
        }
        return count;
    }
    let rows = input(contender, n);
    let mut tx = client.transaction().expect("BEGIN");
    let count = match contender {
        InsertLib | CreateLib => pg_bulk_ingest::insert(&mut tx, rows).expect("insert").rows,
        ReplaceLib => {
            pg_bulk_ingest::replace(&mut tx, rows)
                .expect("replace")
                .rows
        }
        UpsertLib => pg_bulk_ingest::upsert(&mut tx, rows).expect("upsert").rows,
        UpsertMerge => {
            pg_bulk_ingest::Ingest::new()
                .upsert_strategy(pg_bulk_ingest::UpsertStrategy::Merge)
                .upsert(&mut tx, rows)
                .expect("upsert")
                .rows
        }
        ModeUpdate | ModeSkip | ModeKeepFirst | ModeAssumeUnique | ModeRepeated | ModeUpdateNew
        | ModeError => {
            let ingest = pg_bulk_ingest::Ingest::new()
                .upsert_strategy(pg_bulk_ingest::UpsertStrategy::Merge);
            let ingest = match contender {
                ModeSkip => ingest.on_conflict(pg_bulk_ingest::OnConflict::Skip),
                ModeError => ingest.on_conflict(pg_bulk_ingest::OnConflict::Error),
                ModeKeepFirst => ingest.duplicates(pg_bulk_ingest::Duplicates::KeepFirst),
                ModeAssumeUnique => ingest.duplicates(pg_bulk_ingest::Duplicates::AssumeUnique),
                _ => ingest,
            };
            ingest.upsert(&mut tx, rows).expect("upsert").rows
        }
        InsertKeepLast => {
            pg_bulk_ingest::Ingest::new()
                .duplicates(pg_bulk_ingest::Duplicates::KeepLast)
                .insert(&mut tx, rows)
                .expect("insert")
                .rows
        }
        IncrLib | RerunLib | ShuffledLib => {
            pg_bulk_ingest::upsert(&mut tx, rows).expect("upsert").rows
        }
        IncrCopy | RerunCopy | ShuffledCopy | ChangedCopy => hand_merge(&mut tx, rows),
        SmallLib | SmallCopy => unreachable!("50 calls, above"),
        InsertCopy => binary_copy_in_writer(&mut tx, TABLE, rows),
        InsertToSql => tosql_large_writes(&mut tx, TABLE, rows),
        ReplaceCopy => {
            tx.batch_execute(&format!("TRUNCATE {TABLE}"))
                .expect("TRUNCATE");
            binary_copy_in_writer(&mut tx, TABLE, rows)
        }
        UpsertCopy => {
            tx.batch_execute(&format!(
                "CREATE TEMP TABLE \"items_stage\" (LIKE {TABLE}) ON COMMIT DROP"
            ))
            .expect("CREATE TEMP TABLE");
            let count = binary_copy_in_writer(&mut tx, "pg_temp.\"items_stage\"", rows);
            tx.batch_execute(&format!(
                "INSERT INTO {TABLE} ({COLUMNS}) SELECT {COLUMNS} FROM pg_temp.\"items_stage\" \
                 ON CONFLICT (\"id\") DO UPDATE SET \"name\" = EXCLUDED.\"name\", \
                 \"amount\" = EXCLUDED.\"amount\", \"created\" = EXCLUDED.\"created\", \
                 \"flag\" = EXCLUDED.\"flag\", \"note\" = EXCLUDED.\"note\", \
                 \"score\" = EXCLUDED.\"score\""
            ))
            .expect("INSERT ... ON CONFLICT");
            count
        }
        Generate => unreachable!("generation needs no connection"),
    };
    tx.commit().expect("COMMIT");
    count
}

/// The hand-written loop everyone writes first.
fn binary_copy_in_writer(
    tx: &mut Transaction<'_>,
    table: &str,
    rows: impl Iterator<Item = Item>,
) -> u64 {
    let sink = tx
        .copy_in(&format!(
            "COPY {table} ({COLUMNS}) FROM STDIN (FORMAT binary)"
        ))
        .expect("COPY");
    let mut writer = BinaryCopyInWriter::new(sink, &TYPES);
    for item in rows {
        writer
            .write(&item.values())
            .expect("BinaryCopyInWriter::write");
    }
    writer.finish().expect("BinaryCopyInWriter::finish")
}

/// A tuned hand-written loop: the same `ToSql` encoders as
/// `BinaryCopyInWriter` into one buffer, written to the COPY in 256 KiB
/// pieces (no future polled per row, no 4 KiB messages).
fn tosql_large_writes(
    tx: &mut Transaction<'_>,
    table: &str,
    rows: impl Iterator<Item = Item>,
) -> u64 {
    let mut copy = tx
        .copy_in(&format!(
            "COPY {table} ({COLUMNS}) FROM STDIN (FORMAT binary)"
        ))
        .expect("COPY");
    let mut buf = BytesMut::with_capacity(CHUNK + 64 * 1024);
    buf.put_slice(b"PGCOPY\n\xff\r\n\0");
    buf.put_i32(0);
    buf.put_i32(0);
    for item in rows {
        encode_tosql_row(&item, &mut buf);
        if buf.len() >= CHUNK {
            copy.write_all(&buf).expect("write to COPY");
            buf.clear();
        }
    }
    buf.put_i16(-1);
    copy.write_all(&buf).expect("write to COPY");
    copy.finish().expect("COPY finish")
}

/// One row with `ToSql`, framed as `BinaryCopyInWriter` frames it.
#[inline]
fn encode_tosql_row(item: &Item, buf: &mut BytesMut) {
    buf.put_i16(TYPES.len() as i16);
    for (value, ty) in item.values().into_iter().zip(&TYPES) {
        let at = buf.len();
        buf.put_i32(0);
        let len = match value.to_sql_checked(ty, buf).expect("ToSql") {
            IsNull::Yes => -1,
            IsNull::No => (buf.len() - at - 4) as i32,
        };
        buf[at..at + 4].copy_from_slice(&len.to_be_bytes());
    }
}

// ---------------------------------------------------------------------------
// The child

fn child(contender: &str, rows: &str) {
    let contender = Contender::from_id(contender).expect("known contender");
    let n: i64 = rows.parse().expect("row count");
    let mut client = if contender == Generate {
        None
    } else {
        let conn = std::env::var(CONN_ENV).expect("connection settings from the parent");
        let config: postgres::Config = conn.parse().expect("connection settings");
        let mut client = config.connect(NoTls).expect("connect");
        if std::env::var_os(EXPLAIN_ENV).is_some() {
            client
                .batch_execute(
                    "LOAD 'auto_explain'; \
                     SET auto_explain.log_min_duration = 0; \
                     SET auto_explain.log_analyze = on; \
                     SET auto_explain.log_buffers = on; \
                     SET auto_explain.log_nested_statements = on; \
                     SET log_min_duration_statement = 0",
                )
                .expect("auto_explain");
        }
        Some(client)
    };
    let backend = client.as_mut().map(|c| {
        c.query_one("SELECT pg_catalog.pg_backend_pid()", &[])
            .expect("backend pid")
            .get::<_, i32>(0)
    });
    let server_cpu = |pid: Option<i32>| pid.and_then(process_cpu);
    let hwm_before = vm_hwm_kib();

    let server_before = server_cpu(backend);
    let cpu_before = own_cpu();
    let started = Instant::now();
    let count = match client.as_mut() {
        Some(client) => load(client, contender, n),
        None => {
            let mut count = 0;
            for item in input(contender, n) {
                std::hint::black_box(&item);
                count += 1;
            }
            count
        }
    };
    let wall = started.elapsed();
    let (user, sys) = own_cpu();
    let server_after = server_cpu(backend);
    assert_eq!(
        count,
        contender.batch(n) as u64,
        "{} loaded {count} rows of {n}",
        contender.id()
    );

    let server = match (server_before, server_after) {
        (Some(a), Some(b)) => format!("{:.6}", (b - a).as_secs_f64()),
        _ => "na".to_owned(),
    };
    println!(
        "RESULT wall={:.6} user={:.6} sys={:.6} server={server} hwm_before={hwm_before} hwm={}",
        wall.as_secs_f64(),
        (user - cpu_before.0).as_secs_f64(),
        (sys - cpu_before.1).as_secs_f64(),
        vm_hwm_kib(),
    );
}

/// User and system CPU time of this process.
fn own_cpu() -> (Duration, Duration) {
    let usage = rusage(libc::RUSAGE_SELF);
    (timeval(usage.ru_utime), timeval(usage.ru_stime))
}

fn rusage(who: libc::c_int) -> libc::rusage {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::uninit();
    // SAFETY: getrusage fills the struct it is given.
    unsafe {
        assert_eq!(libc::getrusage(who, usage.as_mut_ptr()), 0);
        usage.assume_init()
    }
}

fn timeval(t: libc::timeval) -> Duration {
    Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000)
}

/// `VmHWM` (peak resident set) of this process, in KiB. Not `ru_maxrss` of
/// `wait4`/`RUSAGE_CHILDREN`: Linux counts in it the memory of the process
/// image the child replaced at `exec` (a copy of the parent's), so it is never
/// below the parent's own peak RSS.
fn vm_hwm_kib() -> u64 {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// User + system CPU time of another process (the server backend), from
/// `/proc`; `None` when it can't be read (a server on another machine).
fn process_cpu(pid: i32) -> Option<Duration> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after `)`.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    Some(Duration::from_secs_f64(ticks as f64 / hz as f64))
}

// ---------------------------------------------------------------------------
// The parent

struct Options {
    quick: bool,
    sizes: Vec<i64>,
    rounds: Option<usize>,
    contenders: Vec<Contender>,
    svg: PathBuf,
    out_dir: PathBuf,
    explain: bool,
    /// Draw the chart from a CSV of an earlier run instead of running.
    replot: Option<PathBuf>,
}

impl Options {
    fn parse(args: &[String]) -> Options {
        // The workspace root: BENCHMARKS.svg lives there, and the results go
        // to its target directory (this package is `benches/`).
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("the benches package sits in the workspace");
        let out_dir = root.join("target").join("bench-load");
        let mut o = Options {
            quick: false,
            sizes: vec![100_000, 1_000_000, 5_000_000],
            rounds: None,
            contenders: Contender::LOADS.to_vec(),
            svg: root.join("BENCHMARKS.svg"),
            out_dir,
            explain: false,
            replot: None,
        };
        let mut svg = None;
        let mut sizes = None;
        let mut rest = args.iter();
        while let Some(arg) = rest.next() {
            let mut value = || rest.next().expect("a value after the option").clone();
            match arg.as_str() {
                // `cargo bench` passes `--bench` to every benchmark binary.
                "--bench" => {}
                "--quick" => o.quick = true,
                "--explain" => o.explain = true,
                "--replot" => o.replot = Some(PathBuf::from(value())),
                "--sizes" => {
                    sizes = Some(
                        value()
                            .split(',')
                            .map(|s| s.replace('_', "").parse().expect("--sizes 100000,1000000"))
                            .collect(),
                    )
                }
                "--rounds" => o.rounds = Some(value().parse().expect("--rounds N")),
                "--contenders" => {
                    o.contenders = value()
                        .split(',')
                        .map(|id| {
                            Contender::from_id(id)
                                .filter(|c| *c != Generate)
                                .unwrap_or_else(|| panic!("unknown contender {id}"))
                        })
                        .collect()
                }
                "--svg" => svg = Some(PathBuf::from(value())),
                other => panic!(
                    "unknown argument {other}; use --quick, --sizes A,B, --rounds N, \
                     --contenders a,b, --svg PATH, --explain, --replot CSV"
                ),
            }
        }
        // `cargo test --benches` runs this binary without `--bench`: make that
        // a smoke run rather than a 15-minute benchmark.
        if args.is_empty() {
            eprintln!("no --bench argument (cargo test?): running the quick mode");
            o.quick = true;
        }
        if o.quick {
            o.sizes = vec![100_000];
            o.rounds = Some(1);
            o.svg = o.out_dir.join("quick.svg");
        }
        if let Some(sizes) = sizes {
            o.sizes = sizes;
        }
        if let Some(svg) = svg {
            o.svg = svg;
        }
        o
    }

    /// 3 rounds (medians) up to 1M rows, 1 above, unless `--rounds`.
    fn rounds(&self, size: i64) -> usize {
        self.rounds.unwrap_or(if size > 1_000_000 { 1 } else { 3 })
    }
}

/// One child run.
#[derive(Clone, Debug)]
struct Run {
    contender: Contender,
    rows: i64,
    round: usize,
    wall: f64,
    user: f64,
    sys: f64,
    server: Option<f64>,
    wal_bytes: Option<u64>,
    /// Peak RSS of the child (`VmHWM` after the load), KiB.
    max_rss_kib: u64,
    /// Peak RSS after connecting, before loading, KiB.
    rss_before_kib: u64,
}

impl Run {
    fn cpu(&self) -> f64 {
        self.user + self.sys
    }
}

fn conn_string(config: &postgres::Config) -> String {
    let quote = |v: &str| format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"));
    let mut s = String::new();
    if let Some(host) = config.get_hosts().first() {
        let host = match host {
            postgres::config::Host::Tcp(h) => h.clone(),
            postgres::config::Host::Unix(p) => p.display().to_string(),
        };
        write!(s, "host={} ", quote(&host)).unwrap();
    }
    if let Some(port) = config.get_ports().first() {
        write!(s, "port={port} ").unwrap();
    }
    if let Some(user) = config.get_user() {
        write!(s, "user={} ", quote(user)).unwrap();
    }
    if let Some(db) = config.get_dbname() {
        write!(s, "dbname={} ", quote(db)).unwrap();
    }
    if let Some(password) = config.get_password() {
        write!(s, "password={} ", quote(&String::from_utf8_lossy(password))).unwrap();
    }
    s.push_str("application_name='pg-bulk-ingest-bench'");
    s
}

fn run_child(
    explain: bool,
    conn: &str,
    contender: Contender,
    rows: i64,
) -> (f64, f64, f64, Option<f64>, u64, u64) {
    let exe = std::env::current_exe().expect("own path");
    let output = Command::new(exe)
        .args(["load-child", contender.id(), &rows.to_string()])
        .env(CONN_ENV, conn)
        .env(
            if explain {
                EXPLAIN_ENV
            } else {
                "PG_BULK_INGEST_BENCH_UNUSED"
            },
            "1",
        )
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .expect("run the child");
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{} with {rows} rows failed ({}):\n{out}",
        contender.id(),
        output.status
    );
    let line = out
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .unwrap_or_else(|| panic!("no RESULT line from the child:\n{out}"));
    let field = |name: &str| -> &str {
        line.split(' ')
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
            .unwrap_or_else(|| panic!("no {name} in {line}"))
    };
    let num = |name: &str| -> f64 { field(name).parse().expect("a number") };
    (
        num("wall"),
        num("user"),
        num("sys"),
        field("server").parse().ok(),
        num("hwm") as u64,
        num("hwm_before") as u64,
    )
}

/// Brings the database to the contender's starting state (untimed).
fn prepare(client: &mut Client, contender: Contender, n: i64) {
    drop_tables(client);
    match contender.start() {
        Start::Absent | Start::NoDatabase => {}
        Start::Empty => client.batch_execute(CREATE_TABLE).expect("CREATE TABLE"),
        Start::Filled | Start::FilledWithBatch => {
            client.batch_execute(CREATE_TABLE).expect("CREATE TABLE");
            let mut tx = client.transaction().expect("BEGIN");
            tosql_large_writes(&mut tx, TABLE, items(0..n, 0));
            if contender.start() == Start::FilledWithBatch {
                hand_merge(&mut tx, incremental(n));
            }
            tx.commit().expect("COMMIT");
            client
                .batch_execute(&format!("VACUUM (ANALYZE) {TABLE}"))
                .expect("VACUUM");
        }
    }
    if contender != Generate {
        client.batch_execute("CHECKPOINT").expect("CHECKPOINT");
    }
}

fn drop_tables(client: &mut Client) {
    client
        .batch_execute("DROP TABLE IF EXISTS \"public\".\"items\", \"public\".\"items_pgbi_new\"")
        .expect("DROP TABLE");
}

/// Checks what the contender left: row count, rows of version 1, the key.
fn verify(client: &mut Client, contender: Contender, n: i64) {
    if contender == Generate {
        return;
    }
    let row = client
        .query_one(
            &format!(
                "SELECT count(*), count(*) FILTER (WHERE \"name\" LIKE '% v1'), \
                 (SELECT count(*) FROM pg_catalog.pg_index \
                  WHERE indrelid = '{TABLE}'::regclass AND indisprimary) FROM {TABLE}"
            ),
            &[],
        )
        .expect("verify");
    let got: (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
    assert_eq!(
        got,
        contender.expected(n),
        "{} with {n} rows left (rows, rows of version 1, primary keys) = {got:?}",
        contender.id()
    );
}

fn wal_lsn(client: &mut Client) -> Option<u64> {
    let lsn: String = client
        .query_one("SELECT pg_catalog.pg_current_wal_lsn()::text", &[])
        .ok()?
        .get(0);
    let (hi, lo) = lsn.split_once('/')?;
    Some((u64::from_str_radix(hi, 16).ok()? << 32) | u64::from_str_radix(lo, 16).ok()?)
}

/// `insert` into the table as `CREATE_TABLE` makes it must load into it as it
/// is, or the "existing table" contenders would not compare the same thing.
fn check_table_matches(client: &mut Client) {
    drop_tables(client);
    client.batch_execute(CREATE_TABLE).expect("CREATE TABLE");
    let plan = pg_bulk_ingest::plan::<Item>(client, pg_bulk_ingest::Mode::Insert).expect("plan");
    assert!(
        plan.path() == pg_bulk_ingest::plan::Path::Nothing,
        "the hand-made table differs from the definition:\n{plan}"
    );
    drop_tables(client);
}

struct Environment {
    server: Vec<(String, String)>,
    machine: Vec<(String, String)>,
    throw_away: bool,
}

fn environment(client: &mut Client) -> Environment {
    let mut server = Vec::new();
    for name in [
        "server_version",
        "fsync",
        "synchronous_commit",
        "full_page_writes",
        "wal_level",
        "wal_compression",
        "shared_buffers",
        "max_wal_size",
        "checkpoint_timeout",
        "work_mem",
        "maintenance_work_mem",
        "autovacuum",
    ] {
        let value: String = client
            .query_one(&format!("SHOW {name}"), &[])
            .expect("SHOW")
            .get(0);
        server.push((name.to_owned(), value));
    }
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let meminfo = fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let field = |text: &str, key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .map(|v| v.trim_start_matches([' ', '\t', ':']).trim().to_owned())
            .unwrap_or_else(|| "?".to_owned())
    };
    let mem_kib: f64 = field(&meminfo, "MemTotal")
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap_or(0.0);
    let machine = vec![
        ("CPU".to_owned(), field(&cpuinfo, "model name")),
        (
            "cores (nproc)".to_owned(),
            std::thread::available_parallelism().map_or("?".to_owned(), |n| n.to_string()),
        ),
        (
            "memory".to_owned(),
            format!("{:.1} GiB", mem_kib / 1024.0 / 1024.0),
        ),
        (
            "kernel".to_owned(),
            fs::read_to_string("/proc/sys/kernel/osrelease")
                .unwrap_or_default()
                .trim()
                .to_owned(),
        ),
        ("load average at start".to_owned(), load_average()),
    ];
    Environment {
        server,
        machine,
        throw_away: std::env::var("DATABASE_URL").map_or(true, |u| u.is_empty()),
    }
}

fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split(' ')
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn parent(options: Options) {
    let started = Instant::now();
    let config = pg_bulk_ingest_testkit::example_database("bench_load");
    let conn = conn_string(&config);
    let mut client = config.connect(NoTls).expect("connect");
    let env = environment(&mut client);
    check_table_matches(&mut client);

    // Warm-up, untimed: a new cluster creates its WAL segment files as it
    // first writes them, later ones recycle them after checkpoints; without
    // this, the first contender would pay for creating them.
    let warm_up = options.sizes.iter().copied().max().unwrap_or(0);
    eprintln!(
        "warm-up (untimed): {} rows with insert-tosql",
        count(warm_up)
    );
    prepare(&mut client, InsertToSql, warm_up);
    run_child(options.explain, &conn, InsertToSql, warm_up);
    verify(&mut client, InsertToSql, warm_up);
    drop_tables(&mut client);

    let mut runs: Vec<Run> = Vec::new();
    let mut order_flip = false;
    for &n in &options.sizes {
        let rounds = options.rounds(n);
        for round in 0..rounds {
            let mut order: Vec<Contender> = vec![Generate];
            if order_flip {
                order.extend(options.contenders.iter().rev());
            } else {
                order.extend(&options.contenders);
            }
            order_flip = !order_flip;
            for contender in order {
                prepare(&mut client, contender, n);
                let wal_before = wal_lsn(&mut client);
                let (wall, user, sys, server, max_rss_kib, rss_before_kib) =
                    run_child(options.explain, &conn, contender, n);
                let wal_bytes = match (wal_before, wal_lsn(&mut client)) {
                    (Some(a), Some(b)) if contender != Generate => Some(b - a),
                    _ => None,
                };
                verify(&mut client, contender, n);
                drop_tables(&mut client);
                let run = Run {
                    contender,
                    rows: n,
                    round,
                    wall,
                    user,
                    sys,
                    server,
                    wal_bytes,
                    max_rss_kib,
                    rss_before_kib,
                };
                eprintln!(
                    "[{:>7.1} s] {} rows, round {}/{rounds}: {:<13} {:>9.0} rows/s, client CPU {:.2} s, peak RSS {:.1} MiB",
                    started.elapsed().as_secs_f64(),
                    count(n),
                    round + 1,
                    contender.id(),
                    contender.batch(n) as f64 / wall,
                    run.cpu(),
                    max_rss_kib as f64 / 1024.0,
                );
                runs.push(run);
            }
        }
    }

    let report = report(&options, &env, &runs, started.elapsed());
    println!("{report}");
    fs::create_dir_all(&options.out_dir).expect("output directory");
    let md = options.out_dir.join(if options.quick {
        "quick.md"
    } else {
        "report.md"
    });
    fs::write(&md, &report).expect("write the report");
    let csv = options.out_dir.join(if options.quick {
        "quick.csv"
    } else {
        "runs.csv"
    });
    fs::write(&csv, runs_csv(&runs)).expect("write the CSV");
    if let Some(dir) = options.svg.parent() {
        fs::create_dir_all(dir).expect("chart directory");
    }
    chart(&options, &runs).expect("draw the chart");
    if options.explain {
        // The throw-away cluster's log is beside its socket directory.
        if let Some(postgres::config::Host::Unix(socket)) = config.get_hosts().first() {
            let log = socket.with_file_name("server.log");
            let to = options.out_dir.join("server.log");
            match fs::copy(&log, &to) {
                Ok(_) => eprintln!("server log with statements and plans: {}", to.display()),
                Err(e) => eprintln!("could not copy {}: {e}", log.display()),
            }
        }
    }
    eprintln!(
        "report: {}\nruns: {}\nchart: {}",
        md.display(),
        csv.display(),
        options.svg.display()
    );
}

// ---------------------------------------------------------------------------
// Summaries

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

/// Medians (peak RSS: the maximum) of one contender at one size.
struct Summary {
    runs: usize,
    wall: f64,
    wall_min: f64,
    wall_max: f64,
    cpu: f64,
    server: Option<f64>,
    wal_mib: Option<f64>,
    rss_mib: f64,
}

impl Summary {
    fn of(runs: &[Run], contender: Contender, rows: i64) -> Option<Summary> {
        let runs: Vec<&Run> = runs
            .iter()
            .filter(|r| r.contender == contender && r.rows == rows)
            .collect();
        if runs.is_empty() {
            return None;
        }
        let walls: Vec<f64> = runs.iter().map(|r| r.wall).collect();
        let servers: Option<Vec<f64>> = runs.iter().map(|r| r.server).collect();
        let wal: Option<Vec<f64>> = runs
            .iter()
            .map(|r| r.wal_bytes.map(|b| b as f64 / 1048576.0))
            .collect();
        Some(Summary {
            runs: runs.len(),
            wall: median(walls.clone()),
            wall_min: walls.iter().copied().fold(f64::INFINITY, f64::min),
            wall_max: walls.iter().copied().fold(0.0, f64::max),
            cpu: median(runs.iter().map(|r| r.cpu()).collect()),
            server: servers.map(median),
            wal_mib: wal.map(median),
            rss_mib: runs.iter().map(|r| r.max_rss_kib).max().unwrap_or(0) as f64 / 1024.0,
        })
    }

    fn rate(&self, rows: i64) -> f64 {
        rows as f64 / self.wall
    }
}

fn count(n: i64) -> String {
    match n {
        n if n >= 1_000_000 && n % 1_000_000 == 0 => format!("{}M", n / 1_000_000),
        n if n >= 1_000 && n % 1_000 == 0 => format!("{}k", n / 1_000),
        n => n.to_string(),
    }
}

/// `1234567.8` as `1,234,568`.
fn thousands(v: f64) -> String {
    let digits = format!("{:.0}", v);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn report(options: &Options, env: &Environment, runs: &[Run], took: Duration) -> String {
    let mut md = String::new();
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    writeln!(
        md,
        "## Load benchmark{}\n\n`cargo bench --bench load{}` — took {:.0} s.\n",
        match (options.quick, options.explain) {
            (_, true) => " (with --explain: auto_explain ANALYZE slows the statements down)",
            (true, false) => " (quick mode)",
            (false, false) => "",
        },
        if args.is_empty() {
            String::new()
        } else {
            format!(" -- {}", args.join(" "))
        },
        took.as_secs_f64()
    )
    .unwrap();
    writeln!(
        md,
        "Server: {}. Settings (`SHOW`): {}.\n",
        if env.throw_away {
            "a throw-away cluster started by the benchmark (testkit `Durability::Production`: \
             PostgreSQL's defaults, durable commits), Unix socket"
        } else {
            "`DATABASE_URL`"
        },
        env.server
            .iter()
            .map(|(k, v)| format!("`{k}={v}`"))
            .collect::<Vec<_>>()
            .join(", ")
    )
    .unwrap();
    writeln!(
        md,
        "Machine: {}; load average at the end {}.\n",
        env.machine
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join("; "),
        load_average()
    )
    .unwrap();
    let rounds: Vec<String> = options
        .sizes
        .iter()
        .map(|&n| format!("{} rows: {}", count(n), options.rounds(n)))
        .collect();
    writeln!(
        md,
        "Rounds per size (medians when more than one; peak RSS is the maximum): {}. \
         Before them, one untimed warm-up load of the largest size (so that the cluster's \
         WAL segment files exist). Each timed load starts after `CHECKPOINT`; the \
         contender order is reversed every other round.\n",
        rounds.join(", ")
    )
    .unwrap();
    md.push_str(&results(options, runs));
    md
}

/// The table of medians per size and contender, then the targets.
fn results(options: &Options, runs: &[Run]) -> String {
    let mut md = String::new();
    md.push_str(
        "| rows | contender | rows/s | wall s (min–max) | client CPU s | client CPU µs/row | \
         server backend CPU s | WAL MiB | peak RSS MiB | runs |\n|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for &n in &options.sizes {
        for contender in options.contenders.iter().copied().chain([Generate]) {
            let Some(s) = Summary::of(runs, contender, n) else {
                continue;
            };
            let name = if contender.is_library() {
                format!("**{}**", contender.label())
            } else {
                contender.label().to_owned()
            };
            writeln!(
                md,
                "| {} | {name} | {} | {:.2} ({:.2}–{:.2}) | {:.2} | {:.2} | {} | {} | {:.1} | {} |",
                count(n),
                if contender == Generate {
                    "—".to_owned()
                } else {
                    thousands(s.rate(contender.batch(n)))
                },
                s.wall,
                s.wall_min,
                s.wall_max,
                s.cpu,
                s.cpu / n as f64 * 1e6,
                s.server.map_or("n/a".to_owned(), |v| format!("{v:.2}")),
                s.wal_mib.map_or("—".to_owned(), |v| format!("{v:.0}")),
                s.rss_mib,
                s.runs,
            )
            .unwrap();
        }
    }
    md.push('\n');
    md.push_str(&targets(options, runs));
    md
}

/// The issue's targets, as ratios of medians measured in this run.
fn targets(options: &Options, runs: &[Run]) -> String {
    let mut md =
        String::from("| target | rows | measured | target | result |\n|---|---:|---:|---:|---|\n");
    let rate = |c: Contender, n: i64| Summary::of(runs, c, n).map(|s| s.rate(c.batch(n)));
    let mut at_least = |what: &str, n: i64, ours: Contender, base: &[Contender], min: f64| {
        let Some(ours_rate) = rate(ours, n) else {
            return;
        };
        let Some((base, base_rate)) = base
            .iter()
            .filter_map(|&c| rate(c, n).map(|r| (c, r)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
        else {
            return;
        };
        let ratio = ours_rate / base_rate;
        writeln!(
            md,
            "| {what} (vs {}) | {} | {ratio:.2}× ({} vs {} rows/s) | ≥ {}× | {} |",
            base.id(),
            count(n),
            thousands(ours_rate),
            thousands(base_rate),
            // Two decimals at most (1/1.2 is 0.83).
            format!("{min:.2}")
                .trim_end_matches('0')
                .trim_end_matches('.'),
            if ratio >= min {
                "met".to_owned()
            } else {
                format!("missed by {:.1} %", (1.0 - ratio / min) * 100.0)
            }
        )
        .unwrap();
    };
    for &n in &options.sizes {
        at_least(
            "`insert`, existing table ≥ 0.95× the faster hand-written COPY",
            n,
            InsertLib,
            &[InsertCopy, InsertToSql],
            0.95,
        );
        at_least(
            "`insert`, creates the table ≥ 1.3× BinaryCopyInWriter into a table with its key",
            n,
            CreateLib,
            &[InsertCopy],
            1.3,
        );
        at_least(
            "`insert`, creates the table, against the faster hand-written COPY (stricter)",
            n,
            CreateLib,
            &[InsertCopy, InsertToSql],
            1.3,
        );
        at_least(
            "`replace` ≥ 1.3× TRUNCATE + COPY",
            n,
            ReplaceLib,
            &[ReplaceCopy],
            1.3,
        );
        at_least(
            "`upsert` ≥ 1.5× temp table + ON CONFLICT",
            n,
            UpsertLib,
            &[UpsertCopy],
            1.5,
        );
    }
    // Incremental loads (issue 14).
    for &n in &options.sizes {
        at_least(
            "most rows unchanged (90 %): `upsert` ≥ 2× the hand-written merge",
            n,
            IncrLib,
            &[IncrCopy],
            2.0,
        );
        at_least(
            "every row unchanged (a re-run): `upsert` ≥ 3× the hand-written merge",
            n,
            RerunLib,
            &[RerunCopy],
            3.0,
        );
        at_least(
            "every row changes (half new): `upsert` (merge) ≥ 1.0× the hand-written merge",
            n,
            ModeUpdate,
            &[ChangedCopy],
            1.0,
        );
        at_least(
            "every row changes, N into N: `upsert` forced to merge ≥ 1.0× the hand-written merge",
            n,
            UpsertMerge,
            &[UpsertCopy],
            1.0,
        );
        at_least(
            "keys in random order: `upsert` ≥ 1.1× the hand-written merge",
            n,
            ShuffledLib,
            &[ShuffledCopy],
            1.1,
        );
        at_least(
            "1,000-row calls that change nothing: `upsert` costs ≤ 1.2× the hand-written merge",
            n,
            SmallLib,
            &[SmallCopy],
            1.0 / 1.2,
        );
    }
    // The upsert's choices: wall time against the defaults' on the same
    // batch (for `OnConflict::Error`, a batch of new keys).
    for &n in &options.sizes {
        let wall = |c: Contender| Summary::of(runs, c, n).map(|s| s.wall);
        for (choice, base) in Contender::MODES {
            if let (Some(ours), Some(theirs)) = (wall(choice), wall(base)) {
                writeln!(
                    md,
                    "| cost of {} (vs {}: {:.3} s vs {:.3} s) | {} | {:+.0} % | report | — |",
                    choice.label(),
                    base.id(),
                    ours,
                    theirs,
                    count(choice.batch(n)),
                    (ours / theirs - 1.0) * 100.0,
                )
                .unwrap();
            }
        }
    }
    // Client CPU: the library's insert against BinaryCopyInWriter's, whole and
    // net of making the rows (which both spend the same on).
    for &n in &options.sizes {
        let cpu = |c: Contender| Summary::of(runs, c, n).map(|s| s.cpu);
        if let (Some(ours), Some(base), Some(generate)) =
            (cpu(InsertLib), cpu(InsertCopy), cpu(Generate))
        {
            let gross = ours / base;
            let net = (ours - generate) / (base - generate);
            writeln!(
                md,
                "| client CPU of `insert` ≤ 1/3 of BinaryCopyInWriter's, net of row generation \
                 (whole process: {gross:.2}×; {ours:.2} s vs {base:.2} s, generation {generate:.2} s) | {} | {net:.2}× | ≤ 0.33× | {} |",
                count(n),
                if net <= 1.0 / 3.0 {
                    "met".to_owned()
                } else {
                    format!("missed: {:.1}× the target", net * 3.0)
                }
            )
            .unwrap();
        }
    }
    // Peak RSS: flat in the row count, ≤ 16 MiB at the largest size.
    let largest = options.sizes.iter().copied().max().unwrap_or(0);
    let smallest = options.sizes.iter().copied().min().unwrap_or(0);
    for &c in options.contenders.iter().filter(|c| c.is_library()) {
        let (Some(big), Some(small)) = (
            Summary::of(runs, c, largest),
            Summary::of(runs, c, smallest),
        ) else {
            continue;
        };
        writeln!(
            md,
            "| peak RSS of {} ≤ 16 MiB, flat ({} rows: {:.1} MiB) | {} | {:.1} MiB | ≤ 16 MiB | {} |",
            c.id(),
            count(smallest),
            small.rss_mib,
            count(largest),
            big.rss_mib,
            if big.rss_mib <= 16.0 {
                "met".to_owned()
            } else {
                format!("missed by {:.1} MiB", big.rss_mib - 16.0)
            }
        )
        .unwrap();
    }
    md
}

/// The runs of a CSV written by [`runs_csv`].
fn read_runs_csv(path: &Path) -> Vec<Run> {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            let num = |i: usize| -> f64 { f[i].parse().expect("a number in the CSV") };
            Run {
                contender: Contender::from_id(f[0]).expect("a known contender"),
                rows: f[1].parse().expect("rows"),
                round: f[2].parse::<usize>().expect("round") - 1,
                wall: num(3),
                user: num(4),
                sys: num(5),
                server: f[6].parse().ok(),
                wal_bytes: f[7].parse().ok(),
                max_rss_kib: f[8].parse().expect("rss"),
                rss_before_kib: f[9].parse().expect("rss"),
            }
        })
        .collect()
}

/// `--replot CSV`: the chart and the tables of an earlier run, from its CSV.
fn replot(mut options: Options, csv: &Path) {
    let runs = read_runs_csv(csv);
    options.sizes = runs.iter().map(|r| r.rows).collect();
    options.sizes.sort_unstable();
    options.sizes.dedup();
    options
        .contenders
        .retain(|&c| runs.iter().any(|r| r.contender == c));
    chart(&options, &runs).expect("draw the chart");
    println!("{}", results(&options, &runs));
    eprintln!("chart: {}", options.svg.display());
}

fn runs_csv(runs: &[Run]) -> String {
    let mut csv = String::from(
        "contender,rows,round,wall_s,user_s,sys_s,server_backend_cpu_s,wal_bytes,max_rss_kib,rss_before_load_kib\n",
    );
    for r in runs {
        writeln!(
            csv,
            "{},{},{},{:.6},{:.6},{:.6},{},{},{},{}",
            r.contender.id(),
            r.rows,
            r.round + 1,
            r.wall,
            r.user,
            r.sys,
            r.server.map_or(String::new(), |v| format!("{v:.6}")),
            r.wal_bytes.map_or(String::new(), |v| v.to_string()),
            r.max_rss_kib,
            r.rss_before_kib,
        )
        .unwrap();
    }
    csv
}

// ---------------------------------------------------------------------------
// The chart

fn chart(options: &Options, runs: &[Run]) -> Result<(), Box<dyn std::error::Error>> {
    use plotters::prelude::*;

    // Contenders that load part of the table (the upsert's choices, the
    // incremental loads) are in the report, not on the chart.
    let series: Vec<(Contender, Vec<(f64, f64)>)> = options
        .contenders
        .iter()
        .filter(|c| c.batch(1_000_000) == 1_000_000)
        .map(|&c| {
            let points = options
                .sizes
                .iter()
                .filter_map(|&n| Summary::of(runs, c, n).map(|s| (n as f64, s.rate(n))))
                .collect();
            (c, points)
        })
        .collect();
    let x_min = options.sizes.iter().copied().min().unwrap_or(1) as f64 / 1.5;
    let x_max = options.sizes.iter().copied().max().unwrap_or(1) as f64 * 1.5;
    let y_max = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|&(_, y)| y))
        .fold(0.0, f64::max)
        // Room above the highest point for the legend.
        * 1.6;

    let root = SVGBackend::new(&options.svg, (1000, 640)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "items shape: rows/s (median) against rows loaded, PostgreSQL with fsync=on",
            ("sans-serif", 24),
        )
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d(
            (x_min..x_max)
                .log_scale()
                .with_key_points(options.sizes.iter().map(|&n| n as f64).collect()),
            0.0..y_max,
        )?;
    chart
        .configure_mesh()
        .x_desc("rows loaded (log scale)")
        .y_desc("rows/s")
        .x_label_formatter(&|x| count(x.round() as i64))
        .y_label_formatter(&|y| format!("{}k", thousands(y / 1000.0)))
        .light_line_style(WHITE.mix(0.0))
        .label_style(("sans-serif", 16))
        .axis_desc_style(("sans-serif", 18))
        .draw()?;

    for (contender, points) in series {
        let color = match contender {
            InsertLib | InsertCopy | InsertKeepLast => RGBColor(31, 119, 180),
            IncrLib | IncrCopy | RerunLib | RerunCopy | ShuffledLib | ShuffledCopy
            | ChangedCopy | SmallLib | SmallCopy => RGBColor(127, 127, 127),
            InsertToSql => RGBColor(23, 190, 207),
            CreateLib => RGBColor(148, 103, 189),
            ReplaceLib | ReplaceCopy => RGBColor(44, 160, 44),
            UpsertLib | UpsertCopy => RGBColor(214, 39, 40),
            UpsertMerge => RGBColor(255, 127, 14),
            _ => BLACK,
        };
        let lib = contender.is_library();
        let style = color.stroke_width(if lib { 3 } else { 2 });
        if lib {
            chart
                .draw_series(LineSeries::new(points.clone(), style))?
                .label(contender.label())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], style));
        } else {
            chart
                .draw_series(DashedLineSeries::new(points.clone(), 8, 6, style))?
                .label(contender.label())
                .legend(move |(x, y)| {
                    plotters::element::DashedPathElement::new(
                        vec![(x, y), (x + 24, y)],
                        6,
                        4,
                        style,
                    )
                });
        }
        chart.draw_series(points.iter().map(|&p| {
            Circle::new(
                p,
                4,
                if lib {
                    color.filled()
                } else {
                    color.stroke_width(2)
                },
            )
        }))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .label_font(("sans-serif", 16))
        .draw()?;
    root.present()?;
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("load-child") {
        child(&args[1], &args[2]);
        return;
    }
    let options = Options::parse(&args);
    match options.replot.clone() {
        Some(csv) => replot(options, &csv),
        None => parent(options),
    }
}
