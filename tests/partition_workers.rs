//! Several workers on one partitioned table, against a real server: calls
//! writing into different partitions run together (the table's advisory
//! lock shared, one per partition), calls on one partition take turns, and
//! workers that each need a new partition run together once the partitions
//! are made ahead, and a DETACH PARTITION inside a transaction blocks
//! readers of every other partition until commit (what a partition swap
//! costs them, which is why `Ingest::swap_partition` is asked for, and takes
//! its lock last).

use std::sync::mpsc;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use pg_bulk_ingest::{BulkTable, Error, Ingest, Slice};
use postgres::Client;

#[derive(BulkTable, Debug, Clone, PartialEq)]
#[bulk(
    schema = "metrics",
    table = "readings",
    partition_by = "range (day)",
    partition_interval = "month"
)]
struct Reading {
    #[bulk(primary_key)]
    sensor: i32,
    #[bulk(primary_key)]
    day: NaiveDate,
    value: f64,
}

fn day(m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, m, d).unwrap()
}

fn rows(d: NaiveDate, sensors: i32, value: f64) -> Vec<Reading> {
    (0..sensors)
        .map(|sensor| Reading {
            sensor,
            day: d,
            value,
        })
        .collect()
}

/// A table with the partitions of January to April 2024, one day of each.
fn seeded(name: &str) -> (pg_bulk_ingest_testkit::TestDb, Client) {
    let db = pg_bulk_ingest_testkit::server().create_database(name);
    let mut client = db.connect();
    let mut tx = client.transaction().unwrap();
    let mut all = Vec::new();
    for m in 1..=4 {
        all.extend(rows(day(m, 10), 3, 0.0));
    }
    pg_bulk_ingest::insert(&mut tx, &all).unwrap();
    tx.commit().unwrap();
    (db, client)
}

fn slice_replace(client: &mut Client, d: NaiveDate, value: f64) -> postgres::Transaction<'_> {
    let mut tx = client.transaction().unwrap();
    Ingest::new()
        .replace_slice(Slice::equal("day", d))
        .insert(&mut tx, rows(d, 5, value))
        .unwrap();
    tx
}

