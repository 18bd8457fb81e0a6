//! Partitioned tables, against a real server: a declared range table gets
//! the partitions its batches need, a re-run changes nothing, a user-made
//! list-partitioned table is loaded as it is, and upsert, mirror and slice
//! replace give exact contents on a partitioned table.

use chrono::NaiveDate;
use pg_bulk_ingest::{BulkTable, Delete, Error, Ingest, Mode, Slice};
use postgres::{Client, GenericClient};

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

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn reading(sensor: i32, day: NaiveDate, value: f64) -> Reading {
    Reading { sensor, day, value }
}

/// Readings of sensors 1 and 2 across January to March 2024.
fn three_months() -> Vec<Reading> {
    let mut rows = Vec::new();
    for (i, d) in [day(2024, 1, 5), day(2024, 2, 10), day(2024, 3, 31)]
        .into_iter()
        .enumerate()
    {
        for sensor in [1, 2] {
            rows.push(reading(sensor, d, (i * 10) as f64 + f64::from(sensor)));
        }
    }
    rows
}

/// The parent's and every partition's OID, by name, with its bound.
fn tree(client: &mut impl GenericClient, table: &str) -> Vec<(String, u32, String)> {
    client
        .query(
            "SELECT c.relname::text, c.oid, coalesce(pg_get_expr(c.relpartbound, c.oid), '') \
             FROM pg_partition_tree($1::text::regclass) t JOIN pg_class c ON c.oid = t.relid \
             ORDER BY 1",
            &[&table],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
}

fn readings(client: &mut impl GenericClient) -> Vec<(i32, NaiveDate, f64, String)> {
    client
        .query(
            "SELECT sensor, day, value, tableoid::regclass::text FROM metrics.readings \
             ORDER BY sensor, day",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect()
}

fn load(client: &mut Client, rows: &[Reading]) -> pg_bulk_ingest::Report {
    let mut tx = client.transaction().unwrap();
    let report = pg_bulk_ingest::insert(&mut tx, rows).unwrap();
    tx.commit().unwrap();
    report
}

#[test]
fn a_new_range_table_gets_the_partitions_of_its_rows_and_a_rerun_keeps_every_oid() {
    let db = pg_bulk_ingest_testkit::server().create_database("part_range");
    let mut client = db.connect();
    load(&mut client, &three_months());
    let before = tree(&mut client, "metrics.readings");
    let names: Vec<(&str, &str)> = before
        .iter()
        .map(|(n, _, b)| (n.as_str(), b.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("readings", ""),
            (
                "readings_202401",
                "FOR VALUES FROM ('2024-01-01') TO ('2024-02-01')"
            ),
            (
                "readings_202402",
                "FOR VALUES FROM ('2024-02-01') TO ('2024-03-01')"
            ),
            (
                "readings_202403",
                "FOR VALUES FROM ('2024-03-01') TO ('2024-04-01')"
            ),
        ]
    );
    let rows = readings(&mut client);
    assert_eq!(rows.len(), 6);
    assert_eq!(rows[0].3, "metrics.readings_202401");
    assert_eq!(rows[5].3, "metrics.readings_202403");
    // The parent has the key, every partition its index.
    let keyed: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_index i JOIN pg_partition_tree('metrics.readings') t \
             ON t.relid = i.indrelid WHERE i.indisprimary",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(keyed, 4);

    // A re-run plans nothing and keeps every OID.
    let plan = pg_bulk_ingest::plan::<Reading>(&mut client, Mode::Insert).unwrap();
    assert_eq!(plan.path(), pg_bulk_ingest::plan::Path::Nothing, "{plan}");
    let more = vec![reading(3, day(2024, 2, 11), 7.0)];
    load(&mut client, &more);
    assert_eq!(tree(&mut client, "metrics.readings"), before);
    let plan = pg_bulk_ingest::plan::<Reading>(&mut client, Mode::Upsert).unwrap();
    assert!(plan.changes().is_empty(), "{plan}");

    // A fourth month makes one more partition, the others stay.
    load(&mut client, &[reading(1, day(2024, 4, 1), 1.0)]);
    let after = tree(&mut client, "metrics.readings");
    assert_eq!(after.len(), 5);
    assert!(before.iter().all(|p| after.contains(p)));
}

#[test]
fn upsert_mirror_and_slice_replace_on_a_partitioned_table() {
    let db = pg_bulk_ingest_testkit::server().create_database("part_modes");
    let mut client = db.connect();
    load(&mut client, &three_months());

    // Upsert: one row changed, one new in a new month.
    let mut tx = client.transaction().unwrap();
    let report = pg_bulk_ingest::upsert(
        &mut tx,
        vec![
            reading(1, day(2024, 1, 5), 100.0),
            reading(1, day(2024, 5, 1), 5.0),
        ],
    )
    .unwrap();
    tx.commit().unwrap();
    let t = &report.tables[0];
    assert_eq!((t.inserted, t.updated), (Some(1), Some(1)));
    let rows = readings(&mut client);
    assert_eq!(
        rows[0],
        (1, day(2024, 1, 5), 100.0, "metrics.readings_202401".into())
    );
    assert_eq!(
        rows[3],
        (1, day(2024, 5, 1), 5.0, "metrics.readings_202405".into())
    );

    // Mirror: the table equals the snapshot.
    let snapshot = vec![
        reading(1, day(2024, 1, 5), 100.0),
        reading(2, day(2024, 2, 10), 12.0),
        reading(2, day(2024, 6, 1), 6.0),
    ];
    let mut tx = client.transaction().unwrap();
    let report = Ingest::new()
        .mirror(Delete::Rows)
        .mirror_guard(1.0)
        .upsert(&mut tx, &snapshot)
        .unwrap();
    tx.commit().unwrap();
    assert_eq!(report.tables[0].deleted, 5);
    let rows: Vec<(i32, NaiveDate, f64)> = readings(&mut client)
        .into_iter()
        .map(|r| (r.0, r.1, r.2))
        .collect();
    let expected: Vec<(i32, NaiveDate, f64)> = snapshot
        .iter()
        .map(|r| (r.sensor, r.day, r.value))
        .collect();
    assert_eq!(rows, expected);

    // Slice replace of February: its rows are the batch's, the rest stays.
    let february = Slice::range("day", day(2024, 2, 1), day(2024, 3, 1));
    let mut tx = client.transaction().unwrap();
    Ingest::new()
        .replace_slice(february.clone())
        .insert(
            &mut tx,
            vec![
                reading(7, day(2024, 2, 2), 1.0),
                reading(8, day(2024, 2, 28), 2.0),
            ],
        )
        .unwrap();
    tx.commit().unwrap();
    let rows: Vec<(i32, NaiveDate, f64)> = readings(&mut client)
        .into_iter()
        .map(|r| (r.0, r.1, r.2))
        .collect();
    assert_eq!(
        rows,
        [
            (1, day(2024, 1, 5), 100.0),
            (2, day(2024, 6, 1), 6.0),
            (7, day(2024, 2, 2), 1.0),
            (8, day(2024, 2, 28), 2.0),
        ]
    );

    // A row outside the slice is refused with its position; nothing changes,
    // not even a partition.
    let before = (tree(&mut client, "metrics.readings"), readings(&mut client));
    let mut tx = client.transaction().unwrap();
    let err = Ingest::new()
        .replace_slice(february)
        .insert(
            &mut tx,
            vec![
                reading(7, day(2024, 2, 2), 1.0),
                reading(9, day(2024, 9, 9), 2.0),
            ],
        )
        .unwrap_err();
    match &err {
        Error::OutsideSlice { row, column, .. } => assert_eq!((*row, column.as_str()), (1, "day")),
        other => panic!("{other}"),
    }
    // The transaction is usable, and the table as it was.
    tx.commit().unwrap();
    assert_eq!(
        (tree(&mut client, "metrics.readings"), readings(&mut client)),
        before
    );
}

/// A list-partitioned table someone made by hand; the struct declares no
/// partitioning.
#[derive(BulkTable, Debug, Clone, PartialEq)]
#[bulk(schema = "shop", table = "sales")]
struct Sale {
    #[bulk(primary_key)]
    region: String,
    #[bulk(primary_key)]
    id: i64,
    amount: i64,
    note: Option<String>,
}

fn sale(region: &str, id: i64, amount: i64) -> Sale {
    Sale {
        region: region.into(),
        id,
        amount,
        note: None,
    }
}

#[test]
fn a_user_made_list_partitioned_table_is_loaded_as_it_is() {
    let db = pg_bulk_ingest_testkit::server().create_database("part_list");
    let mut client = db.connect();
    client
        .batch_execute(
            "CREATE SCHEMA shop; \
             CREATE TABLE shop.sales (region text NOT NULL, id bigint NOT NULL, \
               amount bigint NOT NULL, note text, PRIMARY KEY (region, id)) \
               PARTITION BY LIST (region); \
             CREATE TABLE shop.sales_eu PARTITION OF shop.sales FOR VALUES IN ('eu'); \
             CREATE TABLE shop.sales_us PARTITION OF shop.sales FOR VALUES IN ('us');",
        )
        .unwrap();
    let before = tree(&mut client, "shop.sales");
    for _ in 0..2 {
        let mut tx = client.transaction().unwrap();
        pg_bulk_ingest::upsert(&mut tx, vec![sale("eu", 1, 10), sale("us", 2, 20)]).unwrap();
        pg_bulk_ingest::insert(&mut tx, vec![sale("eu", 3, 30)]).unwrap();
        tx.rollback().unwrap();
    }
    let mut tx = client.transaction().unwrap();
    pg_bulk_ingest::upsert(&mut tx, vec![sale("eu", 1, 10), sale("us", 2, 20)]).unwrap();
    pg_bulk_ingest::upsert(&mut tx, vec![sale("eu", 1, 11)]).unwrap();
    tx.commit().unwrap();
    assert_eq!(tree(&mut client, "shop.sales"), before);
    let rows: Vec<(String, i64, i64, String)> = client
        .query(
            "SELECT region, id, amount, tableoid::regclass::text FROM shop.sales ORDER BY id",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    assert_eq!(
        rows,
        [
            ("eu".into(), 1, 11, "shop.sales_eu".into()),
            ("us".into(), 2, 20, "shop.sales_us".into())
        ]
    );
    // A row no partition takes fails the call, naming its position.
    let mut tx = client.transaction().unwrap();
    let err =
        pg_bulk_ingest::insert(&mut tx, vec![sale("eu", 4, 1), sale("mars", 5, 1)]).unwrap_err();
    assert!(err.to_string().contains("mars"), "{err}");
    tx.commit().unwrap();

    // A nullable column is added in place, on the parent; the OIDs stay.
    #[derive(BulkTable)]
    #[bulk(schema = "shop", table = "sales")]
    struct SaleV2 {
        #[bulk(primary_key)]
        region: String,
        #[bulk(primary_key)]
        id: i64,
        amount: i64,
        note: Option<String>,
        channel: Option<String>,
    }
    let mut tx = client.transaction().unwrap();
    pg_bulk_ingest::insert(
        &mut tx,
        vec![SaleV2 {
            region: "us".into(),
            id: 6,
            amount: 1,
            note: None,
            channel: Some("web".into()),
        }],
    )
    .unwrap();
    tx.commit().unwrap();
    assert_eq!(tree(&mut client, "shop.sales"), before);
    let channel: Option<String> = client
        .query_one("SELECT channel FROM shop.sales_us WHERE id = 6", &[])
        .unwrap()
        .get(0);
    assert_eq!(channel.as_deref(), Some("web"));

    // A change that would rebuild the table is refused, and replace too.
    #[derive(BulkTable)]
    #[bulk(schema = "shop", table = "sales")]
    struct SaleV3 {
        #[bulk(primary_key)]
        region: String,
        #[bulk(primary_key)]
        id: i64,
        amount: i64,
        note: Option<String>,
        #[bulk(index)]
        channel: Option<String>,
    }
    let mut tx = client.transaction().unwrap();
    let err = pg_bulk_ingest::insert(
        &mut tx,
        vec![SaleV3 {
            region: "us".into(),
            id: 7,
            amount: 1,
            note: None,
            channel: None,
        }],
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("a partitioned table is not rebuilt"),
        "{err}"
    );
    let err = pg_bulk_ingest::replace(&mut tx, vec![sale("eu", 1, 1)]).unwrap_err();
    assert!(
        err.to_string()
            .contains("replace is not done on a partitioned table"),
        "{err}"
    );
    tx.commit().unwrap();
    assert_eq!(tree(&mut client, "shop.sales"), before);
}

/// Declared list and hash partitionings, and a default partition.
#[derive(BulkTable, Debug, Clone, PartialEq)]
#[bulk(
    schema = "shop",
    table = "orders",
    partition_by = "list (region)",
    default_partition
)]
struct Order {
    #[bulk(primary_key)]
    region: String,
    #[bulk(primary_key)]
    id: i64,
}

#[derive(BulkTable, Debug, Clone, PartialEq)]
#[bulk(
    schema = "shop",
    table = "events",
    partition_by = "hash (tenant)",
    partitions = 4
)]
struct Event {
    #[bulk(primary_key)]
    tenant: i32,
    #[bulk(primary_key)]
    id: i64,
}

