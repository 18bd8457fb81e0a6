//! A slice replace with `swap_partition`, against a real server: a slice
//! that is exactly one partition is loaded into a fresh table that takes
//! the partition's place (its grants, comments and storage parameters
//! carried); any other slice is deleted and inserted, and the plan says
//! why; a failing call leaves the partition and the table as they were.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use pg_bulk_ingest::{BulkTable, Error, Ingest, Mode, NewTableKind, Slice};
use postgres::GenericClient;

#[derive(BulkTable, Debug, Clone, PartialEq)]
#[bulk(
    schema = "metrics",
    table = "daily",
    partition_by = "range (day)",
    partition_interval = "day"
)]
struct Daily {
    #[bulk(primary_key)]
    sensor: i32,
    #[bulk(primary_key)]
    day: NaiveDate,
    value: f64,
}

#[derive(BulkTable, Debug, Clone, PartialEq)]
#[bulk(schema = "shop", table = "orders", partition_by = "list (region)")]
struct Order {
    #[bulk(primary_key)]
    id: i64,
    #[bulk(primary_key)]
    region: String,
    amount: i64,
}

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 1, d).unwrap()
}

fn daily(days: &[u32], sensors: i32, value: f64) -> Vec<Daily> {
    let mut rows = Vec::new();
    for &d in days {
        for sensor in 0..sensors {
            rows.push(Daily {
                sensor,
                day: day(d),
                value,
            });
        }
    }
    rows
}

fn oid(client: &mut impl GenericClient, relation: &str) -> Option<u32> {
    client
        .query_one("SELECT to_regclass($1::text)::oid", &[&relation])
        .unwrap()
        .get(0)
}

