//! An upsert's rows that equal their stored rows are compared before staging
//! and left out of it (PostgreSQL 15 and later, where the merge is a
//! `MERGE`; before, every row is staged): the table, the counts and the
//! errors are what they were when every row was staged and merged.

use pg_bulk_ingest::{BulkTable, Duplicates, Error, Ingest, NewTableKind};
use postgres::Client;

#[derive(BulkTable, Clone, Debug)]
#[bulk(schema = "public", table = "item")]
struct Item {
    #[bulk(primary_key)]
    id: i64,
    name: String,
    #[bulk(sql_type = "numeric(12,2)")]
    amount: rust_decimal::Decimal,
    note: Option<String>,
}

fn item(id: i64, version: u32) -> Item {
    Item {
        id,
        name: format!("item {id} v{version}"),
        amount: rust_decimal::Decimal::new(id * 7 % 10_000, 2),
        note: (id % 3 == 0).then(|| format!("note {id}")),
    }
}

fn items(ids: std::ops::Range<i64>, version: u32) -> Vec<Item> {
    ids.map(|id| item(id, version)).collect()
}

/// Rows of several runs of the comparison (1,024, 2,048, 4,096, then 8,192
/// rows each).
const N: i64 = 3 * 8192 + 1000;

fn connect(name: &str) -> (pg_bulk_ingest_testkit::TestDb, Client) {
    let db = pg_bulk_ingest_testkit::server().create_database(name);
    let mut client = db.connect();
    let mut tx = client.transaction().unwrap();
    pg_bulk_ingest::insert(&mut tx, items(0..N, 0)).unwrap();
    tx.batch_execute(pg_bulk_ingest_testkit::COUNT_STAGED)
        .unwrap();
    tx.commit().unwrap();
    (db, client)
}

/// Each row's id, name and the transaction that wrote it.
fn stored(client: &mut Client) -> Vec<(i64, String, String)> {
    client
        .query(
            "SELECT id, name, xmin::text FROM public.item ORDER BY id",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
}

/// Rows inserted, updated, unchanged, and duplicates, as the report tells.
fn counts(report: &pg_bulk_ingest::Report) -> (Option<u64>, Option<u64>, Option<u64>, u64) {
    let t = &report.tables[0];
    (t.inserted, t.updated, t.unchanged, t.duplicates)
}

/// An `Ingest` whose staging table counts the rows COPYed into it, in the
/// transaction's setting `test.staged` (read with [`staged`]).
fn counting_staged() -> Ingest<'static> {
    Ingest::new().on_new_table(|tx, table| {
        if table.kind() == NewTableKind::Staging {
            tx.batch_execute(&pg_bulk_ingest_testkit::count_staged_trigger(
                &table.qualified().to_string(),
            ))?;
        }
        Ok(())
    })
}

fn staged(tx: &mut postgres::Transaction<'_>) -> i64 {
    pg_bulk_ingest_testkit::staged_rows(tx)
}

/// Whether this server's upserts compare rows before staging.
fn compared_here(client: &mut Client) -> bool {
    pg_bulk_ingest_testkit::major(client) >= 15
}

fn compares(report: &pg_bulk_ingest::Report) -> bool {
    report.tables[0]
        .plan
        .steps()
        .iter()
        .any(|s| s.stage() == pg_bulk_ingest::plan::Stage::Load && s.sql().starts_with("SELECT "))
}

#[test]
fn a_rerun_rewrites_nothing_and_counts_every_row_unchanged() {
    let (_db, mut client) = connect("unchanged_rerun");
    let here = compared_here(&mut client);
    let before = stored(&mut client);
    let mut tx = client.transaction().unwrap();
    let report = counting_staged().upsert(&mut tx, items(0..N, 0)).unwrap();
    assert_eq!(staged(&mut tx), if here { 0 } else { N }, "rows staged");
    tx.commit().unwrap();
    assert_eq!(compares(&report), here, "{}", report.tables[0].plan);
    assert_eq!(counts(&report), (Some(0), Some(0), Some(N as u64), 0));
    assert_eq!(report.tables[0].written, 0);
    assert_eq!(stored(&mut client), before, "no row was written again");
}