#[test]
fn list_partitions_per_value_and_hash_partitions_with_the_table() {
    let db = pg_bulk_ingest_testkit::server().create_database("part_list_hash");
    let mut client = db.connect();
    let order = |region: &str, id| Order {
        region: region.into(),
        id,
    };
    let mut tx = client.transaction().unwrap();
    pg_bulk_ingest::insert(
        &mut tx,
        vec![
            order("eu", 1),
            order("Asia Pacific", 2),
            order("default", 3),
        ],
    )
    .unwrap();
    let events: Vec<Event> = (0..40)
        .map(|i| Event {
            tenant: i % 7,
            id: i.into(),
        })
        .collect();
    pg_bulk_ingest::upsert(&mut tx, &events).unwrap();
    tx.commit().unwrap();
    let names: Vec<String> = tree(&mut client, "shop.orders")
        .into_iter()
        .map(|p| p.0)
        .collect();
    assert_eq!(names.len(), 5, "{names:?}");
    assert!(names.contains(&"orders_eu".to_owned()), "{names:?}");
    assert!(names.contains(&"orders_default".to_owned()), "{names:?}");
    // Values that are no plain name get a hash of themselves.
    assert_eq!(
        names.iter().filter(|n| n.starts_with("orders__")).count(),
        2,
        "{names:?}"
    );
    let in_default: i64 = client
        .query_one("SELECT count(*) FROM shop.orders_default", &[])
        .unwrap()
        .get(0);
    assert_eq!(in_default, 0);
    let before = tree(&mut client, "shop.orders");
    let mut tx = client.transaction().unwrap();
    pg_bulk_ingest::upsert(&mut tx, vec![order("eu", 1), order("default", 4)]).unwrap();
    tx.commit().unwrap();
    assert_eq!(tree(&mut client, "shop.orders"), before);

    let hashed = tree(&mut client, "shop.events");
    assert_eq!(hashed.len(), 5);
    let count: i64 = client
        .query_one("SELECT count(*) FROM shop.events", &[])
        .unwrap()
        .get(0);
    assert_eq!(count, 40);
}

