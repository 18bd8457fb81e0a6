//! `upsert` against a real server: updates and inserts in one call, the last
//! duplicate wins, composite keys, key-only rows, identifiers that need
//! quoting, table creation, the staging table's lifetime, and `insert` of a key
//! that exists.

use pg_bulk_ingest::{BulkTable, Error};
use postgres::{Client, GenericClient};
use rust_decimal::Decimal;

/// `"name"` with `"` doubled: the tests' own quoting, independent of the library's.
fn q(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn qualified(schema: &str, table: &str) -> String {
    format!("{}.{}", q(schema), q(table))
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

/// Relations named like the library's staging tables, in any schema (this
/// session's own temporary ones included, committed or not).
fn staging_relations(client: &mut impl GenericClient) -> Vec<String> {
    client
        .query(
            r"SELECT n.nspname || '.' || c.relname
              FROM pg_catalog.pg_class c
              JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
              WHERE c.relname LIKE 'pg\_bulk\_ingest\_staging%'",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

fn oid_and_filenode(client: &mut impl GenericClient, table: &str) -> (u32, u32) {
    let row = client
        .query_one(
            "SELECT c.oid, c.relfilenode FROM pg_catalog.pg_class c WHERE c.oid = $1::text::regclass",
            &[&table],
        )
        .unwrap();
    (row.get(0), row.get(1))
}

/// The primary-key columns of `table`, in key order.
fn primary_key(client: &mut impl GenericClient, table: &str) -> Vec<String> {
    client
        .query(
            "SELECT a.attname::text
             FROM pg_catalog.pg_index i
             CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
             JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
             WHERE i.indrelid = $1::text::regclass AND i.indisprimary
             ORDER BY k.ord",
            &[&table],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

// ---------------------------------------------------------------------------

#[derive(BulkTable, Debug, Clone, PartialEq)]
#[bulk(table = "item")]
struct Item {
    #[bulk(primary_key)]
    id: i64,
    name: String,
    qty: i32,
    note: Option<String>,
}

fn item(id: i64, name: &str, qty: i32, note: Option<&str>) -> Item {
    Item {
        id,
        name: name.to_owned(),
        qty,
        note: note.map(str::to_owned),
    }
}

fn read_items(client: &mut impl GenericClient) -> Vec<Item> {
    client
        .query(
            "SELECT id, name, qty, note FROM public.item ORDER BY id",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| Item {
            id: r.get(0),
            name: r.get(1),
            qty: r.get(2),
            note: r.get(3),
        })
        .collect()
}

fn seed_items(client: &mut Client, items: &[Item]) {
    let mut tx = client.transaction().unwrap();
    pg_bulk_ingest::insert(&mut tx, items).unwrap();
    tx.commit().unwrap();
}

#[test]
fn updates_and_inserts_in_one_call_and_counts_only_written_rows() {
    let db = pg_bulk_ingest_testkit::server().create_database("upsert_mixed");
    let mut client = db.connect();
    seed_items(
        &mut client,
        &[
            item(0, "zero", 0, None),
            item(1, "one", 1, Some("n1")),
            item(2, "two", 2, None),
            item(3, "three", 3, Some("n3")),
            item(4, "four", 4, None),
        ],
    );

    let input = vec![
        item(3, "three", 33, Some("n3")),  // changed: qty
        item(4, "four", 4, None),          // unchanged (NULL = NULL)
        item(5, "five", 5, None),          // new
        item(1, "one", 1, None),           // changed: note to NULL
        item(2, "two", 2, None),           // unchanged
        item(6, "six", 6, Some("n6")),     // new
        item(0, "zero", 0, Some("now")),   // changed: note from NULL
        item(-7, "minus seven", -7, None), // new
    ];
    let mut tx = client.transaction().unwrap();
    let report = pg_bulk_ingest::upsert(&mut tx, &input).unwrap();
    assert_eq!(report.rows, 8);
    assert_eq!(report.tables.len(), 1);
    let t = &report.tables[0];
    assert_eq!(t.table, r#""public"."item""#);
    assert_eq!(t.rows, 8);
    assert!(!t.created);
    assert_eq!(
        t.written, 6,
        "3 inserted + 3 changed; the 2 unchanged rows are not counted"
    );
    // Inside the caller's transaction the merge is visible, outside not yet.
    assert_eq!(read_items(&mut tx).len(), 8);
    assert_eq!(read_items(&mut db.connect()).len(), 5);
    tx.commit().unwrap();

    assert_eq!(
        read_items(&mut client),
        vec![
            item(-7, "minus seven", -7, None),
            item(0, "zero", 0, Some("now")),
            item(1, "one", 1, None),
            item(2, "two", 2, None),
            item(3, "three", 33, Some("n3")),
            item(4, "four", 4, None),
            item(5, "five", 5, None),
            item(6, "six", 6, Some("n6")),
        ]
    );

    // The same input again changes nothing and writes nothing.
    let mut tx = client.transaction().unwrap();
    let report = pg_bulk_ingest::upsert(&mut tx, &input).unwrap();
    tx.commit().unwrap();
    assert_eq!(report.tables[0].rows, 8);
    assert_eq!(report.tables[0].written, 0);
}

#[test]
fn unchanged_rows_are_not_rewritten() {
    let db = pg_bulk_ingest_testkit::server().create_database("upsert_unchanged");
    let mut client = db.connect();
    seed_items(&mut client, &[item(1, "a", 1, None), item(2, "b", 2, None)]);
    let ctid = |c: &mut Client, id: i64| -> String {
        c.query_one("SELECT ctid::text FROM public.item WHERE id = $1", &[&id])
            .unwrap()
            .get(0)
    };
    let (before1, before2) = (ctid(&mut client, 1), ctid(&mut client, 2));
    let mut tx = client.transaction().unwrap();
    let report =
        pg_bulk_ingest::upsert(&mut tx, vec![item(1, "a", 1, None), item(2, "b", 20, None)])
            .unwrap();
    tx.commit().unwrap();
    assert_eq!(report.tables[0].written, 1);
    // An unchanged row keeps its tuple; a changed one gets a new version.
    assert_eq!(ctid(&mut client, 1), before1);
    assert_ne!(ctid(&mut client, 2), before2);
}

#[test]
fn last_occurrence_wins_within_one_input() {
    let db = pg_bulk_ingest_testkit::server().create_database("upsert_dups");
    let mut client = db.connect();

    // Into a table the call creates: the key is only added after the merge.
    let input = vec![
        item(1, "first", 1, None),
        item(2, "only-two-a", 2, None),
        item(1, "second", 1, Some("x")),
        item(3, "three", 3, None),
        item(2, "only-two-b", 22, None),
        item(1, "third", 111, None),
    ];
    let mut tx = client.transaction().unwrap();
    let report = pg_bulk_ingest::upsert(&mut tx, &input).unwrap();
    tx.commit().unwrap();
    assert!(report.tables[0].created);
    assert_eq!(report.rows, 6);
    assert_eq!(
        report.tables[0].written, 3,
        "duplicates in the input count once"
    );
    assert_eq!(
        read_items(&mut client),
        vec![
            item(1, "third", 111, None),
            item(2, "only-two-b", 22, None),
            item(3, "three", 3, None),
        ]
    );

    // Into a table that holds the key: the last occurrence still wins, also
    // when an earlier occurrence equals the row already stored.
    let input = vec![
        item(3, "changed", 0, None),
        item(2, "only-two-b", 22, None),
        item(3, "three", 3, None), // equals the stored row: nothing to write
        item(2, "final", 2, Some("f")),
        item(4, "a", 4, None),
        item(4, "b", 4, None),
    ];
    let mut tx = client.transaction().unwrap();
    let report = pg_bulk_ingest::upsert(&mut tx, &input).unwrap();
    tx.commit().unwrap();
    assert!(!report.tables[0].created);
    assert_eq!(
        report.tables[0].written, 2,
        "key 2 changed, key 4 inserted, key 3 unchanged"
    );
    assert_eq!(
        read_items(&mut client),
        vec![
            item(1, "third", 111, None),
            item(2, "final", 2, Some("f")),
            item(3, "three", 3, None),
            item(4, "b", 4, None),
        ]
    );

    // Many duplicates spread over several COPY chunks: the last one wins.
    let mut tx = client.transaction().unwrap();
    let rows = (0..60_000i64).map(|i| item(i % 7, "dup", i as i32, None));
    let report = pg_bulk_ingest::upsert(&mut tx, rows).unwrap();
    tx.commit().unwrap();
    assert_eq!(report.rows, 60_000);
    assert_eq!(report.tables[0].written, 7);
    let got: Vec<(i64, i32)> = client
        .query("SELECT id, qty FROM public.item ORDER BY id", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    // The last position of each key: 59_999 % 7 == 2, so key 2 ends at 59_999.
    let want: Vec<(i64, i32)> = (0..7i64)
        .map(|k| {
            (
                k,
                (0..60_000i64).filter(|i| i % 7 == k).max().unwrap() as i32,
            )
        })
        .collect();
    assert_eq!(want[2], (2, 59_999));
    assert_eq!(got, want);
}

#[derive(BulkTable, Debug, Clone, PartialEq)]
#[bulk(schema = "ck", table = "pair")]
struct Pair {
    #[bulk(primary_key)]
    a: i32,
    value: String,
    #[bulk(primary_key)]
    b: String,
}

#[derive(BulkTable, Debug, Clone, PartialEq)]
#[bulk(schema = "ck", table = "triple")]
struct Triple {
    value: i64,
    #[bulk(primary_key)]
    z: chrono::NaiveDate,
    #[bulk(primary_key)]
    y: i16,
    note: Option<String>,
    #[bulk(primary_key)]
    x: Vec<u8>,
}

#[test]
fn composite_keys_of_two_and_three_columns() {
    let db = pg_bulk_ingest_testkit::server().create_database("upsert_composite");
    let mut client = db.connect();
    let pair = |a, b: &str, v: &str| Pair {
        a,
        b: b.to_owned(),
        value: v.to_owned(),
    };
    let mut tx = client.transaction().unwrap();
    pg_bulk_ingest::upsert(
        &mut tx,
        vec![pair(1, "x", "1x"), pair(1, "y", "1y"), pair(2, "x", "2x")],
    )
    .unwrap();
    tx.commit().unwrap();
    assert_eq!(primary_key(&mut client, r#""ck"."pair""#), ["a", "b"]);

    let mut tx = client.transaction().unwrap();
    let report = pg_bulk_ingest::upsert(
        &mut tx,
        vec![
            pair(1, "y", "1y-new"), // same full key: update
            pair(2, "y", "2y"),     // same a, other b: insert
            pair(3, "x", "3x"),     // same b, other a: insert
            pair(2, "x", "2x"),     // unchanged
            pair(3, "x", "3x-last"),
        ],
    )
    .unwrap();
    tx.commit().unwrap();
    assert_eq!(report.tables[0].written, 3);
    let got: Vec<(i32, String, String)> = client
        .query("SELECT a, b, value FROM ck.pair ORDER BY a, b", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let want: Vec<(i32, String, String)> = [
        (1, "x", "1x"),
        (1, "y", "1y-new"),
        (2, "x", "2x"),
        (2, "y", "2y"),
        (3, "x", "3x-last"),
    ]
    .iter()
    .map(|(a, b, v)| (*a, (*b).to_owned(), (*v).to_owned()))
    .collect();
    assert_eq!(got, want);

    // Three key columns declared out of column order: the key is (z, y, x).
    let d = |day| chrono::NaiveDate::from_ymd_opt(2024, 1, day).unwrap();
    let triple = |z, y, x: &[u8], value, note: Option<&str>| Triple {
        value,
        z: d(z),
        y,
        note: note.map(str::to_owned),
        x: x.to_vec(),
    };
    let mut tx = client.transaction().unwrap();
    let report = pg_bulk_ingest::upsert(
        &mut tx,
        vec![
            triple(1, 1, b"a", 1, None),
            triple(1, 1, b"b", 2, None),
            triple(1, 2, b"a", 3, None),
            triple(2, 1, b"a", 4, None),
        ],
    )
    .unwrap();
    tx.commit().unwrap();
    assert!(report.tables[0].created);
    assert_eq!(
        primary_key(&mut client, r#""ck"."triple""#),
        ["z", "y", "x"]
    );

    let mut tx = client.transaction().unwrap();
    let report = pg_bulk_ingest::upsert(
        &mut tx,
        vec![
            triple(1, 1, b"b", 20, Some("u")), // update
            triple(1, 1, b"a", 1, None),       // unchanged
            triple(2, 2, b"a", 5, None),       // insert
            triple(2, 1, b"a\0", 6, None),     // insert: x differs by a trailing 0 byte
            triple(1, 2, b"a", 30, None),      // update ...
            triple(1, 2, b"a", 31, None),      // ... by its last occurrence
        ],
    )
    .unwrap();
    tx.commit().unwrap();
    assert_eq!(report.tables[0].written, 4);
    let got: Vec<Triple> = client
        .query(
            "SELECT value, z, y, note, x FROM ck.triple ORDER BY z, y, x",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| Triple {
            value: r.get(0),
            z: r.get(1),
            y: r.get(2),
            note: r.get(3),
            x: r.get(4),
        })
        .collect();
    assert_eq!(
        got,
        vec![
            triple(1, 1, b"a", 1, None),
            triple(1, 1, b"b", 20, Some("u")),
            triple(1, 2, b"a", 31, None),
            triple(2, 1, b"a", 4, None),
            triple(2, 1, b"a\0", 6, None),
            triple(2, 2, b"a", 5, None),
        ]
    );
}

#[test]
fn table_oid_and_storage_unchanged_across_upserts() {
    let db = pg_bulk_ingest_testkit::server().create_database("upsert_oid");
    let mut client = db.connect();
    let mut tx = client.transaction().unwrap();
    pg_bulk_ingest::upsert(&mut tx, (0..1000).map(|i| item(i, "a", 0, None))).unwrap();
    tx.commit().unwrap();
    let first = oid_and_filenode(&mut client, "public.item");
    // An index and a grant the library does not know of must survive too.
    client
        .batch_execute("CREATE INDEX item_name_idx ON public.item (name); GRANT SELECT ON public.item TO PUBLIC")
        .unwrap();

    for round in 1..=3i32 {
        let mut tx = client.transaction().unwrap();
        let report =
            pg_bulk_ingest::upsert(&mut tx, (0..1500).map(|i| item(i, "b", round, None))).unwrap();
        tx.commit().unwrap();
        assert!(!report.tables[0].created);
        assert_eq!(report.tables[0].written, 1500);
        assert_eq!(
            oid_and_filenode(&mut client, "public.item"),
            first,
            "round {round}"
        );
    }
    let row = client
        .query_one(
            "SELECT count(*), min(qty), max(qty),
                    (SELECT count(*) FROM pg_catalog.pg_indexes WHERE indexname = 'item_name_idx'),
                    has_table_privilege('public', 'public.item', 'SELECT')
             FROM public.item",
            &[],
        )
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 1500);
    assert_eq!((row.get::<_, i32>(1), row.get::<_, i32>(2)), (3, 3));
    assert_eq!(row.get::<_, i64>(3), 1);
    assert!(row.get::<_, bool>(4));
}

#[derive(BulkTable, Debug, Clone, PartialEq)]
#[bulk(table = "tag")]
struct Tag {
    #[bulk(primary_key)]
    owner: i32,
    #[bulk(primary_key)]
    label: String,
}

#[test]
fn key_only_rows_insert_new_keys_and_leave_existing_ones() {
    let db = pg_bulk_ingest_testkit::server().create_database("upsert_keyonly");
    let mut client = db.connect();
    let tag = |owner, label: &str| Tag {
        owner,
        label: label.to_owned(),
    };
    let mut tx = client.transaction().unwrap();
    let report =
        pg_bulk_ingest::upsert(&mut tx, vec![tag(1, "a"), tag(1, "b"), tag(1, "a")]).unwrap();
    tx.commit().unwrap();
    assert!(report.tables[0].created);
    assert_eq!(report.tables[0].written, 2);
    let (oid, _) = oid_and_filenode(&mut client, "public.tag");
    let ctid_before: String = client
        .query_one(
            "SELECT ctid::text FROM public.tag WHERE owner = 1 AND label = 'a'",
            &[],
        )
        .unwrap()
        .get(0);

    let mut tx = client.transaction().unwrap();
    let report = pg_bulk_ingest::upsert(
        &mut tx,
        vec![
            tag(1, "a"),
            tag(2, "a"),
            tag(1, "c"),
            tag(2, "a"),
            tag(1, "b"),
        ],
    )
    .unwrap();
    tx.commit().unwrap();
    assert!(!report.tables[0].created);
    assert_eq!(report.rows, 5);
    assert_eq!(report.tables[0].written, 2, "only (2,a) and (1,c) are new");
    let got: Vec<(i32, String)> = client
        .query(
            "SELECT owner, label FROM public.tag ORDER BY owner, label",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        got,
        [(1, "a"), (1, "b"), (1, "c"), (2, "a")]
            .iter()
            .map(|(o, l)| (*o, (*l).to_owned()))
            .collect::<Vec<_>>()
    );
    // Existing rows are left as they are, not rewritten.
    let ctid_after: String = client
        .query_one(
            "SELECT ctid::text FROM public.tag WHERE owner = 1 AND label = 'a'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(ctid_after, ctid_before);
    assert_eq!(oid_and_filenode(&mut client, "public.tag").0, oid);

    // Only existing keys: nothing written.
    let mut tx = client.transaction().unwrap();
    let report = pg_bulk_ingest::upsert(&mut tx, vec![tag(2, "a"), tag(1, "b")]).unwrap();
    tx.commit().unwrap();
    assert_eq!(report.tables[0].written, 0);
}

const ODD_SCHEMA: &str = "Sch \"ema\".with 'dots' % 🐘";
const ODD_TABLE: &str = "Tab \"le\".name 'q' %s 🦀 MiXed";

#[derive(BulkTable, Debug, Clone, PartialEq)]
#[bulk(
    schema = "Sch \"ema\".with 'dots' % 🐘",
    table = "Tab \"le\".name 'q' %s 🦀 MiXed"
)]
struct Odd {
    #[bulk(primary_key, rename = "Key \"A\"")]
    key_a: i32,
    #[bulk(primary_key, rename = "k.e.y 'b' %")]
    key_b: String,
    #[bulk(rename = "Value %s %d")]
    value: String,
    #[bulk(rename = "MiXeD Case")]
    mixed: Option<i64>,
    #[bulk(rename = "émoji 🎉 \"q\" 'q'")]
    emoji: bool,
    #[bulk(rename = "select")]
    keyword: i16,
}

/// A table name whose staging name (`pg_bulk_ingest_staging_` + name) is cut
/// to 63 bytes in the middle of a multi-byte character.
const LONG_TABLE: &str = "long \"name\" xxxxxxxxxxxxxxxxxxxxxxxxxx🦀🦀";

#[derive(BulkTable, Debug, Clone, PartialEq)]
#[bulk(
    schema = "Sch \"ema\".with 'dots' % 🐘",
    table = "long \"name\" xxxxxxxxxxxxxxxxxxxxxxxxxx🦀🦀"
)]
struct Long {
    #[bulk(primary_key, rename = "🔑")]
    key: i64,
    #[bulk(rename = "v\"")]
    v: i64,
}

fn read_odd(client: &mut impl GenericClient) -> Vec<Odd> {
    let sql = format!(
        "SELECT {}, {}, {}, {}, {}, {} FROM {} ORDER BY 1, 2",
        q("Key \"A\""),
        q("k.e.y 'b' %"),
        q("Value %s %d"),
        q("MiXeD Case"),
        q("émoji 🎉 \"q\" 'q'"),
        q("select"),
        qualified(ODD_SCHEMA, ODD_TABLE)
    );
    client
        .query(&sql, &[])
        .unwrap()
        .iter()
        .map(|r| Odd {
            key_a: r.get(0),
            key_b: r.get(1),
            value: r.get(2),
            mixed: r.get(3),
            emoji: r.get(4),
            keyword: r.get(5),
        })
        .collect()
}

#[test]
fn identifiers_that_need_quoting() {
    assert!(LONG_TABLE.len() <= 63);
    assert!(format!("pg_bulk_ingest_staging_{LONG_TABLE}").len() > 63);
    let db = pg_bulk_ingest_testkit::server().create_database("upsert_idents");
    let mut client = db.connect();
    let odd = |a, b: &str, v: &str, m, e, k| Odd {
        key_a: a,
        key_b: b.to_owned(),
        value: v.to_owned(),
        mixed: m,
        emoji: e,
        keyword: k,
    };

    // Created by upsert: schema, table, key.
    let mut tx = client.transaction().unwrap();
    let report = pg_bulk_ingest::upsert(
        &mut tx,
        vec![
            odd(1, "'; DROP TABLE x; --", "%s", None, true, 1),
            odd(1, "\"", "%d", Some(-1), false, 2),
            odd(2, "'; DROP TABLE x; --", "v", Some(2), true, 3),
        ],
    )
    .unwrap();
    tx.commit().unwrap();
    assert!(report.tables[0].created);
    assert_eq!(report.tables[0].table, qualified(ODD_SCHEMA, ODD_TABLE));
    let names: (String, String) = {
        let r = client
            .query_one(
                "SELECT n.nspname::text, c.relname::text FROM pg_catalog.pg_class c
                 JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                 WHERE c.oid = $1::text::regclass",
                &[&qualified(ODD_SCHEMA, ODD_TABLE)],
            )
            .unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!(names, (ODD_SCHEMA.to_owned(), ODD_TABLE.to_owned()));
    assert_eq!(
        primary_key(&mut client, &qualified(ODD_SCHEMA, ODD_TABLE)),
        ["Key \"A\"", "k.e.y 'b' %"]
    );

    // Updated by upsert: the merge names every column.
    let mut tx = client.transaction().unwrap();
    let report = pg_bulk_ingest::upsert(
        &mut tx,
        vec![
            odd(1, "\"", "%d", Some(-1), false, 2), // unchanged
            odd(2, "'; DROP TABLE x; --", "w", None, false, 4), // changed
            odd(3, "🎉", "new", Some(3), true, 5),  // new
        ],
    )
    .unwrap();
    assert!(staging_relations(&mut tx).is_empty());
    tx.commit().unwrap();
    assert!(!report.tables[0].created);
    assert_eq!(report.tables[0].written, 2);
    assert_eq!(
        read_odd(&mut client),
        vec![
            odd(1, "\"", "%d", Some(-1), false, 2),
            odd(1, "'; DROP TABLE x; --", "%s", None, true, 1),
            odd(2, "'; DROP TABLE x; --", "w", None, false, 4),
            odd(3, "🎉", "new", Some(3), true, 5),
        ]
    );

    // A name whose staging name is cut at a character boundary; twice, so
    // both the create and the merge path run.
    for round in 0..2i64 {
        let mut tx = client.transaction().unwrap();
        let report = pg_bulk_ingest::upsert(
            &mut tx,
            (0..10).map(|key| Long {
                key,
                v: key * 10 + round,
            }),
        )
        .unwrap();
        assert!(staging_relations(&mut tx).is_empty());
        tx.commit().unwrap();
        assert_eq!(report.tables[0].created, round == 0);
        assert_eq!(report.tables[0].written, 10);
    }
    let sum: i64 = client
        .query_one(
            &format!(
                "SELECT sum({})::int8 FROM {}",
                q("v\""),
                qualified(ODD_SCHEMA, LONG_TABLE)
            ),
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(sum, (0..10).map(|k| k * 10 + 1).sum::<i64>());
    assert!(staging_relations(&mut client).is_empty());
}

#[derive(BulkTable, Debug, Clone, PartialEq)]
#[bulk(schema = "fresh", table = "order_line")]
struct OrderLine {
    #[bulk(primary_key)]
    order_id: i64,
    #[bulk(primary_key)]
    line: i32,
    #[bulk(sql_type = "varchar(20)")]
    sku: String,
    #[bulk(sql_type = "numeric(12,2)")]
    amount: Decimal,
    note: Option<String>,
}

#[test]
fn upsert_creates_missing_schema_and_table() {
    let db = pg_bulk_ingest_testkit::server().create_database("upsert_create");
    let mut client = db.connect();
    let line = |order_id, line, sku: &str, cents| OrderLine {
        order_id,
        line,
        sku: sku.to_owned(),
        amount: Decimal::new(cents, 2),
        note: None,
    };
    let mut tx = client.transaction().unwrap();
    let report = pg_bulk_ingest::upsert(
        &mut tx,
        vec![
            line(1, 1, "A", 100),
            line(1, 2, "B", 250),
            line(1, 1, "C", 999),
        ],
    )
    .unwrap();
    // Nothing is visible to others before the commit, not even the schema.
    let others: i64 = db
        .connect()
        .query_one(
            "SELECT count(*) FROM pg_catalog.pg_namespace WHERE nspname = 'fresh'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(others, 0);
    tx.commit().unwrap();
    assert!(report.tables[0].created);
    assert_eq!(report.tables[0].rows, 3);
    assert_eq!(report.tables[0].written, 2);

    let columns: Vec<(String, String, bool)> = client
        .query(
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), a.attnotnull
             FROM pg_catalog.pg_attribute a
             WHERE a.attrelid = 'fresh.order_line'::regclass AND a.attnum > 0 AND NOT a.attisdropped
             ORDER BY a.attnum",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let want: Vec<(String, String, bool)> = [
        ("order_id", "bigint", true),
        ("line", "integer", true),
        ("sku", "character varying(20)", true),
        ("amount", "numeric(12,2)", true),
        ("note", "text", false),
    ]
    .iter()
    .map(|(n, t, nn)| ((*n).to_owned(), (*t).to_owned(), *nn))
    .collect();
    assert_eq!(columns, want);
    assert_eq!(
        primary_key(&mut client, "fresh.order_line"),
        ["order_id", "line"]
    );
    let got: Vec<(i64, i32, String, Decimal)> = client
        .query(
            "SELECT order_id, line, sku, amount FROM fresh.order_line ORDER BY 1, 2",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    assert_eq!(
        got,
        vec![
            (1, 1, "C".to_owned(), Decimal::new(999, 2)),
            (1, 2, "B".to_owned(), Decimal::new(250, 2)),
        ]
    );

    // The key the call added is enforced.
    let dup = client.execute(
        "INSERT INTO fresh.order_line VALUES (1, 1, 'X', 0, NULL)",
        &[],
    );
    assert_eq!(dup.unwrap_err().code().map(|c| c.code()), Some("23505"));

    // A rolled-back creating upsert leaves no schema or table behind.
    let mut tx = client.transaction().unwrap();
    #[derive(BulkTable)]
    #[bulk(schema = "gone", table = "never")]
    struct Never {
        #[bulk(primary_key)]
        id: i32,
    }
    let report = pg_bulk_ingest::upsert(&mut tx, vec![Never { id: 1 }]).unwrap();
    assert!(report.tables[0].created);
    tx.rollback().unwrap();
    let left: i64 = client
        .query_one(
            "SELECT (SELECT count(*) FROM pg_catalog.pg_namespace WHERE nspname = 'gone')
                  + (SELECT count(*) FROM pg_catalog.pg_class WHERE relname = 'never')",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
}

#[test]
fn no_staging_table_is_left_behind() {
    let db = pg_bulk_ingest_testkit::server().create_database("upsert_staging");
    let mut client = db.connect();
    seed_items(&mut client, &[item(1, "a", 1, None)]);
    let pg_class = |c: &mut Client| -> i64 {
        c.query_one("SELECT count(*) FROM pg_catalog.pg_class", &[])
            .unwrap()
            .get(0)
    };
    let classes_before = pg_class(&mut db.connect());

    // After success: within the transaction, twice in the same transaction
    // (the second call would fail if the first one's staging table were
    // still there), and after the commit.
    let mut tx = client.transaction().unwrap();
    pg_bulk_ingest::upsert(&mut tx, (0..50_000).map(|i| item(i, "x", 1, None))).unwrap();
    assert_eq!(staging_relations(&mut tx), Vec::<String>::new());
    pg_bulk_ingest::upsert(&mut tx, (0..10).map(|i| item(i, "y", 2, None))).unwrap();
    assert_eq!(staging_relations(&mut tx), Vec::<String>::new());
    tx.commit().unwrap();
    assert_eq!(staging_relations(&mut client), Vec::<String>::new());

    // After an error caught while encoding (midway, after chunks were sent).
    let mut tx = client.transaction().unwrap();
    let err = pg_bulk_ingest::upsert(
        &mut tx,
        (0..50_000).map(|i| item(i, if i == 40_000 { "nul\0" } else { "z" }, 3, None)),
    )
    .unwrap_err();
    assert!(
        matches!(err, Error::InvalidValue { row: 40_000, .. }),
        "{err:?}"
    );
    assert_eq!(staging_relations(&mut tx), Vec::<String>::new());

    // After an error raised by the server in the merge (a CHECK constraint
    // the staging table does not have), in the same transaction.
    tx.batch_execute("ALTER TABLE public.item ADD CONSTRAINT qty_small CHECK (qty < 100)")
        .unwrap();
    let err = pg_bulk_ingest::upsert(
        &mut tx,
        (0..1000).map(|i| item(i, "c", if i == 500 { 100 } else { 4 }, None)),
    )
    .unwrap_err();
    assert_eq!(err.sqlstate(), Some("23514"), "{err}");
    assert_eq!(staging_relations(&mut tx), Vec::<String>::new());

    // The transaction is still usable and a later upsert in it works.
    pg_bulk_ingest::upsert(&mut tx, vec![item(7, "after", 5, None)]).unwrap();
    assert_eq!(staging_relations(&mut tx), Vec::<String>::new());
    tx.commit().unwrap();
    assert_eq!(staging_relations(&mut client), Vec::<String>::new());
    let got: Vec<(i64, String, i32)> = client
        .query(
            "SELECT id, name, qty FROM public.item WHERE id IN (0, 7, 49999) ORDER BY id",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        got,
        vec![
            (0, "y".to_owned(), 2),
            (7, "after".to_owned(), 5),
            (49_999, "x".to_owned(), 1)
        ]
    );
    // A CHECK constraint is no relation: none of the calls left one behind.
    assert_eq!(pg_class(&mut db.connect()), classes_before);
}

#[test]
fn insert_of_an_existing_key_is_rejected_naming_the_row() {
    let db = pg_bulk_ingest_testkit::server().create_database("upsert_insert_dup");
    let mut client = db.connect();
    seed_items(
        &mut client,
        &(0..100)
            .map(|i| item(i, "seed", 0, None))
            .collect::<Vec<_>>(),
    );
    let before = contents(&mut client, "public.item");

    let mut tx = client.transaction().unwrap();
    // Rows 0..29_999 are new; row 30_000 has key 42, which exists.
    let rows = (0..40_000i64).map(|i| {
        let id = if i == 30_000 { 42 } else { 1000 + i };
        item(id, "new", 1, None)
    });
    let err = pg_bulk_ingest::insert(&mut tx, rows).unwrap_err();
    match &err {
        Error::RowRejected { row, table, .. } => {
            assert_eq!(*row, Some(30_000), "{err}");
            assert_eq!(table, r#""public"."item""#);
        }
        other => panic!("expected RowRejected, got {other:?}"),
    }
    assert_eq!(err.row(), Some(30_000));
    assert_eq!(err.sqlstate(), Some("23505"));
    let text = err.to_string();
    assert!(text.contains("row 30000"), "{text}");
    assert!(text.contains("23505"), "{text}");
    assert!(
        text.contains("(id)=(42)"),
        "the server's detail names the key: {text}"
    );

    // The transaction goes on; nothing of the call is in it.
    assert_eq!(contents(&mut tx, "public.item"), before);
    tx.commit().unwrap();
    assert_eq!(contents(&mut client, "public.item"), before);
}

#[derive(BulkTable, Debug, Clone, PartialEq)]
#[bulk(table = "clash")]
struct Clash {
    #[bulk(primary_key)]
    id: i32,
    pg_bulk_ingest_position: i64,
}

#[test]
fn a_column_named_like_the_staging_position_column() {
    let db = pg_bulk_ingest_testkit::server().create_database("upsert_clash");
    let mut client = db.connect();
    let mut tx = client.transaction().unwrap();
    let report = pg_bulk_ingest::upsert(
        &mut tx,
        vec![
            Clash {
                id: 1,
                pg_bulk_ingest_position: 10,
            },
            Clash {
                id: 1,
                pg_bulk_ingest_position: 5,
            },
        ],
    )
    .unwrap();
    tx.commit().unwrap();
    assert_eq!(report.tables[0].written, 1);
    let v: i64 = client
        .query_one(
            "SELECT pg_bulk_ingest_position FROM public.clash WHERE id = 1",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(v, 5, "the last occurrence wins");
}

#[derive(BulkTable, Debug, Clone, PartialEq)]
#[bulk(table = "measure")]
struct Measure {
    #[bulk(primary_key)]
    id: i32,
    amount: Decimal,
    ratio: f64,
}

// The new row's values replace the stored ones even where PostgreSQL's `=`
// calls them equal: `1.0` vs `1.00` (numeric display scale), `0` vs `-0`.
#[test]
fn values_equal_but_not_identical_are_replaced() {
    let db = pg_bulk_ingest_testkit::server().create_database("upsert_equalish");
    let mut client = db.connect();
    let mut tx = client.transaction().unwrap();
    pg_bulk_ingest::upsert(
        &mut tx,
        vec![Measure {
            id: 1,
            amount: Decimal::new(10, 1),
            ratio: 0.0,
        }],
    )
    .unwrap();
    tx.commit().unwrap();
    let mut tx = client.transaction().unwrap();
    let report = pg_bulk_ingest::upsert(
        &mut tx,
        vec![Measure {
            id: 1,
            amount: Decimal::new(100, 2),
            ratio: -0.0,
        }],
    )
    .unwrap();
    tx.commit().unwrap();
    let row = client
        .query_one(
            "SELECT amount::text, ratio::text FROM public.measure WHERE id = 1",
            &[],
        )
        .unwrap();
    let got: (String, String) = (row.get(0), row.get(1));
    assert_eq!(got, ("1.00".to_owned(), "-0".to_owned()));
    assert_eq!(report.tables[0].written, 1);
}
