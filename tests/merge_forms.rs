//! The merge's forms against a real server: from PostgreSQL 15 a `MERGE`
//! that leaves unchanged rows unlocked, and `INSERT ... ON CONFLICT` when a
//! key another session stores meanwhile makes the `MERGE` fail; the counts
//! from the transaction's row counters, and from `RETURNING` where
//! `track_counts` is off.

use std::time::Duration;

use pg_bulk_ingest::{BulkTable, Ingest};
use pg_bulk_ingest_testkit::major;
use postgres::Client;

#[derive(BulkTable, Clone, Debug)]
#[bulk(schema = "public", table = "item")]
struct Item {
    #[bulk(primary_key)]
    id: i64,
    name: String,
}

fn items(ids: std::ops::Range<i64>, name: &str) -> Vec<Item> {
    ids.map(|id| Item {
        id,
        name: format!("{name} {id}"),
    })
    .collect()
}

fn connect(name: &str) -> (pg_bulk_ingest_testkit::TestDb, Client) {
    let db = pg_bulk_ingest_testkit::server().create_database(name);
    let client = db.connect();
    (db, client)
}

fn seed(client: &mut Client, rows: Vec<Item>) {
    let mut tx = client.transaction().unwrap();
    pg_bulk_ingest::insert(&mut tx, rows).unwrap();
    tx.commit().unwrap();
}