#[test]
fn a_declared_partitioning_the_live_table_lacks_is_refused() {
    let db = pg_bulk_ingest_testkit::server().create_database("part_refused");
    let mut client = db.connect();
    client
        .batch_execute(
            "CREATE SCHEMA metrics; CREATE TABLE metrics.readings (sensor int4 NOT NULL, \
             day date NOT NULL, value float8 NOT NULL, PRIMARY KEY (sensor, day))",
        )
        .unwrap();
    let mut tx = client.transaction().unwrap();
    let err = pg_bulk_ingest::insert(&mut tx, three_months()).unwrap_err();
    assert!(
        err.to_string().contains("the table is not partitioned"),
        "{err}"
    );
    tx.commit().unwrap();
}

/// Two calls that need the same new partition: the second waits for the
/// first (their advisory lock), then uses the partition it made, in READ
/// COMMITTED (it reads the catalog after the wait) and in REPEATABLE READ
/// (its snapshot predates the partition: the name taken by a partition of
/// the same table is used).
#[test]
fn two_calls_needing_one_new_partition_both_land() {
    let db = pg_bulk_ingest_testkit::server().create_database("part_race");
    let mut client = db.connect();
    load(&mut client, &[reading(0, day(2024, 1, 1), 0.0)]);
    for (isolation, month) in [("READ COMMITTED", 7), ("REPEATABLE READ", 8)] {
        let mut first = db.connect();
        let mut tx = first.transaction().unwrap();
        pg_bulk_ingest::insert(&mut tx, vec![reading(1, day(2024, month, 1), 1.0)]).unwrap();
        let config = db.config().clone();
        let second = std::thread::spawn(move || {
            let mut client = config.connect(postgres::NoTls).unwrap();
            let mut tx = client
                .build_transaction()
                .isolation_level(if isolation == "READ COMMITTED" {
                    postgres::IsolationLevel::ReadCommitted
                } else {
                    postgres::IsolationLevel::RepeatableRead
                })
                .start()
                .unwrap();
            // The snapshot is taken before the first call commits.
            tx.query_one("SELECT 1", &[]).unwrap();
            pg_bulk_ingest::insert(&mut tx, vec![reading(2, day(2024, month, 2), 2.0)])?;
            tx.commit().map_err(|e| pg_bulk_ingest::Error::Postgres {
                table: String::new(),
                source: e,
            })
        });
        std::thread::sleep(std::time::Duration::from_millis(500));
        tx.commit().unwrap();
        second
            .join()
            .unwrap()
            .unwrap_or_else(|e| panic!("{isolation}: {e}"));
        let name = format!("readings_2024{month:02}");
        let rows: i64 = client
            .query_one(&format!("SELECT count(*) FROM metrics.{name}"), &[])
            .unwrap()
            .get(0);
        assert_eq!(rows, 2, "{isolation}");
    }
    assert_eq!(tree(&mut client, "metrics.readings").len(), 4);
}