#[test]
fn changed_and_new_rows_among_equal_ones_are_merged() {
    let (_db, mut client) = connect("unchanged_mixed");
    let here = compared_here(&mut client);
    let before = stored(&mut client);
    // Changed rows in the first run, a block of changed rows that makes
    // the run it starts in mostly changed (the comparison stops after it),
    // and new rows at the end.
    let mut rows = items(0..100, 0);
    rows.extend(items(100..110, 1));
    rows.extend(items(110..8192 + 500, 0));
    rows.extend(items(8192 + 500..2 * 8192 + 500, 2));
    rows.extend(items(2 * 8192 + 500..N, 0));
    rows.extend(items(N..N + 50, 0));
    let total = rows.len() as i64;
    let mut tx = client.transaction().unwrap();
    let report = counting_staged().upsert(&mut tx, rows).unwrap();
    // Left out: the equal rows up to the changed block, which starts in
    // the fourth run (7,168..15,359), after which the comparison stops.
    // The new rows, their keys above the greatest stored one, go straight
    // into the table.
    let (left_out, appended) = if here { (8192 + 500 - 10, 50) } else { (0, 0) };
    assert_eq!(staged(&mut tx), total - left_out - appended);
    tx.commit().unwrap();
    let updated = 10 + 8192;
    assert_eq!(
        counts(&report),
        (Some(50), Some(updated), Some(N as u64 - updated), 0)
    );
    let after = stored(&mut client);
    assert_eq!(after.len(), N as usize + 50);
    for (id, name, xmin) in &after {
        let version = match id {
            100..110 => 1,
            id if (8192 + 500..2 * 8192 + 500).contains(id) => 2,
            _ => 0,
        };
        assert_eq!(name, &format!("item {id} v{version}"));
        if let Some((_, _, was)) = before.get(*id as usize) {
            assert_eq!(
                version == 0,
                was == xmin,
                "row {id} rewritten or not as it should"
            );
        }
    }
}

#[test]
fn a_later_row_of_a_key_left_out_wins_and_the_earlier_is_a_duplicate() {
    let (_db, mut client) = connect("unchanged_repeat");
    let here = compared_here(&mut client);
    // Rows 0..10000 equal (left out up to the run where the order breaks),
    // then keys 5 and 6 again: 5 changed, 6 equal; the last row of each key
    // wins.
    let mut rows = items(0..10_000, 0);
    rows.push(item(5, 1));
    rows.push(item(6, 0));
    let mut tx = client.transaction().unwrap();
    let report = pg_bulk_ingest::upsert(&mut tx, rows).unwrap();
    tx.commit().unwrap();
    assert_eq!(compares(&report), here);
    // 15+: the rows of keys 5 and 6 left out are duplicates. 12-14 stage
    // every row, and `ON CONFLICT DO UPDATE ... WHERE` does not see a
    // repeat whose earlier row changed nothing: all count as merged.
    let expected = match here {
        true => (Some(0), Some(1), Some(10_000 - 2 + 1), 2),
        false => (Some(0), Some(1), Some(10_000 + 1), 0),
    };
    assert_eq!(counts(&report), expected);
    let five: String = client
        .query_one("SELECT name FROM public.item WHERE id = 5", &[])
        .unwrap()
        .get(0);
    assert_eq!(five, "item 5 v1");
}

