//! An upsert's rows whose key is above the greatest stored key go straight
//! into the table in a COPY of their own instead of being staged and merged
//! (PostgreSQL 15 and later, where rows are compared before staging; before,
//! every row is staged): the table, the counts and the errors are what they
//! were when every row was staged, in any order of the keys, with keys
//! repeated, and with another session storing one of the keys meanwhile.

use pg_bulk_ingest::{BulkTable, Error, Ingest, NewTableKind};
use postgres::Client;

#[derive(BulkTable, Clone, Debug)]
#[bulk(schema = "public", table = "item")]
struct Item {
    #[bulk(primary_key)]
    id: i64,
    name: String,
    note: Option<String>,
}

fn item(id: i64, version: u32) -> Item {
    Item {
        id,
        name: format!("item {id} v{version}"),
        note: (id % 3 == 0).then(|| format!("note {id}")),
    }
}

fn items(ids: impl IntoIterator<Item = i64>, version: u32) -> Vec<Item> {
    ids.into_iter().map(|id| item(id, version)).collect()
}

/// Rows stored before each test: keys 0 to 999.
const STORED: i64 = 1000;

/// A database whose table holds [`STORED`] rows, and a function that counts
/// rows COPYed into a staging table (see [`counting_staged`]).
fn connect(name: &str) -> (pg_bulk_ingest_testkit::TestDb, Client) {
    let db = pg_bulk_ingest_testkit::server().create_database(name);
    let mut client = db.connect();
    let mut tx = client.transaction().unwrap();
    pg_bulk_ingest::insert(&mut tx, items(0..STORED, 0)).unwrap();
    tx.batch_execute(pg_bulk_ingest_testkit::COUNT_STAGED)
        .unwrap();
    tx.commit().unwrap();
    (db, client)
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

/// Each stored row's id and name, in key order.
fn stored(client: &mut Client) -> Vec<(i64, String)> {
    client
        .query("SELECT id, name FROM public.item ORDER BY id", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

/// Rows inserted, updated, unchanged, duplicates, and rows written, as the
/// report tells.
fn counts(report: &pg_bulk_ingest::Report) -> (Option<u64>, Option<u64>, Option<u64>, u64, u64) {
    let t = &report.tables[0];
    (t.inserted, t.updated, t.unchanged, t.duplicates, t.written)
}

/// Whether the plan COPYs rows straight into the table.
fn appends(report: &pg_bulk_ingest::Report) -> bool {
    report.tables[0]
        .plan
        .statements()
        .iter()
        .any(|s| s.starts_with(r#"COPY "public"."item""#))
}

/// Whether this server's upserts compare rows before staging, and append.
fn appended_here(client: &mut Client) -> bool {
    pg_bulk_ingest_testkit::major(client) >= 15
}

#[test]
fn new_keys_go_straight_into_the_table_in_any_order() {
    let (_db, mut client) = connect("appended_any_order");
    let here = appended_here(&mut client);
    // 100 changed rows, then 400 new keys out of order.
    let mut rows = items(900..STORED, 1);
    rows.extend(items((0..400).map(|i| STORED + i * 7 % 400), 1));
    let mut tx = client.transaction().unwrap();
    let report = counting_staged().upsert(&mut tx, rows).unwrap();
    assert_eq!(staged(&mut tx), if here { 100 } else { 500 }, "rows staged");
    tx.commit().unwrap();
    assert_eq!(appends(&report), here, "{}", report.tables[0].plan);
    assert_eq!(counts(&report), (Some(400), Some(100), Some(0), 0, 500));
    let after = stored(&mut client);
    assert_eq!(after.len(), STORED as usize + 400);
    for (id, name) in after {
        let version = u32::from(id >= 900);
        assert_eq!(name, format!("item {id} v{version}"));
    }
}

#[test]
fn a_later_row_of_an_appended_key_wins_and_counts_as_a_duplicate() {
    let (_db, mut client) = connect("appended_repeat");
    // Keys 1000..1009 are new; key 5 breaks the order; 1003 comes again
    // twice, changed, and 1004 once, the same.
    let mut rows = items(STORED..STORED + 10, 1);
    rows.push(item(5, 1));
    rows.push(item(STORED + 3, 2));
    rows.push(item(STORED + 4, 1));
    rows.push(item(STORED + 3, 3));
    let mut tx = client.transaction().unwrap();
    let report = counting_staged().upsert(&mut tx, rows).unwrap();
    tx.commit().unwrap();
    // Each new key once inserted, key 5 updated, and the earlier rows of
    // 1003 (two) and 1004 (one) duplicates, on every major.
    assert_eq!(counts(&report), (Some(10), Some(1), Some(0), 3, 11));
    let after = stored(&mut client);
    assert_eq!(after.len(), STORED as usize + 10);
    assert_eq!(after[5].1, "item 5 v1");
    assert_eq!(
        after[STORED as usize + 3].1,
        format!("item {} v3", STORED + 3)
    );
    assert_eq!(
        after[STORED as usize + 4].1,
        format!("item {} v1", STORED + 4)
    );
}

#[test]
fn a_key_another_session_stores_meanwhile_is_merged_instead() {
    let (db, mut client) = connect("appended_race");
    let here = appended_here(&mut client);
    let mut other = db.connect();
    // The other session stores key 1005 (committed) once the call has read
    // the greatest stored key and taken the batch's first rows.
    let rows = items(STORED..STORED + 10, 1)
        .into_iter()
        .enumerate()
        .map(move |(i, row)| {
            if i == 1 {
                other
                    .execute(
                        "INSERT INTO public.item (id, name) VALUES ($1, 'other')",
                        &[&(STORED + 5)],
                    )
                    .unwrap();
            }
            row
        });
    let mut tx = client.transaction().unwrap();
    let report = counting_staged().upsert(&mut tx, rows).unwrap();
    // The append failed on 1005: every row was staged and merged.
    assert_eq!(staged(&mut tx), 10);
    tx.commit().unwrap();
    assert_eq!(appends(&report), here, "{}", report.tables[0].plan);
    assert_eq!(counts(&report), (Some(9), Some(1), Some(0), 0, 10));
    let after = stored(&mut client);
    assert_eq!(after.len(), STORED as usize + 10);
    for (id, name) in &after[STORED as usize..] {
        assert_eq!(name, &format!("item {id} v1"), "the batch's row wins");
    }
}

#[test]
fn a_new_row_refused_is_named_by_its_position_and_changes_nothing() {
    let (_db, mut client) = connect("appended_refused");
    client
        .batch_execute("ALTER TABLE public.item ADD CONSTRAINT no_bad CHECK (name <> 'bad')")
        .unwrap();
    let before = stored(&mut client);
    // Changed rows first, then new ones: the fourth new row is refused.
    let mut rows = items(990..STORED, 1);
    rows.extend(items(STORED..STORED + 10, 1));
    rows[13].name = "bad".to_owned();
    let mut tx = client.transaction().unwrap();
    let err = pg_bulk_ingest::upsert(&mut tx, rows).unwrap_err();
    match &err {
        Error::RowRejected { row, .. } => assert_eq!(*row, Some(13), "{err}"),
        other => panic!("{other:?}"),
    }
    // The transaction is usable, and nothing changed.
    tx.query_one("SELECT 1", &[]).unwrap();
    tx.commit().unwrap();
    assert_eq!(stored(&mut client), before);
}

#[test]
fn a_table_with_a_trigger_or_no_rows_and_what_each_appends() {
    let (_db, mut client) = connect("appended_trigger");
    let here = appended_here(&mut client);
    // A statement trigger would fire once per COPY: no append.
    client
        .batch_execute(
            "CREATE FUNCTION public.noted() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RETURN NULL; END $$; \
             CREATE TRIGGER noted AFTER INSERT ON public.item \
             FOR EACH STATEMENT EXECUTE FUNCTION public.noted()",
        )
        .unwrap();
    let mut tx = client.transaction().unwrap();
    let report = counting_staged()
        .upsert(&mut tx, items(STORED..STORED + 20, 1))
        .unwrap();
    tx.rollback().unwrap();
    assert!(!appends(&report), "{}", report.tables[0].plan);
    assert_eq!(counts(&report), (Some(20), Some(0), Some(0), 0, 20));
    client
        .batch_execute("DROP TRIGGER noted ON public.item")
        .unwrap();

    // No row stored: every key is new, from the first one on; a key below
    // the first is staged, as is a repeat.
    client.batch_execute("DELETE FROM public.item").unwrap();
    let mut rows = items(10..20, 1);
    rows.push(item(5, 1));
    rows.push(item(12, 2));
    let mut tx = client.transaction().unwrap();
    let report = counting_staged().upsert(&mut tx, rows).unwrap();
    assert_eq!(staged(&mut tx), if here { 2 } else { 12 }, "rows staged");
    tx.commit().unwrap();
    assert_eq!(appends(&report), here, "{}", report.tables[0].plan);
    assert_eq!(counts(&report), (Some(11), Some(0), Some(0), 1, 11));
    let after = stored(&mut client);
    assert_eq!(after.len(), 11);
    assert_eq!(after[0], (5, "item 5 v1".to_owned()));
    assert_eq!(after[3], (12, "item 12 v2".to_owned()));
}

/// Another session stores key `key` with `name` once the call has taken
/// the rows before input position `at`.
fn stored_meanwhile(
    db: &pg_bulk_ingest_testkit::TestDb,
    rows: Vec<Item>,
    at: usize,
    key: i64,
    name: String,
) -> impl Iterator<Item = Item> {
    let mut other = db.connect();
    rows.into_iter().enumerate().map(move |(i, row)| {
        if i == at {
            other
                .execute(
                    "INSERT INTO public.item (id, name) VALUES ($1, $2)",
                    &[&key, &name],
                )
                .unwrap();
        }
        row
    })
}

#[test]
fn a_later_row_of_a_key_stored_meanwhile_still_wins() {
    let (db, mut client) = connect("appended_race_repeat");
    // Key 1000's first row waits to be appended when another session
    // stores 1000 with the values of its second row.
    let mut rows = vec![item(STORED, 1), item(STORED, 2)];
    rows[1].note = None;
    let name = rows[1].name.clone();
    let rows = stored_meanwhile(&db, rows, 1, STORED, name);
    let mut tx = client.transaction().unwrap();
    let report = pg_bulk_ingest::upsert(&mut tx, rows).unwrap();
    tx.commit().unwrap();
    let after = stored(&mut client);
    assert_eq!(after[STORED as usize].1, format!("item {STORED} v2"));
    let t = &report.tables[0];
    assert_eq!((t.inserted, t.duplicates), (Some(0), 1));

    // Repeats of an appended key and a key far above the window, which
    // another session stores meanwhile: only the appended key's repeat is
    // a duplicate.
    let far = STORED + 2 + (1 << 23) + 5;
    let rows = vec![item(STORED + 1, 1), item(STORED + 1, 2), item(far, 1)];
    let rows = stored_meanwhile(&db, rows, 2, far, "other".to_owned());
    let mut tx = client.transaction().unwrap();
    let report = pg_bulk_ingest::upsert(&mut tx, rows).unwrap();
    tx.commit().unwrap();
    assert_eq!(counts(&report), (Some(1), Some(1), Some(0), 1, 2));
}

#[test]
fn an_earlier_row_of_a_new_key_that_fails_a_check_is_still_left_out() {
    let (_db, mut client) = connect("appended_check");
    client
        .batch_execute("ALTER TABLE public.item ADD CONSTRAINT no_bad CHECK (name <> 'bad')")
        .unwrap();
    let here = appended_here(&mut client);
    let mut rows = items(STORED..STORED + 5, 1);
    rows[1].name = "bad".to_owned();
    rows.push(item(STORED + 1, 2));
    let mut tx = client.transaction().unwrap();
    let result = pg_bulk_ingest::upsert(&mut tx, rows);
    if !here {
        // Before 15, `INSERT ... ON CONFLICT` inserts the key's first row
        // (the check refuses it) before its later row would update it.
        match result {
            Err(Error::RowRejected { row, .. }) => assert_eq!(row, Some(1)),
            other => panic!("{other:?}"),
        }
        return;
    }
    let report = result.unwrap();
    tx.commit().unwrap();
    assert_eq!(counts(&report), (Some(5), Some(0), Some(0), 1, 5));
    let after = stored(&mut client);
    assert_eq!(
        after[STORED as usize + 1].1,
        format!("item {} v2", STORED + 1)
    );
}

#[test]
fn a_repeat_after_a_million_bytes_of_new_keys_is_a_duplicate() {
    let (_db, mut client) = connect("appended_repeat_late");
    // More than the first COPY's MiB of new rows, then the first one again,
    // unchanged: it reads as stored by now, and must count as a duplicate.
    let mut rows = items(STORED..STORED + 60_000, 1);
    rows.push(item(STORED, 1));
    let mut tx = client.transaction().unwrap();
    let report = pg_bulk_ingest::upsert(&mut tx, rows).unwrap();
    tx.commit().unwrap();
    assert_eq!(counts(&report), (Some(60_000), Some(0), Some(0), 1, 60_000));
}

#[derive(BulkTable, Clone, Debug)]
#[bulk(schema = "public", table = "node")]
struct Node {
    #[bulk(primary_key)]
    id: i64,
    parent: Option<i64>,
}

#[test]
fn a_parent_row_staged_after_its_child_is_appended_keeps_the_foreign_key() {
    let db = pg_bulk_ingest_testkit::server().create_database("appended_parent");
    let mut client = db.connect();
    let mut tx = client.transaction().unwrap();
    pg_bulk_ingest::insert(
        &mut tx,
        [Node {
            id: 1,
            parent: None,
        }],
    )
    .unwrap();
    tx.batch_execute(
        "DELETE FROM public.node; \
         ALTER TABLE public.node ADD FOREIGN KEY (parent) REFERENCES public.node (id)",
    )
    .unwrap();
    tx.commit().unwrap();
    // No row stored: 10 is appended, its parent 5 (below the first key)
    // staged. The merge checks the key once, with both rows in.
    let rows = [
        Node {
            id: 10,
            parent: Some(5),
        },
        Node {
            id: 5,
            parent: None,
        },
    ];
    let mut tx = client.transaction().unwrap();
    let report = pg_bulk_ingest::upsert(&mut tx, rows).unwrap();
    tx.commit().unwrap();
    assert_eq!(report.tables[0].inserted, Some(2));
    let count: i64 = client
        .query_one("SELECT count(*) FROM public.node", &[])
        .unwrap()
        .get(0);
    assert_eq!(count, 2);
}

#[test]
fn a_table_with_another_unique_index_stages_every_new_row() {
    let (_db, mut client) = connect("appended_unique");
    let here = appended_here(&mut client);
    client
        .batch_execute("CREATE UNIQUE INDEX item_name ON public.item (name)")
        .unwrap();
    // Appended first, key 1000 would hold 'x' when the merge gives 'x' to
    // key 5; its last row frees the name.
    let mut rows = vec![item(STORED, 1), item(5, 1), item(STORED, 2)];
    rows[0].name = "x".to_owned();
    rows[1].name = "x".to_owned();
    let mut tx = client.transaction().unwrap();
    let report = pg_bulk_ingest::upsert(&mut tx, rows).unwrap();
    tx.commit().unwrap();
    // Rows are compared (PostgreSQL 15 and later), but nothing is
    // appended, for the index.
    let plan = &report.tables[0].plan;
    let statements = plan.statements();
    assert!(!appends(&report), "{plan}");
    assert!(
        !statements.iter().any(|s| s.starts_with("SELECT max(")),
        "{plan}"
    );
    assert_eq!(
        statements.iter().any(|s| s.contains(" LIMIT $3")),
        here,
        "{plan}"
    );
    assert_eq!(counts(&report), (Some(1), Some(1), Some(0), 1, 2));
    let after = stored(&mut client);
    assert_eq!(after[5].1, "x");
    assert_eq!(after[STORED as usize].1, format!("item {STORED} v2"));
}