/// Weekly partitions of a `timestamptz`, cut at UTC midnight whatever the
/// session's time zone.
#[derive(BulkTable, Debug, Clone, PartialEq)]
#[bulk(
    schema = "metrics",
    table = "ticks",
    partition_by = "range (at)",
    partition_interval = "week"
)]
struct Tick {
    #[bulk(primary_key)]
    at: chrono::DateTime<chrono::Utc>,
}

#[test]
fn weekly_timestamptz_partitions_are_cut_at_utc_midnight() {
    let db = pg_bulk_ingest_testkit::server().create_database("part_weeks");
    let mut client = db.connect();
    client.batch_execute("SET TimeZone = 'Asia/Tokyo'").unwrap();
    let at = |s: &str| Tick {
        at: s.parse().unwrap(),
    };
    // Wednesday 2024-01-03 and Sunday 2024-01-07 23:30 UTC (a Monday in
    // Tokyo): one week; Monday 2024-01-08 00:00 UTC: the next.
    let mut tx = client.transaction().unwrap();
    pg_bulk_ingest::insert(
        &mut tx,
        vec![
            at("2024-01-03T12:00:00Z"),
            at("2024-01-07T23:30:00Z"),
            at("2024-01-08T00:00:00Z"),
        ],
    )
    .unwrap();
    tx.commit().unwrap();
    client.batch_execute("SET TimeZone = 'UTC'").unwrap();
    let parts: Vec<(String, String)> = tree(&mut client, "metrics.ticks")
        .into_iter()
        .skip(1)
        .map(|(n, _, b)| (n, b))
        .collect();
    assert_eq!(
        parts,
        [
            (
                "ticks_20240101".to_owned(),
                "FOR VALUES FROM ('2024-01-01 00:00:00+00') TO ('2024-01-08 00:00:00+00')"
                    .to_owned()
            ),
            (
                "ticks_20240108".to_owned(),
                "FOR VALUES FROM ('2024-01-08 00:00:00+00') TO ('2024-01-15 00:00:00+00')"
                    .to_owned()
            ),
        ]
    );
}