#[test]
fn only_the_last_row_of_a_key_is_left_out_of_nothing_else() {
    // With the first row of a key kept, or a repeat refused, every row is
    // staged: leaving the first row out would let a later one win.
    let (_db, mut client) = connect("unchanged_other_choices");
    for duplicates in [Duplicates::KeepFirst, Duplicates::Error] {
        let mut rows = items(0..100, 0);
        rows.push(item(5, 1));
        let mut tx = client.transaction().unwrap();
        let result = Ingest::new().duplicates(duplicates).upsert(&mut tx, rows);
        tx.rollback().unwrap();
        match (duplicates, result) {
            (Duplicates::KeepFirst, Ok(report)) => {
                assert!(!compares(&report));
                assert_eq!(counts(&report), (Some(0), Some(0), Some(100), 1));
            }
            (Duplicates::Error, Err(Error::DuplicateKey { rows, .. })) => {
                assert_eq!(rows, Some((5, 100)));
            }
            (d, r) => panic!("{d:?}: {r:?}"),
        }
    }
    let mut tx = client.transaction().unwrap();
    let report = pg_bulk_ingest::upsert(&mut tx, items(0..10, 0)).unwrap();
    tx.rollback().unwrap();
    assert_eq!(compares(&report), compared_here(&mut client));
}

#[test]
fn a_row_refused_after_rows_left_out_is_named_by_its_position() {
    let (_db, mut client) = connect("unchanged_refused");
    client
        .batch_execute(
            "ALTER TABLE public.item ADD CONSTRAINT no_bad CHECK (name <> 'bad') NOT VALID",
        )
        .unwrap();
    let before = stored(&mut client);
    let at = 8192 + 17;
    let mut rows = items(0..N, 0);
    rows[at].name = "bad".to_owned();
    let mut tx = client.transaction().unwrap();
    let err = pg_bulk_ingest::upsert(&mut tx, rows).unwrap_err();
    match &err {
        Error::RowRejected { row, .. } => assert_eq!(*row, Some(at as u64), "{err}"),
        other => panic!("{other:?}"),
    }
    // The transaction is usable, and nothing changed.
    tx.query_one("SELECT 1", &[]).unwrap();
    tx.commit().unwrap();
    assert_eq!(stored(&mut client), before);

    // A value the encoder refuses, in a run being compared.
    let mut rows = items(0..N, 0);
    rows[at + 1].name = "nul \0 inside".to_owned();
    let mut tx = client.transaction().unwrap();
    match pg_bulk_ingest::upsert(&mut tx, rows).unwrap_err() {
        Error::InvalidValue { row, column, .. } => {
            assert_eq!((row, column.as_str()), (at as u64 + 1, "name"));
        }
        other => panic!("{other:?}"),
    }
    tx.rollback().unwrap();
}

#[test]
fn a_smallint_key_and_keys_out_of_order() {
    #[derive(BulkTable, Clone, Debug)]
    #[bulk(schema = "public", table = "small")]
    struct Small {
        #[bulk(primary_key)]
        id: i16,
        name: String,
    }
    let small = |id: i16, v: u8| Small {
        id,
        name: format!("{id} v{v}"),
    };
    let db = pg_bulk_ingest_testkit::server().create_database("unchanged_small");
    let mut client = db.connect();
    let mut tx = client.transaction().unwrap();
    pg_bulk_ingest::insert(&mut tx, (-10_000..10_000).map(|i| small(i, 0))).unwrap();
    tx.commit().unwrap();
    // Two runs compared and left out, then keys out of order: the rows
    // after the break are staged, and two of them repeat keys left out.
    let rows = (-10_000..10_000)
        .map(|i| small(i, 0))
        .chain([small(299, 1), small(-300, 0)]);
    let mut tx = client.transaction().unwrap();
    let report = pg_bulk_ingest::upsert(&mut tx, rows).unwrap();
    tx.commit().unwrap();
    let here = compared_here(&mut client);
    assert_eq!(compares(&report), here);
    // As in the test above: 12-14 count the repeats as merged.
    let expected = match here {
        true => (Some(0), Some(1), Some(19_999), 2),
        false => (Some(0), Some(1), Some(20_001), 0),
    };
    assert_eq!(counts(&report), expected);
    let last: String = client
        .query_one("SELECT name FROM public.small WHERE id = 299", &[])
        .unwrap()
        .get(0);
    assert_eq!(last, "299 v1");
}