fn values(client: &mut Client, d: NaiveDate) -> Vec<f64> {
    client
        .query(
            "SELECT value FROM metrics.readings WHERE day = $1 ORDER BY sensor",
            &[&d],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

fn pid(client: &mut Client) -> i32 {
    client
        .query_one("SELECT pg_backend_pid()", &[])
        .unwrap()
        .get(0)
}

/// Whether backend `pid` waits for an advisory lock.
fn waits_for_advisory(admin: &mut Client, pid: i32) -> bool {
    admin
        .query_one(
            "SELECT EXISTS (SELECT FROM pg_locks WHERE pid = $1 AND NOT granted \
             AND locktype = 'advisory')",
            &[&pid],
        )
        .unwrap()
        .get(0)
}

/// Two workers slice-replace days of different partitions: the second one's
/// call ends while the first one's transaction is still open, and both land.
/// Inserts into different partitions overlap the same way.
#[test]
fn workers_on_different_partitions_run_together() {
    let (db, mut first) = seeded("workers_overlap");
    let mut second = db.connect();
    // A wait would fail the call instead of hanging the test.
    second.batch_execute("SET lock_timeout = '5s'").unwrap();

    let tx = slice_replace(&mut first, day(1, 10), 1.0);
    let held = Instant::now();
    let tx2 = slice_replace(&mut second, day(2, 10), 2.0);
    tx2.commit().unwrap();
    let second_done = held.elapsed();
    // The first transaction holds its locks all that time.
    tx.commit().unwrap();
    assert!(second_done < Duration::from_secs(5), "{second_done:?}");
    assert_eq!(values(&mut first, day(1, 10)), [1.0; 5]);
    assert_eq!(values(&mut first, day(2, 10)), [2.0; 5]);

    let mut tx = first.transaction().unwrap();
    pg_bulk_ingest::insert(&mut tx, rows(day(3, 11), 2, 3.0)).unwrap();
    let mut tx2 = second.transaction().unwrap();
    pg_bulk_ingest::insert(&mut tx2, rows(day(4, 11), 2, 4.0)).unwrap();
    tx2.commit().unwrap();
    tx.commit().unwrap();
    assert_eq!(values(&mut first, day(3, 11)), [3.0; 2]);
    assert_eq!(values(&mut first, day(4, 11)), [4.0; 2]);
}

/// Two workers on the same partition take turns: the second waits for the
/// first one's advisory lock on the partition until it commits, then lands.
#[test]
fn workers_on_one_partition_take_turns() {
    let (db, mut first) = seeded("workers_turns");
    let mut admin = db.connect();
    let mut second = db.connect();
    let second_pid = pid(&mut second);

    let tx = slice_replace(&mut first, day(1, 10), 1.0);
    let (done_tx, done_rx) = mpsc::channel();
    let worker = std::thread::spawn(move || {
        // Another day of January: the same partition.
        let tx2 = slice_replace(&mut second, day(1, 20), 2.0);
        tx2.commit().unwrap();
        done_tx.send(Instant::now()).unwrap();
        second
    });
    let started = Instant::now();
    while !waits_for_advisory(&mut admin, second_pid) {
        assert!(started.elapsed() < Duration::from_secs(10), "never waited");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(done_rx.try_recv().is_err(), "the second call ended first");
    let committed = Instant::now();
    tx.commit().unwrap();
    let done = done_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(done >= committed);
    worker.join().unwrap();
    assert_eq!(values(&mut first, day(1, 10)), [1.0; 5]);
    assert_eq!(values(&mut first, day(1, 20)), [2.0; 5]);
}

/// A call that changes the table (here: creates it) takes the table's lock
/// exclusively, and a worker on a partition waits for it.
#[test]
fn a_worker_waits_for_a_call_that_changes_the_table() {
    let db = pg_bulk_ingest_testkit::server().create_database("workers_create");
    let (mut first, mut second, mut admin) = (db.connect(), db.connect(), db.connect());
    let second_pid = pid(&mut second);
    let mut tx = first.transaction().unwrap();
    pg_bulk_ingest::insert(&mut tx, rows(day(1, 10), 3, 0.0)).unwrap();
    let worker = std::thread::spawn(move || {
        let tx2 = slice_replace(&mut second, day(2, 10), 2.0);
        tx2.commit().unwrap();
        second
    });
    let started = Instant::now();
    while !waits_for_advisory(&mut admin, second_pid) {
        assert!(started.elapsed() < Duration::from_secs(10), "never waited");
        std::thread::sleep(Duration::from_millis(20));
    }
    tx.commit().unwrap();
    worker.join().unwrap();
    assert_eq!(values(&mut first, day(1, 10)), [0.0; 3]);
    assert_eq!(values(&mut first, day(2, 10)), [2.0; 5]);
}

/// Two workers that each make a new partition take turns: `ATTACH
/// PARTITION` takes `SHARE UPDATE EXCLUSIVE` on the table, which conflicts
/// with itself, until the first commits (here the second's lock timeout
/// ends its wait). With the partitions made ahead by `create_partitions`,
/// they run together.
#[test]
fn partitions_made_ahead_let_workers_on_new_months_run_together() {
    let (db, mut first) = seeded("workers_ahead");
    let mut second = db.connect();
    second.batch_execute("SET lock_timeout = '1s'").unwrap();
    let mut tx = first.transaction().unwrap();
    pg_bulk_ingest::insert(&mut tx, rows(day(5, 1), 2, 5.0)).unwrap();
    let mut tx2 = second.transaction().unwrap();
    let err = pg_bulk_ingest::insert(&mut tx2, rows(day(6, 1), 2, 6.0)).unwrap_err();
    assert!(matches!(err, Error::LockTimeout { .. }), "{err}");
    tx2.rollback().unwrap();
    tx.rollback().unwrap();

    let made =
        pg_bulk_ingest::create_partitions::<Reading, _>(&mut first, &[day(5, 1), day(6, 30)])
            .unwrap();
    assert_eq!(made, ["readings_202405", "readings_202406"]);
    // Committed, and made once.
    assert!(
        pg_bulk_ingest::create_partitions::<Reading, _>(&mut second, &[day(5, 2), day(1, 1)])
            .unwrap()
            .is_empty()
    );
    let mut tx = first.transaction().unwrap();
    pg_bulk_ingest::insert(&mut tx, rows(day(5, 1), 2, 5.0)).unwrap();
    let mut tx2 = second.transaction().unwrap();
    pg_bulk_ingest::insert(&mut tx2, rows(day(6, 1), 2, 6.0)).unwrap();
    tx2.commit().unwrap();
    tx.commit().unwrap();
    assert_eq!(values(&mut first, day(5, 1)), [5.0; 2]);
    assert_eq!(values(&mut first, day(6, 1)), [6.0; 2]);

    // Before the first load there is no table to make partitions of.
    let empty = pg_bulk_ingest_testkit::server().create_database("workers_no_table");
    let err = pg_bulk_ingest::create_partitions::<Reading, _>(&mut empty.connect(), &[day(1, 1)])
        .unwrap_err();
    assert!(matches!(err, Error::Options { .. }), "{err}");
}

/// What a partition swap costs readers of other partitions: `DETACH
/// PARTITION` (without `CONCURRENTLY`, which can't run in a transaction
/// block) takes `ACCESS EXCLUSIVE` on the parent, on every major, and holds
/// it until commit, so a reader of another partition waits for the rest of
/// the transaction. The reader's wait is measured and printed.
#[test]
fn detach_in_a_transaction_blocks_readers_of_other_partitions() {
    let (db, mut first) = seeded("workers_detach");
    let mut reader = db.connect();
    let mut tx = first.transaction().unwrap();
    tx.batch_execute("ALTER TABLE metrics.readings DETACH PARTITION metrics.readings_202401")
        .unwrap();
    let mode: String = tx
        .query_one(
            "SELECT mode FROM pg_locks WHERE pid = pg_backend_pid() AND locktype = 'relation' \
             AND relation = 'metrics.readings'::regclass",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(mode, "AccessExclusiveLock");
    let hold = Duration::from_millis(500);
    let reading = std::thread::spawn(move || {
        let started = Instant::now();
        let n: i64 = reader
            .query_one(
                "SELECT count(*) FROM metrics.readings WHERE day = '2024-02-10'",
                &[],
            )
            .unwrap()
            .get(0);
        (n, started.elapsed())
    });
    std::thread::sleep(hold);
    tx.rollback().unwrap();
    let (n, waited) = reading.join().unwrap();
    assert_eq!(n, 3);
    eprintln!("a reader of another partition waited {waited:?} behind a DETACH held {hold:?}");
    assert!(waited >= hold - Duration::from_millis(50), "{waited:?}");
}

/// Measurement, not a check (run it alone, with `--ignored --nocapture`):
/// `n` slice replaces of `ROWS` rows each, one per month, done by one worker
/// one after the other, then by `n` workers at once (each its own
/// connection and transaction), for `n` = 2 and 4; prints both times and the
/// speed-up.
#[test]
#[ignore]
fn measure_workers_speed_up() {
    const ROWS: i32 = 100_000;
    let (db, mut client) = seeded("workers_measure");
    let job = |client: &mut Client, m: u32| {
        let d = day(m, 10);
        let mut tx = client.transaction().unwrap();
        Ingest::new()
            .replace_slice(Slice::equal("day", d))
            .insert(&mut tx, rows(d, ROWS, f64::from(m)))
            .unwrap();
        tx.commit().unwrap();
    };
    // Warm-up: every month loaded once.
    for m in 1..=4 {
        job(&mut client, m);
    }
    for n in [2u32, 4] {
        let started = Instant::now();
        for m in 1..=n {
            job(&mut client, m);
        }
        let sequential = started.elapsed();
        let mut clients: Vec<Client> = (0..n).map(|_| db.connect()).collect();
        let started = Instant::now();
        std::thread::scope(|s| {
            for (m, client) in (1..=n).zip(clients.iter_mut()) {
                s.spawn(move || job(client, m));
            }
        });
        let parallel = started.elapsed();
        eprintln!(
            "{n} slice replaces of {ROWS} rows: one worker {:.2} s, {n} workers {:.2} s, \
             speed-up {:.2}",
            sequential.as_secs_f64(),
            parallel.as_secs_f64(),
            sequential.as_secs_f64() / parallel.as_secs_f64()
        );
    }
}
