//! `upsert` by rebuild ([`UpsertStrategy`]): the same rows as the merge, the
//! table's privileges, comments, indexes and views carried over, the batch's
//! last row of a repeated key kept, when `Auto` chooses it, what it refuses,
//! and failures that leave the table as it was.

use pg_bulk_ingest::{BulkTable, Error, Ingest, Report, UpsertStrategy};
use postgres::{Client, GenericClient};

#[derive(BulkTable, Debug, Clone, PartialEq)]
#[bulk(table = "stock", index(shelf))]
struct Stock {
    #[bulk(primary_key)]
    id: i64,
    shelf: String,
    qty: i32,
    note: Option<String>,
}

fn stock(id: i64, version: i32) -> Stock {
    Stock {
        id,
        shelf: format!("shelf {}", id % 17),
        qty: version * 1000 + (id % 1000) as i32,
        note: (id % 3 == 0).then(|| format!("note {id} v{version}")),
    }
}

/// Every row of the table as its record text, sorted: a full-content snapshot.
fn contents(client: &mut impl GenericClient, table: &str) -> Vec<String> {
    client
        .query(
            &format!("SELECT x::text FROM {table} AS x ORDER BY x::text COLLATE \"C\""),
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

fn oid(client: &mut impl GenericClient, table: &str) -> u32 {
    client
        .query_one("SELECT $1::text::regclass::oid", &[&table])
        .unwrap()
        .get(0)
}

/// Relations whose name says they are the library's intermediate tables.
fn intermediates(client: &mut impl GenericClient) -> i64 {
    client
        .query_one(
            r"SELECT count(*) FROM pg_catalog.pg_class WHERE relname LIKE '%\_pgbi\_new%'",
            &[],
        )
        .unwrap()
        .get(0)
}

fn seed(client: &mut Client, rows: impl IntoIterator<Item = Stock>) {
    let mut tx = client.transaction().unwrap();
    pg_bulk_ingest::insert(&mut tx, rows).unwrap();
    tx.commit().unwrap();
}

fn upsert(client: &mut Client, strategy: UpsertStrategy, rows: &[Stock]) -> Report {
    let mut tx = client.transaction().unwrap();
    let report = Ingest::new()
        .upsert_strategy(strategy)
        .upsert(&mut tx, rows)
        .unwrap();
    tx.commit().unwrap();
    report
}

/// Ids 500..1500 of version 2, except every tenth existing id, which is sent
/// with its current values; id 700 twice (the second wins) and id 1400 twice.
fn batch() -> Vec<Stock> {
    let mut rows: Vec<Stock> = (500..1500)
        .map(|id| stock(id, if id < 1000 && id % 10 == 0 { 1 } else { 2 }))
        .collect();
    let mut first_700 = stock(700, 9);
    first_700.note = Some("overwritten by the later row".into());
    rows.insert(10, first_700);
    rows.push(stock(1400, 3));
    rows
}

#[test]
fn rebuild_gives_the_merges_rows_and_carries_the_table() {
    let server = pg_bulk_ingest_testkit::server();
    let merged_db = server.create_database("rebuild_vs_merge_m");
    let rebuilt_db = server.create_database("rebuild_vs_merge_r");
    let mut merged = merged_db.connect();
    let mut rebuilt = rebuilt_db.connect();
    for client in [&mut merged, &mut rebuilt] {
        seed(client, (0..1000).map(|id| stock(id, 1)));
        client
            .batch_execute(
                "CREATE ROLE stock_reader_rebuild_test;
                 GRANT SELECT ON public.stock TO stock_reader_rebuild_test;
                 COMMENT ON TABLE public.stock IS 'what is on the shelves';
                 COMMENT ON COLUMN public.stock.qty IS 'units';
                 CREATE VIEW public.big_stock AS SELECT id, qty FROM public.stock WHERE qty > 1500",
            )
            .or_else(|_| {
                // The role is cluster-wide: the second database finds it.
                client.batch_execute(
                    "GRANT SELECT ON public.stock TO stock_reader_rebuild_test;
                     COMMENT ON TABLE public.stock IS 'what is on the shelves';
                     COMMENT ON COLUMN public.stock.qty IS 'units';
                     CREATE VIEW public.big_stock AS SELECT id, qty FROM public.stock WHERE qty > 1500",
                )
            })
            .unwrap();
    }
    let merged_oid = oid(&mut merged, "public.stock");
    let rebuilt_oid = oid(&mut rebuilt, "public.stock");

    let merge = upsert(&mut merged, UpsertStrategy::Merge, &batch());
    let rebuild = upsert(&mut rebuilt, UpsertStrategy::Rebuild, &batch());

    assert_eq!(
        oid(&mut merged, "public.stock"),
        merged_oid,
        "the merge keeps the table"
    );
    assert_ne!(
        oid(&mut rebuilt, "public.stock"),
        rebuilt_oid,
        "the rebuild swaps one in"
    );
    let expected = contents(&mut merged, "public.stock");
    assert_eq!(expected.len(), 1500);
    assert_eq!(contents(&mut rebuilt, "public.stock"), expected);
    let row_700: (i32, Option<String>) = {
        let row = rebuilt
            .query_one("SELECT qty, note FROM public.stock WHERE id = 700", &[])
            .unwrap();
        (row.get(0), row.get(1))
    };
    assert_eq!(row_700, (1700, None), "the last row of a repeated key wins");
    let qty_1400: i32 = rebuilt
        .query_one("SELECT qty FROM public.stock WHERE id = 1400", &[])
        .unwrap()
        .get(0);
    assert_eq!(qty_1400, 3400);

    // Counts: 1002 rows in, 1000 keys; the merge skips the 50 unchanged ones.
    assert_eq!((merge.rows, rebuild.rows), (1002, 1002));
    assert_eq!(merge.tables[0].written, 950);
    assert_eq!(rebuild.tables[0].written, 1000);

    // What the table carried: the view (reading the new table), the grant,
    // the comments, the key and the declared index under their names.
    let probe =
        |client: &mut Client, sql: &str| -> String { client.query_one(sql, &[]).unwrap().get(0) };
    for sql in [
        "SELECT count(*)::text FROM public.big_stock",
        "SELECT pg_catalog.has_table_privilege('stock_reader_rebuild_test', 'public.stock', 'SELECT')::text",
        "SELECT pg_catalog.obj_description('public.stock'::regclass, 'pg_class')",
        "SELECT pg_catalog.col_description('public.stock'::regclass, 3)",
        "SELECT string_agg(indexname, ',' ORDER BY indexname) FROM pg_catalog.pg_indexes WHERE tablename = 'stock'",
    ] {
        assert_eq!(probe(&mut rebuilt, sql), probe(&mut merged, sql), "{sql}");
    }
    assert_eq!(intermediates(&mut rebuilt), 0);
}

#[derive(BulkTable, Debug, Clone, PartialEq)]
#[bulk(table = "pair")]
struct Pair {
    #[bulk(primary_key)]
    a: i32,
    #[bulk(primary_key)]
    b: String,
    value: i64,
}

#[test]
fn composite_keys_repeated_in_the_batch_keep_the_last_row() {
    let db = pg_bulk_ingest_testkit::server().create_database("rebuild_pairs");
    let mut client = db.connect();
    let pair = |a: i32, b: &str, value: i64| Pair {
        a,
        b: b.to_owned(),
        value,
    };
    let mut tx = client.transaction().unwrap();
    pg_bulk_ingest::insert(&mut tx, [pair(1, "x", 1), pair(1, "y", 2), pair(2, "x", 3)]).unwrap();
    tx.commit().unwrap();

    let batch = [
        pair(1, "y", 20),
        pair(2, "y", 40),
        pair(1, "y", 21),
        pair(2, "y", 41),
        pair(1, "y", 22),
    ];
    let mut tx = client.transaction().unwrap();
    let report = Ingest::new()
        .upsert_strategy(UpsertStrategy::Rebuild)
        .upsert(&mut tx, batch)
        .unwrap();
    tx.commit().unwrap();
    assert_eq!(report.tables[0].written, 2);
    assert_eq!(
        contents(&mut client, "public.pair"),
        ["(1,x,1)", "(1,y,22)", "(2,x,3)", "(2,y,41)"]
    );
}

#[test]
fn auto_rebuilds_only_for_a_known_batch_at_least_half_the_table() {
    let db = pg_bulk_ingest_testkit::server().create_database("rebuild_auto");
    let mut client = db.connect();
    // Building the key after the load records the row estimate: 210,000.
    seed(&mut client, (0..210_000).map(|id| stock(id, 1)));
    let before = oid(&mut client, "public.stock");
    // Upserts `rows` with `Auto` and says whether it rebuilt, rolling back.
    let rebuilds = |client: &mut Client, rows: &mut dyn Iterator<Item = &Stock>| -> bool {
        let mut tx = client.transaction().unwrap();
        Ingest::new().upsert(&mut tx, rows).unwrap();
        let rebuilt = oid(&mut tx, "public.stock") != before;
        tx.rollback().unwrap();
        rebuilt
    };

    // Below 100,000 rows: merged, whatever the share.
    let small: Vec<Stock> = (0..99_999).map(|id| stock(id, 2)).collect();
    assert!(!rebuilds(&mut client, &mut small.iter()));
    // 100,000 rows, less than half of about 210,000: merged.
    let hundred: Vec<Stock> = (150_000..250_000).map(|id| stock(id, 3)).collect();
    assert!(!rebuilds(&mut client, &mut hundred.iter()));
    // 120,000 rows with a length the iterator doesn't tell: merged.
    let large: Vec<Stock> = (150_000..270_000).map(|id| stock(id, 3)).collect();
    assert!(!rebuilds(&mut client, &mut large.iter().filter(|_| true)));
    // The same, known, while another session is writing: merged, without
    // waiting for it.
    let mut writer = db.connect();
    let mut writing = writer.transaction().unwrap();
    writing
        .execute(
            "INSERT INTO public.stock VALUES (999999, 's', 1, NULL)",
            &[],
        )
        .unwrap();
    assert!(!rebuilds(&mut client, &mut large.iter()));
    writing.rollback().unwrap();

    // 120,000 known rows against about 210,000: rebuilt.
    upsert(&mut client, UpsertStrategy::Auto, &small);
    let report = upsert(&mut client, UpsertStrategy::Auto, &large);
    assert_ne!(oid(&mut client, "public.stock"), before);
    assert!(!report.tables[0].created);
    assert_eq!(report.tables[0].written, 120_000);
    let (count, v2, v3): (i64, i64, i64) = {
        let row = client
            .query_one(
                "SELECT count(*), count(*) FILTER (WHERE qty / 1000 = 2), \
                 count(*) FILTER (WHERE qty / 1000 = 3) FROM public.stock",
                &[],
            )
            .unwrap();
        (row.get(0), row.get(1), row.get(2))
    };
    assert_eq!((count, v2, v3), (270_000, 99_999, 120_000));
}

#[test]
fn settings_a_rebuild_would_lose_make_auto_merge_and_rebuild_refuse() {
    let db = pg_bulk_ingest_testkit::server().create_database("rebuild_settings");
    let mut client = db.connect();
    seed(&mut client, (0..1000).map(|id| stock(id, 1)));
    client
        .batch_execute("ALTER TABLE public.stock REPLICA IDENTITY USING INDEX stock_pkey")
        .unwrap();
    let before = oid(&mut client, "public.stock");
    let snapshot = contents(&mut client, "public.stock");

    let mut tx = client.transaction().unwrap();
    let err = Ingest::new()
        .upsert_strategy(UpsertStrategy::Rebuild)
        .upsert(&mut tx, batch())
        .unwrap_err();
    tx.commit().unwrap();
    match &err {
        Error::Dependents { dependents, .. } => {
            assert_eq!(dependents, &["a replica identity using an index"], "{err}")
        }
        other => panic!("expected Dependents, got {other:?}"),
    }
    assert_eq!(contents(&mut client, "public.stock"), snapshot);

    // `Auto` merges instead, even for a batch larger than the table.
    let large: Vec<Stock> = (0..100_000).map(|id| stock(id, 2)).collect();
    upsert(&mut client, UpsertStrategy::Auto, &large);
    assert_eq!(oid(&mut client, "public.stock"), before);
    let identity: i8 = client
        .query_one(
            "SELECT relreplident::\"char\" FROM pg_catalog.pg_class \
             WHERE oid = 'public.stock'::regclass",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(identity as u8, b'i');

    // A trigger hangs off the table: `Rebuild` names it, `Auto` merges.
    client
        .batch_execute(
            "ALTER TABLE public.stock REPLICA IDENTITY DEFAULT;
             CREATE FUNCTION public.touch() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END';
             CREATE TRIGGER touch BEFORE UPDATE ON public.stock FOR EACH ROW EXECUTE FUNCTION public.touch()",
        )
        .unwrap();
    let mut tx = client.transaction().unwrap();
    let err = Ingest::new()
        .upsert_strategy(UpsertStrategy::Rebuild)
        .upsert(&mut tx, batch())
        .unwrap_err();
    drop(tx);
    assert!(
        matches!(&err, Error::Dependents { dependents, .. } if dependents.iter().any(|d| d.contains("touch"))),
        "{err}"
    );
    upsert(&mut client, UpsertStrategy::Auto, &large);
    assert_eq!(oid(&mut client, "public.stock"), before);

    // A column collation a new table would not get: refused too.
    client
        .batch_execute(
            "DROP TRIGGER touch ON public.stock;
             ALTER TABLE public.stock ALTER COLUMN shelf TYPE text COLLATE \"C\"",
        )
        .unwrap();
    let mut tx = client.transaction().unwrap();
    let err = Ingest::new()
        .upsert_strategy(UpsertStrategy::Rebuild)
        .upsert(&mut tx, batch())
        .unwrap_err();
    drop(tx);
    assert!(
        matches!(&err, Error::Dependents { dependents, .. } if dependents == &["column settings (shelf)"]),
        "{err}"
    );
}

#[test]
fn a_failed_rebuild_leaves_the_table_as_it_was() {
    let db = pg_bulk_ingest_testkit::server().create_database("rebuild_failure");
    let mut client = db.connect();
    seed(&mut client, (0..1000).map(|id| stock(id, 1)));
    let before = oid(&mut client, "public.stock");
    let snapshot = contents(&mut client, "public.stock");

    // A value the server can't store, late in the batch: named by position.
    let mut rows = batch();
    rows[900].shelf = "nul \0 inside".into();
    let mut tx = client.transaction().unwrap();
    let err = Ingest::new()
        .upsert_strategy(UpsertStrategy::Rebuild)
        .upsert(&mut tx, &rows)
        .unwrap_err();
    match &err {
        Error::InvalidValue { row, column, .. } => {
            assert_eq!((*row, column.as_str()), (900, "shelf"), "{err}")
        }
        other => panic!("expected InvalidValue, got {other:?}"),
    }
    // The caller's transaction goes on, and commits nothing of the call.
    tx.execute("SELECT 1", &[]).unwrap();
    tx.commit().unwrap();
    assert_eq!(oid(&mut client, "public.stock"), before);
    assert_eq!(contents(&mut client, "public.stock"), snapshot);
    assert_eq!(intermediates(&mut client), 0);

    // A unique index of the library's, declared by another definition, fails
    // on a duplicate between a batch row and a live row after the copy.
    #[derive(BulkTable, Debug, Clone, PartialEq)]
    #[bulk(table = "stock", index(shelf), unique(qty))]
    struct UniqueQty {
        #[bulk(primary_key)]
        id: i64,
        shelf: String,
        qty: i32,
        note: Option<String>,
    }
    let unique = |id: i64, qty: i32| UniqueQty {
        id,
        shelf: "s".into(),
        qty,
        note: None,
    };
    client
        .batch_execute("DELETE FROM public.stock WHERE id >= 10")
        .unwrap();
    let mut tx = client.transaction().unwrap();
    pg_bulk_ingest::insert(&mut tx, [unique(10, 10_000)]).unwrap();
    tx.commit().unwrap();
    let before = oid(&mut client, "public.stock");
    let snapshot = contents(&mut client, "public.stock");
    // qty 1000 is id 0's (version 1): the new unique index can't hold both.
    let mut tx = client.transaction().unwrap();
    let err = Ingest::new()
        .upsert_strategy(UpsertStrategy::Rebuild)
        .upsert(&mut tx, [unique(11, 1000), unique(12, 20_000)])
        .unwrap_err();
    drop(tx);
    // The batch's row 0 and a live row share the new unique index's key.
    assert!(
        matches!(&err, Error::KeyExists { key, row: Some(0), .. } if key == "(qty)=(1000)"),
        "{err}"
    );
    assert_eq!(oid(&mut client, "public.stock"), before);
    assert_eq!(contents(&mut client, "public.stock"), snapshot);
    assert_eq!(intermediates(&mut client), 0);
}

fn repeatable_read(client: &mut Client) -> postgres::Transaction<'_> {
    let mut tx = client.transaction().unwrap();
    tx.batch_execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        .unwrap();
    tx
}

#[test]
fn no_rebuild_in_a_repeatable_read_transaction() {
    // There the live rows would be read with the transaction's snapshot, and
    // rows other sessions commit after it would be lost with the old table.
    let db = pg_bulk_ingest_testkit::server().create_database("rebuild_repeatable_read");
    let mut client = db.connect();
    seed(&mut client, (0..100_000).map(|id| stock(id, 1)));
    let before = oid(&mut client, "public.stock");
    let large: Vec<Stock> = (50_000..150_000).map(|id| stock(id, 2)).collect();

    let mut tx = repeatable_read(&mut client);
    let err = Ingest::new()
        .upsert_strategy(UpsertStrategy::Rebuild)
        .upsert(&mut tx, &large)
        .unwrap_err();
    assert!(
        matches!(&err, Error::Unsupported { what, .. } if what.contains("REPEATABLE READ")),
        "{err}"
    );
    drop(tx);

    // `Auto` merges instead.
    let mut tx = repeatable_read(&mut client);
    Ingest::new().upsert(&mut tx, &large).unwrap();
    tx.commit().unwrap();
    assert_eq!(oid(&mut client, "public.stock"), before);
    let count: i64 = client
        .query_one("SELECT count(*) FROM public.stock", &[])
        .unwrap()
        .get(0);
    assert_eq!(count, 150_000);
}

#[test]
fn tables_with_declared_defaults_are_rebuilt_and_replaced() {
    #[derive(BulkTable, Debug, Clone, PartialEq)]
    #[bulk(table = "with_default")]
    struct WithDefault {
        #[bulk(primary_key)]
        id: i64,
        #[bulk(default = "42")]
        qty: i32,
    }
    let db = pg_bulk_ingest_testkit::server().create_database("rebuild_defaults");
    let mut client = db.connect();
    let rows = |from: i64, qty: i32| (from..from + 100).map(move |id| WithDefault { id, qty });
    let mut tx = client.transaction().unwrap();
    pg_bulk_ingest::insert(&mut tx, rows(0, 1)).unwrap();
    tx.commit().unwrap();
    let before = oid(&mut client, "public.with_default");

    let mut tx = client.transaction().unwrap();
    Ingest::new()
        .upsert_strategy(UpsertStrategy::Rebuild)
        .upsert(&mut tx, rows(50, 2))
        .unwrap();
    tx.commit().unwrap();
    let rebuilt = oid(&mut client, "public.with_default");
    assert_ne!(rebuilt, before);
    let mut tx = client.transaction().unwrap();
    pg_bulk_ingest::replace(&mut tx, rows(0, 3)).unwrap();
    tx.commit().unwrap();
    assert_ne!(oid(&mut client, "public.with_default"), rebuilt);
    // The default is the definition's on the new table.
    client
        .execute("INSERT INTO public.with_default (id) VALUES (1000)", &[])
        .unwrap();
    let qty: i32 = client
        .query_one("SELECT qty FROM public.with_default WHERE id = 1000", &[])
        .unwrap()
        .get(0);
    assert_eq!(qty, 42);
}