fn contents(client: &mut impl GenericClient) -> Vec<(i32, NaiveDate, f64, String)> {
    client
        .query(
            "SELECT sensor, day, value, tableoid::regclass::text FROM metrics.daily \
             ORDER BY day, sensor",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect()
}

/// Relations in the schema that are not the table, its partitions or their
/// indexes: what a call might leave behind.
fn strays(client: &mut impl GenericClient, schema: &str) -> Vec<String> {
    client
        .query(
            "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition \
               AND c.relname NOT IN ('daily', 'orders') ORDER BY 1",
            &[&schema],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// Whether the call swapped a partition (its plan detaches one).
fn swapped(report: &pg_bulk_ingest::Report) -> bool {
    report.tables[0]
        .plan
        .statements()
        .iter()
        .any(|s| s.contains("DETACH PARTITION"))
}

fn create_role(client: &mut impl GenericClient, role: &str) {
    client
        .batch_execute(&format!(
            "DO $$ BEGIN CREATE ROLE {role}; EXCEPTION WHEN duplicate_object THEN NULL; END $$"
        ))
        .unwrap();
}

#[test]
fn a_slice_that_is_one_partition_is_swapped_in_with_its_grants_and_comments() {
    let db = pg_bulk_ingest_testkit::server().create_database("swap_range");
    let mut client = db.connect();
    let mut tx = client.transaction().unwrap();
    pg_bulk_ingest::insert(&mut tx, daily(&[1, 2, 3], 3, 1.0)).unwrap();
    tx.commit().unwrap();
    create_role(&mut client, "swap_reader");
    client
        .batch_execute(
            "GRANT SELECT ON metrics.daily_20240102 TO swap_reader; \
             COMMENT ON TABLE metrics.daily_20240102 IS 'day two'; \
             COMMENT ON COLUMN metrics.daily_20240102.value IS 'in volts'; \
             ALTER TABLE metrics.daily_20240102 SET (fillfactor = 70)",
        )
        .unwrap();
    let (day1, day2) = (
        oid(&mut client, "metrics.daily_20240101"),
        oid(&mut client, "metrics.daily_20240102"),
    );

    // The plan shows the swap.
    let plan = Ingest::new()
        .replace_slice(Slice::equal("day", day(2)))
        .swap_partition(true)
        .plan::<Daily>(&mut client, Mode::Insert)
        .unwrap()
        .remove(0);
    let statements = plan.statements().join(";\n");
    assert!(
        statements.contains(
            r#"ALTER TABLE "metrics"."daily" DETACH PARTITION "metrics"."daily_20240102""#
        ),
        "{plan}"
    );
    assert!(
        statements.contains(r#"ATTACH PARTITION "metrics"."daily_20240102" FOR VALUES FROM ('2024-01-02') TO ('2024-01-03')"#),
        "{plan}"
    );
    assert!(!statements.contains("DELETE FROM"), "{plan}");

    let mut tx = client.transaction().unwrap();
    let report = Ingest::new()
        .replace_slice(Slice::equal("day", day(2)))
        .swap_partition(true)
        .insert(&mut tx, daily(&[2], 2, 9.0))
        .unwrap();
    tx.commit().unwrap();
    let table = &report.tables[0];
    assert_eq!((table.written, table.deleted), (2, 3));

    // Exact contents: day 2 is the batch, days 1 and 3 as they were.
    let rows = contents(&mut client);
    let mut expected: Vec<(i32, NaiveDate, f64, String)> = Vec::new();
    for (d, sensors, value) in [(1, 3, 1.0), (2, 2, 9.0), (3, 3, 1.0)] {
        for sensor in 0..sensors {
            expected.push((sensor, day(d), value, format!("metrics.daily_2024010{d}")));
        }
    }
    assert_eq!(rows, expected);

    // Day 2 is a new table under the old name; day 1 is untouched.
    assert_eq!(oid(&mut client, "metrics.daily_20240101"), day1);
    let new2 = oid(&mut client, "metrics.daily_20240102");
    assert!(new2.is_some() && new2 != day2);
    let carried = client
        .query_one(
            "SELECT has_table_privilege('swap_reader', 'metrics.daily_20240102', 'SELECT'), \
                    obj_description('metrics.daily_20240102'::regclass, 'pg_class'), \
                    col_description('metrics.daily_20240102'::regclass, 3), \
                    (SELECT reloptions::text FROM pg_class WHERE oid = 'metrics.daily_20240102'::regclass), \
                    (SELECT count(*) FROM pg_constraint \
                     WHERE conrelid = 'metrics.daily_20240102'::regclass AND contype = 'c'), \
                    (SELECT indexrelid::regclass::text FROM pg_index \
                     WHERE indrelid = 'metrics.daily_20240102'::regclass AND indisprimary)",
            &[],
        )
        .unwrap();
    assert!(carried.get::<_, bool>(0));
    assert_eq!(
        carried.get::<_, Option<String>>(1).as_deref(),
        Some("day two")
    );
    assert_eq!(
        carried.get::<_, Option<String>>(2).as_deref(),
        Some("in volts")
    );
    assert_eq!(
        carried.get::<_, Option<String>>(3).as_deref(),
        Some("{fillfactor=70}")
    );
    // The CHECK that spared ATTACH its scan is gone; the key is the
    // partition's, named after it.
    assert_eq!(carried.get::<_, i64>(4), 0);
    assert_eq!(carried.get::<_, String>(5), "metrics.daily_20240102_pkey");
    assert!(strays(&mut client, "metrics").is_empty());

    // A re-run swaps again; the day as a range is the same partition.
    let mut tx = client.transaction().unwrap();
    let report = Ingest::new()
        .replace_slice(Slice::range("day", day(2), day(3)))
        .swap_partition(true)
        .insert(&mut tx, daily(&[2], 2, 9.0))
        .unwrap();
    tx.commit().unwrap();
    assert_eq!(report.tables[0].deleted, 2);
    assert!(swapped(&report), "{}", report.tables[0].plan);
    assert_eq!(contents(&mut client), expected);
    assert!(strays(&mut client, "metrics").is_empty());
}

#[test]
fn a_list_partition_is_swapped() {
    let db = pg_bulk_ingest_testkit::server().create_database("swap_list");
    let mut client = db.connect();
    let order = |id: i64, region: &str, amount: i64| Order {
        id,
        region: region.to_owned(),
        amount,
    };
    let mut tx = client.transaction().unwrap();
    pg_bulk_ingest::insert(
        &mut tx,
        vec![order(1, "eu", 10), order(2, "eu", 20), order(3, "us", 30)],
    )
    .unwrap();
    tx.commit().unwrap();
    let us = oid(&mut client, "shop.orders_us");
    let eu = oid(&mut client, "shop.orders_eu");

    let mut tx = client.transaction().unwrap();
    let report = Ingest::new()
        .replace_slice(Slice::equal("region", "eu".to_owned()))
        .swap_partition(true)
        .insert(&mut tx, vec![order(4, "eu", 40)])
        .unwrap();
    tx.commit().unwrap();
    assert!(swapped(&report), "{}", report.tables[0].plan);
    assert_eq!(report.tables[0].deleted, 2);
    let rows: Vec<(i64, String, i64)> = client
        .query(
            "SELECT id, region, amount FROM shop.orders ORDER BY id",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(rows, [(3, "us".to_owned(), 30), (4, "eu".to_owned(), 40)]);
    assert_eq!(oid(&mut client, "shop.orders_us"), us);
    assert_ne!(oid(&mut client, "shop.orders_eu"), eu);
    assert!(strays(&mut client, "shop").is_empty());
}

#[test]
fn other_slices_are_deleted_and_the_plan_says_why() {
    let db = pg_bulk_ingest_testkit::server().create_database("swap_not");
    let mut client = db.connect();
    let mut tx = client.transaction().unwrap();
    pg_bulk_ingest::insert(&mut tx, daily(&[1, 2], 2, 1.0)).unwrap();
    tx.commit().unwrap();
    let plan_of = |client: &mut postgres::Client, slice: Slice| {
        Ingest::new()
            .replace_slice(slice)
            .swap_partition(true)
            .plan::<Daily>(client, Mode::Insert)
            .unwrap()
            .remove(0)
    };
    let deletes = |plan: &pg_bulk_ingest::Plan, why: &str| {
        let text = plan.to_string();
        assert!(!text.contains("DETACH"), "{text}");
        assert!(text.contains("DELETE FROM"), "{text}");
        assert!(text.contains(why), "{text}");
    };
    // Two days are two partitions; a day with no partition yet is made.
    deletes(
        &plan_of(&mut client, Slice::range("day", day(1), day(3))),
        "no partition is exactly the slice",
    );
    deletes(
        &plan_of(&mut client, Slice::equal("day", day(9))),
        "no partition is exactly the slice",
    );
    // A slice with a second condition is not a partition.
    deletes(
        &plan_of(
            &mut client,
            Slice::equal("day", day(1)).and_equal("sensor", 1),
        ),
        "no partition is exactly the slice",
    );
    // A partition with an index of its own would lose it.
    client
        .batch_execute("CREATE INDEX local_value ON metrics.daily_20240101 (value)")
        .unwrap();
    deletes(
        &plan_of(&mut client, Slice::equal("day", day(1))),
        "partition daily_20240101 has an index of its own",
    );
    // A partition partitioned in turn is not a table to swap for.
    client
        .batch_execute(
            "CREATE TABLE metrics.daily_20240105 PARTITION OF metrics.daily \
             FOR VALUES FROM ('2024-01-05') TO ('2024-01-06') PARTITION BY HASH (sensor)",
        )
        .unwrap();
    deletes(
        &plan_of(&mut client, Slice::equal("day", day(5))),
        "partition daily_20240105 has partitions of its own",
    );
    // And the call does what the plan says.
    let mut tx = client.transaction().unwrap();
    let report = Ingest::new()
        .replace_slice(Slice::equal("day", day(1)))
        .swap_partition(true)
        .insert(&mut tx, daily(&[1], 1, 5.0))
        .unwrap();
    tx.commit().unwrap();
    assert_eq!(report.tables[0].deleted, 2);
    let day1: Vec<(i32, f64)> = contents(&mut client)
        .into_iter()
        .filter(|r| r.1 == day(1))
        .map(|r| (r.0, r.2))
        .collect();
    assert_eq!(day1, [(0, 5.0)]);

    // Without a slice the option is an error before anything is sent.
    let mut tx = client.transaction().unwrap();
    let err = Ingest::new()
        .swap_partition(true)
        .insert(&mut tx, daily(&[1], 1, 5.0))
        .unwrap_err();
    assert!(matches!(err, Error::Options { .. }), "{err}");
}

#[test]
fn a_failing_swap_leaves_the_partition_and_the_transaction_as_they_were() {
    let db = pg_bulk_ingest_testkit::server().create_database("swap_fail");
    let mut client = db.connect();
    let mut tx = client.transaction().unwrap();
    pg_bulk_ingest::insert(&mut tx, daily(&[1, 2], 2, 1.0)).unwrap();
    tx.commit().unwrap();
    let before = (
        contents(&mut client),
        oid(&mut client, "metrics.daily_20240102"),
    );
    let swap = || {
        Ingest::new()
            .replace_slice(Slice::equal("day", day(2)))
            .swap_partition(true)
    };

    // A row outside the slice, named by its position.
    let mut tx = client.transaction().unwrap();
    let mut rows = daily(&[2], 2, 3.0);
    rows.push(Daily {
        sensor: 7,
        day: day(1),
        value: 3.0,
    });
    match swap().insert(&mut tx, rows).unwrap_err() {
        Error::OutsideSlice { row, column, .. } => assert_eq!((row, column.as_str()), (2, "day")),
        other => panic!("{other}"),
    }
    // A key repeated in the batch, named with both positions.
    let mut rows = daily(&[2], 2, 3.0);
    rows.push(rows[0].clone());
    match swap().insert(&mut tx, rows).unwrap_err() {
        Error::DuplicateKey { rows, .. } => assert_eq!(rows, Some((0, 2))),
        other => panic!("{other}"),
    }
    // An index the partition got after the call read it (here from the
    // hook, in the call's transaction) would go with it: the swap, under
    // its lock, reads the partition again and refuses.
    let err = swap()
        .on_new_table(|tx, table| {
            if table.kind() == NewTableKind::Intermediate {
                tx.batch_execute("CREATE INDEX late ON metrics.daily_20240102 (value)")?;
            }
            Ok(())
        })
        .insert(&mut tx, daily(&[2], 2, 3.0))
        .unwrap_err();
    match &err {
        Error::Dependents { dependents, .. } => {
            assert_eq!(dependents, &["an index of its own".to_owned()])
        }
        other => panic!("{other}"),
    }
    // The transaction is usable, and nothing changed or stayed behind.
    tx.commit().unwrap();
    assert_eq!(
        (
            contents(&mut client),
            oid(&mut client, "metrics.daily_20240102")
        ),
        before
    );
    assert!(strays(&mut client, "metrics").is_empty());
    assert_eq!(oid(&mut client, "metrics.late"), None);
}

/// A reader of another partition keeps reading while the fresh partition
/// is loaded and indexed; it waits only from the swap's lock to the
/// caller's commit. The longest wait is printed (`--nocapture`), not
/// asserted: timing is for benchmarks.
#[test]
fn readers_of_another_partition_read_on_while_the_fresh_partition_loads() {
    let db = pg_bulk_ingest_testkit::server().create_database("swap_readers");
    let mut client = db.connect();
    let mut tx = client.transaction().unwrap();
    pg_bulk_ingest::insert(&mut tx, daily(&[1, 2], 100, 1.0)).unwrap();
    tx.commit().unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicU64::new(0));
    let config = db.config().clone();
    let reader = {
        let (stop, reads) = (stop.clone(), reads.clone());
        std::thread::spawn(move || {
            let mut client = config.connect(postgres::NoTls).unwrap();
            let mut longest = Duration::ZERO;
            while !stop.load(Ordering::SeqCst) {
                let started = Instant::now();
                let n: i64 = client
                    .query_one(
                        "SELECT count(*) FROM metrics.daily WHERE day = '2024-01-01'",
                        &[],
                    )
                    .unwrap()
                    .get(0);
                assert_eq!(n, 100);
                longest = longest.max(started.elapsed());
                reads.fetch_add(1, Ordering::SeqCst);
            }
            longest
        })
    };
    while reads.load(Ordering::SeqCst) == 0 {
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut tx = client.transaction().unwrap();
    let mut during = None;
    let report = Ingest::new()
        .replace_slice(Slice::equal("day", day(2)))
        .swap_partition(true)
        .on_progress(|p| {
            // Once the rows are in, before the swap: the reader went on.
            if p.phase == pg_bulk_ingest::Phase::Finishing && during.is_none() {
                let seen = reads.load(Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(50));
                during = Some(reads.load(Ordering::SeqCst) - seen);
            }
        })
        .insert(&mut tx, daily(&[2], 20_000, 2.0))
        .unwrap();
    let call_done = Instant::now();
    tx.commit().unwrap();
    let held = call_done.elapsed();
    std::thread::sleep(Duration::from_millis(20));
    stop.store(true, Ordering::SeqCst);
    let longest = reader.join().unwrap();
    assert!(swapped(&report), "{}", report.tables[0].plan);
    assert!(
        during.is_some_and(|n| n > 0),
        "the reader was blocked while the batch loaded: {during:?}"
    );
    println!(
        "reader of another partition: longest wait {longest:?} over {} reads \
         (call to commit {held:?})",
        reads.load(Ordering::SeqCst)
    );
}

/// The time and the partition's size after a slice replace of one day, by
/// `DELETE` and insert and by partition swap, in alternation:
/// `cargo test -q --release --test partition_swap measure -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement, not a test: run it on a quiet machine"]
fn measure() {
    const SENSORS: i32 = 300_000;
    let db = pg_bulk_ingest_testkit::server().create_database("swap_measure");
    let mut client = db.connect();
    let mut tx = client.transaction().unwrap();
    pg_bulk_ingest::insert(&mut tx, daily(&[1, 2, 3], SENSORS, 1.0)).unwrap();
    tx.commit().unwrap();
    for round in 0..3 {
        for swap in [false, true] {
            let rows = daily(&[2], SENSORS, f64::from(round));
            let started = Instant::now();
            let mut tx = client.transaction().unwrap();
            Ingest::new()
                .replace_slice(Slice::equal("day", day(2)))
                .swap_partition(swap)
                .insert(&mut tx, rows)
                .unwrap();
            tx.commit().unwrap();
            let took = started.elapsed();
            let size: i64 = client
                .query_one(
                    "SELECT pg_total_relation_size('metrics.daily_20240102')",
                    &[],
                )
                .unwrap()
                .get(0);
            println!(
                "round {round}: {} {SENSORS} rows in {took:?}; partition {} MiB",
                if swap { "swap  " } else { "delete" },
                size / (1 << 20)
            );
        }
    }
}