fn names(client: &mut Client) -> Vec<(i64, String)> {
    client
        .query("SELECT id, name FROM public.item ORDER BY id", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

/// Rows inserted, updated and unchanged, as the report tells them.
fn counts(report: &pg_bulk_ingest::Report) -> (Option<u64>, Option<u64>, Option<u64>) {
    let t = &report.tables[0];
    (t.inserted, t.updated, t.unchanged)
}

#[test]
fn counts_are_exact_after_earlier_writes_in_the_same_session() {
    let (_db, mut client) = connect("forms_counts");
    seed(&mut client, items(0..10, "a"));
    // Writes of earlier transactions that the backend has not reported yet
    // are in its counters too: the merge counts the difference.
    for round in 0..3 {
        let mut tx = client.transaction().unwrap();
        let mut rows = items(0..4, "a");
        rows.extend(items(4..6, &format!("changed {round}")));
        rows.extend(items(10 + round * 2..12 + round * 2, "new"));
        let report = pg_bulk_ingest::upsert(&mut tx, rows).unwrap();
        tx.commit().unwrap();
        assert_eq!(
            counts(&report),
            (Some(2), Some(2), Some(4)),
            "round {round}"
        );
    }
    assert_eq!(names(&mut client).len(), 16);
}

#[test]
fn unchanged_rows_are_not_locked_from_postgresql_15() {
    let (_db, mut client) = connect("forms_unlocked");
    seed(&mut client, items(0..10, "a"));
    let major = major(&mut client);
    // Keys in increasing order (15+: compared before staging, and left out)
    // and out of order (staged and merged). ON CONFLICT DO UPDATE ... WHERE
    // locks each row it compares (12-14), MERGE does not (15+).
    let reversed: Vec<Item> = items(0..10, "a").into_iter().rev().collect();
    for rows in [items(0..10, "a"), reversed] {
        let mut tx = client.transaction().unwrap();
        let report = pg_bulk_ingest::upsert(&mut tx, rows).unwrap();
        assert_eq!(counts(&report), (Some(0), Some(0), Some(10)));
        // Which stored rows the call locked: the seed committed them with
        // no xmax; a lock sets it (to the xid of the call's savepoint).
        let locked: i64 = tx
            .query_one(
                "SELECT count(*) FROM public.item WHERE xmax::text <> '0'",
                &[],
            )
            .unwrap()
            .get(0);
        tx.rollback().unwrap();
        let expected = if major >= 15 { 0 } else { 10 };
        assert_eq!(locked, expected, "PostgreSQL {major}");
    }
}

#[test]
fn a_key_another_session_stores_meanwhile_is_updated() {
    let (db, mut client) = connect("forms_race");
    seed(&mut client, items(0..5, "a"));
    // Another session inserts key 7 and holds its transaction open.
    let mut other = db.connect();
    other.batch_execute("BEGIN").unwrap();
    other
        .execute("INSERT INTO public.item VALUES (7, 'theirs')", &[])
        .unwrap();
    let config = db.config().clone();
    let upsert = std::thread::spawn(move || {
        let mut client = config.connect(postgres::NoTls).unwrap();
        let mut tx = client.transaction().unwrap();
        // Its snapshot does not see key 7: the MERGE inserts it and waits
        // for the other session, whose commit makes it a unique violation.
        let report = Ingest::new().upsert(&mut tx, items(3..9, "ours")).unwrap();
        tx.commit().unwrap();
        report
    });
    // Until the upsert waits on the other session's row.
    let mut watcher = db.connect();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let waiting: i64 = watcher
            .query_one(
                "SELECT count(*) FROM pg_catalog.pg_stat_activity \
                 WHERE datname = current_database() AND wait_event_type = 'Lock'",
                &[],
            )
            .unwrap()
            .get(0);
        if waiting > 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the upsert never waited"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    other.batch_execute("COMMIT").unwrap();
    let report = upsert.join().unwrap();
    // Keys 3, 4 and 7 were stored when the statement that counts ran.
    assert_eq!(counts(&report), (Some(3), Some(3), Some(0)));
    let mut expected: Vec<(i64, String)> = (0..3).map(|i| (i, format!("a {i}"))).collect();
    expected.extend((3..9).map(|i| (i, format!("ours {i}"))));
    assert_eq!(names(&mut client), expected);
}

#[test]
fn counts_come_from_returning_where_track_counts_is_off() {
    let (_db, mut client) = connect("forms_no_counters");
    seed(&mut client, items(0..10, "a"));
    client.batch_execute("SET track_counts = off").unwrap();
    let mut tx = client.transaction().unwrap();
    let mut rows = items(0..6, "a");
    rows.extend(items(6..8, "changed"));
    rows.extend(items(10..13, "new"));
    let report = pg_bulk_ingest::upsert(&mut tx, rows).unwrap();
    tx.commit().unwrap();
    assert_eq!(counts(&report), (Some(3), Some(2), Some(6)));
    let merge = report.tables[0]
        .plan
        .statements()
        .into_iter()
        .find(|s| s.contains("INSERT INTO \"public\".\"item\""))
        .unwrap()
        .to_owned();
    assert!(merge.starts_with("WITH merged AS ("), "{merge}");
}

#[test]
fn the_last_row_of_a_repeated_key_wins_when_it_equals_the_stored_row() {
    let (_db, mut client) = connect("forms_repeat");
    seed(&mut client, items(0..3, "a"));
    // Key 1 twice: first a change, then the stored values again.
    let rows = vec![
        Item {
            id: 1,
            name: "changed".into(),
        },
        Item {
            id: 1,
            name: "a 1".into(),
        },
        Item {
            id: 2,
            name: "a 2".into(),
        },
    ];
    let mut tx = client.transaction().unwrap();
    let report = pg_bulk_ingest::upsert(&mut tx, rows).unwrap();
    tx.commit().unwrap();
    assert_eq!(
        names(&mut client),
        vec![(0, "a 0".into()), (1, "a 1".into()), (2, "a 2".into())]
    );
    assert_eq!(report.tables[0].duplicates, 1);
}

/// Keys out of order: the `MERGE` (PostgreSQL 15) reads the staged rows
/// sorted by key, with `work_mem` raised to 64 MB for that statement (see
/// `plan_steps::round_trips_of_a_call_on_an_unchanged_table`); the
/// caller's own value is back afterwards, in its transaction.
#[test]
fn a_sorted_merge_has_the_memory_to_sort_and_gives_it_back() {
    let (_db, mut client) = connect("forms_sorted");
    seed(&mut client, items(0..1000, "a"));
    let mut tx = client.transaction().unwrap();
    tx.batch_execute("SET LOCAL work_mem = '5MB'").unwrap();
    let mut rows = items(0..2000, "b");
    rows.reverse();
    let report = pg_bulk_ingest::upsert(&mut tx, rows).unwrap();
    let work_mem: String = tx.query_one("SHOW work_mem", &[]).unwrap().get(0);
    tx.commit().unwrap();
    assert_eq!(work_mem, "5MB");
    assert_eq!(counts(&report), (Some(1000), Some(1000), Some(0)));
    assert_eq!(names(&mut client).len(), 2000);
}
