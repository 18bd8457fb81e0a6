//! The choices of an upsert against a real server: the conflict key (primary
//! key or a declared unique index), what happens to a stored key
//! (`OnConflict`), what happens to keys the batch repeats (`Duplicates`, for
//! `upsert`, `insert` and `replace`), the report's counts, and the options a
//! call refuses before anything is sent.

use std::collections::HashMap;

use pg_bulk_ingest::{
    BulkRows, BulkTable, Duplicates, Error, Ingest, Mode, OnConflict, UpsertStrategy,
};
use pg_bulk_ingest_testkit::major;
use postgres::{Client, GenericClient};

#[derive(BulkTable, Debug, Clone, PartialEq)]
#[bulk(schema = "crm", table = "contact", unique(tenant, email))]
struct Contact {
    #[bulk(primary_key)]
    id: i64,
    tenant: i32,
    email: String,
    name: String,
}

fn contact(id: i64, tenant: i32, email: &str, name: &str) -> Contact {
    Contact {
        id,
        tenant,
        email: email.to_owned(),
        name: name.to_owned(),
    }
}

fn contacts(client: &mut impl GenericClient) -> Vec<Contact> {
    client
        .query(
            "SELECT id, tenant, email, name FROM crm.contact ORDER BY tenant, email",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| Contact {
            id: r.get(0),
            tenant: r.get(1),
            email: r.get(2),
            name: r.get(3),
        })
        .collect()
}

/// Every row of `table` as record text, sorted; with each row's `ctid`.
fn rows_with_ctid(client: &mut impl GenericClient, table: &str) -> Vec<(String, String)> {
    client
        .query(
            &format!("SELECT x::text, ctid::text FROM {table} AS x ORDER BY x::text COLLATE \"C\""),
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

fn seed_contacts(client: &mut Client) {
    let mut tx = client.transaction().unwrap();
    pg_bulk_ingest::insert(
        &mut tx,
        &[
            contact(1, 1, "a@x", "Ann"),
            contact(2, 1, "b@x", "Bob"),
            contact(3, 2, "a@x", "Abe"),
        ],
    )
    .unwrap();
    tx.commit().unwrap();
}

/// The batch every `OnConflict` test loads: one unchanged row, one changed,
/// one new. Ids differ from the stored ones where the row is matched by its
/// unique key, so the update sets the primary key too.
fn batch() -> Vec<Contact> {
    vec![
        contact(1, 1, "a@x", "Ann"),    // unchanged
        contact(20, 1, "b@x", "Bobby"), // changed: id and name
        contact(4, 3, "c@x", "Cy"),     // new
    ]
}

#[test]
fn update_matches_on_a_unique_key_and_sets_every_other_column() {
    let db = pg_bulk_ingest_testkit::server().create_database("modes_update");
    let mut client = db.connect();
    seed_contacts(&mut client);
    let before = rows_with_ctid(&mut client, "crm.contact");

    let mut tx = client.transaction().unwrap();
    let report = Ingest::new()
        .conflict_key(Contact::unique_tenant_email())
        .upsert(&mut tx, batch())
        .unwrap();
    tx.commit().unwrap();

    assert_eq!(
        contacts(&mut client),
        [
            contact(1, 1, "a@x", "Ann"),
            contact(20, 1, "b@x", "Bobby"),
            contact(3, 2, "a@x", "Abe"),
            contact(4, 3, "c@x", "Cy"),
        ]
    );
    let t = &report.tables[0];
    assert_eq!(
        (
            t.inserted,
            t.updated,
            t.unchanged,
            t.skipped,
            t.duplicates,
            t.written
        ),
        (Some(1), Some(1), Some(1), 0, 0, 2)
    );
    // The unchanged row was not rewritten.
    let after = rows_with_ctid(&mut client, "crm.contact");
    let ann = |rows: &[(String, String)]| rows.iter().find(|r| r.0.contains("Ann")).cloned();
    assert_eq!(ann(&before), ann(&after));
    // The plan shows the merge on the unique key.
    let plans = Ingest::new()
        .conflict_key(Contact::unique_tenant_email())
        .plan::<Contact>(&mut client, Mode::Upsert)
        .unwrap();
    let statements = plans[0].statements().join(";\n");
    // A MERGE from PostgreSQL 15, INSERT ... ON CONFLICT before.
    let merge = if major(&mut client) >= 15 {
        r#"ON t."tenant" = s."tenant" AND t."email" = s."email" WHEN MATCHED AND ROW(t."id", t."name")::record *<> ROW(s."id", s."name")::record THEN UPDATE SET "id" = s."id", "name" = s."name""#
    } else {
        r#"ON CONFLICT ("tenant", "email") DO UPDATE SET "id" = EXCLUDED."id", "name" = EXCLUDED."name""#
    };
    assert!(statements.contains(merge), "{statements}");
}

#[test]
fn skip_keeps_stored_rows_and_counts_them() {
    let db = pg_bulk_ingest_testkit::server().create_database("modes_skip");
    let mut client = db.connect();
    seed_contacts(&mut client);

    let mut tx = client.transaction().unwrap();
    let report = Ingest::new()
        .conflict_key(Contact::unique_tenant_email())
        .on_conflict(OnConflict::Skip)
        .upsert(&mut tx, batch())
        .unwrap();
    tx.commit().unwrap();

    assert_eq!(
        contacts(&mut client),
        [
            contact(1, 1, "a@x", "Ann"),
            contact(2, 1, "b@x", "Bob"),
            contact(3, 2, "a@x", "Abe"),
            contact(4, 3, "c@x", "Cy"),
        ]
    );
    let t = &report.tables[0];
    assert_eq!(
        (t.inserted, t.updated, t.unchanged, t.skipped, t.written),
        (Some(1), Some(0), Some(0), 2, 1)
    );
    let plans = Ingest::new()
        .on_conflict(OnConflict::Skip)
        .plan::<Contact>(&mut client, Mode::Upsert)
        .unwrap();
    assert!(
        plans[0]
            .statements()
            .iter()
            .any(|s| s.contains(r#"ON CONFLICT ("id") DO NOTHING"#)),
        "{}",
        plans[0]
    );
}

#[test]
fn error_names_the_stored_key_and_the_row_and_changes_nothing() {
    let db = pg_bulk_ingest_testkit::server().create_database("modes_error");
    let mut client = db.connect();
    seed_contacts(&mut client);
    let before = rows_with_ctid(&mut client, "crm.contact");

    let mut tx = client.transaction().unwrap();
    let err = Ingest::new()
        .conflict_key(Contact::unique_tenant_email())
        .on_conflict(OnConflict::Error)
        .upsert(
            &mut tx,
            &[
                contact(9, 9, "new@x", "New"),
                contact(20, 1, "b@x", "Bobby"),
            ],
        )
        .unwrap_err();
    match &err {
        Error::KeyExists { table, key, row } => {
            assert_eq!(table, r#""crm"."contact""#);
            assert_eq!(key, "(tenant, email)=(1, b@x)");
            assert_eq!(*row, Some(1));
        }
        other => panic!("expected KeyExists, got {other:?}"),
    }
    assert_eq!(err.row(), Some(1));
    // The caller's transaction goes on, and the table is as it was.
    assert_eq!(rows_with_ctid(&mut tx, "crm.contact"), before);
    // Only new keys: they go in.
    let report = Ingest::new()
        .on_conflict(OnConflict::Error)
        .upsert(&mut tx, &[contact(9, 9, "new@x", "New")])
        .unwrap();
    tx.commit().unwrap();
    assert_eq!(report.tables[0].inserted, Some(1));
    assert_eq!(contacts(&mut client).len(), 4);
    // The plan's merge is a plain insert.
    let plans = Ingest::new()
        .on_conflict(OnConflict::Error)
        .plan::<Contact>(&mut client, Mode::Upsert)
        .unwrap();
    let merge = plans[0]
        .statements()
        .into_iter()
        .find(|s| s.contains(r#"INSERT INTO "crm"."contact""#))
        .unwrap()
        .to_owned();
    assert!(!merge.contains("ON CONFLICT"), "{merge}");
}

// ---------------------------------------------------------------------------
// Duplicates: 30,000 rows over 1,000 keys in scrambled order.

#[derive(BulkTable, Debug, Clone, PartialEq)]
#[bulk(table = "reading")]
struct Reading {
    #[bulk(primary_key)]
    sensor: i32,
    value: i64,
}

/// Row `i` has key `i * 7919 mod 1000` (7919 is prime to 1000, so each key
/// comes 30 times, scattered) and value `i`.
fn scrambled() -> Vec<Reading> {
    (0..30_000i64)
        .map(|i| Reading {
            sensor: ((i * 7919) % 1000) as i32,
            value: i,
        })
        .collect()
}

/// The value each key ends with when the first or the last of its rows wins.
fn winners(rows: &[Reading], last: bool) -> Vec<(i32, i64)> {
    let mut by_key: HashMap<i32, i64> = HashMap::new();
    for r in rows {
        if last || !by_key.contains_key(&r.sensor) {
            by_key.insert(r.sensor, r.value);
        }
    }
    let mut out: Vec<(i32, i64)> = by_key.into_iter().collect();
    out.sort_unstable();
    out
}

/// The positions of the first two rows of the first key the input repeats
/// (the earliest row whose key an earlier row has).
fn first_repeat(rows: &[Reading]) -> (u64, u64, i32) {
    let mut seen: HashMap<i32, u64> = HashMap::new();
    for (i, r) in rows.iter().enumerate() {
        if let Some(&first) = seen.get(&r.sensor) {
            return (first, i as u64, r.sensor);
        }
        seen.insert(r.sensor, i as u64);
    }
    unreachable!("the input repeats keys")
}

fn readings(client: &mut impl GenericClient) -> Vec<(i32, i64)> {
    client
        .query(
            "SELECT sensor, value FROM public.reading ORDER BY sensor",
            &[],
        )
        .map(|rows| rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        .unwrap_or_default()
}

/// Stored rows for half the keys (0, 2, 4, ...), with values no input row has.
fn seed_readings(client: &mut Client) {
    let mut tx = client.transaction().unwrap();
    let stored: Vec<Reading> = (0..500)
        .map(|k| Reading {
            sensor: k * 2,
            value: -1,
        })
        .collect();
    pg_bulk_ingest::insert(&mut tx, &stored).unwrap();
    tx.commit().unwrap();
}

#[derive(Clone, Copy, Debug)]
enum Start {
    /// No table: the call creates it.
    Missing,
    /// The table exists, empty.
    Empty,
    /// The table holds rows for half the keys.
    Seeded,
}

fn prepare(client: &mut Client, start: Start) {
    match start {
        Start::Missing => {}
        Start::Empty => {
            let mut tx = client.transaction().unwrap();
            pg_bulk_ingest::insert(&mut tx, Vec::<Reading>::new()).unwrap();
            tx.commit().unwrap();
        }
        Start::Seeded => seed_readings(client),
    }
}

/// Each `Duplicates` choice, for one call and starting point: the rows after
/// the call, or the error and the rows unchanged.
fn duplicates_case(mode: Mode, start: Start, strategy: UpsertStrategy) {
    let rows = scrambled();
    let (earlier, later, key) = first_repeat(&rows);
    for choice in [
        Duplicates::KeepLast,
        Duplicates::KeepFirst,
        Duplicates::Error,
        Duplicates::AssumeUnique,
    ] {
        let what = format!("{mode:?} into {start:?} with {choice:?} ({strategy:?})");
        let db = pg_bulk_ingest_testkit::server().create_database("modes_dups");
        let mut client = db.connect();
        prepare(&mut client, start);
        let before = readings(&mut client);
        let mut tx = client.transaction().unwrap();
        let ingest = Ingest::new().duplicates(choice).upsert_strategy(strategy);
        let result = match mode {
            Mode::Upsert => ingest.upsert(&mut tx, &rows),
            Mode::Insert => ingest.insert(&mut tx, &rows),
            _ => ingest.replace(&mut tx, &rows),
        };
        match choice {
            Duplicates::KeepLast | Duplicates::KeepFirst => {
                let report = result.unwrap_or_else(|e| panic!("{what}: {e}"));
                let t = &report.tables[0];
                assert_eq!(t.rows, 30_000, "{what}");
                assert_eq!(t.duplicates, 29_000, "{what}");
                let mut expected = winners(&rows, choice == Duplicates::KeepLast);
                if mode == Mode::Insert {
                    // Stored keys are not the batch's to replace: an insert
                    // over them fails (tested below); here none is stored.
                    assert!(!matches!(start, Start::Seeded));
                }
                if mode == Mode::Upsert {
                    if let (Some(inserted), Some(updated)) = (t.inserted, t.updated) {
                        let stored = if matches!(start, Start::Seeded) {
                            500
                        } else {
                            0
                        };
                        assert_eq!((inserted, updated), (1000 - stored, stored), "{what}");
                    }
                }
                expected.sort_unstable();
                tx.commit().unwrap();
                assert_eq!(readings(&mut client), expected, "{what}");
            }
            Duplicates::AssumeUnique if mode == Mode::Insert && matches!(start, Start::Empty) => {
                // Straight into the table: the server's unique violation, at
                // the later row.
                let err = result.expect_err(&what);
                assert_eq!(err.sqlstate(), Some("23505"), "{what}: {err:?}");
                assert_eq!(err.row(), Some(later), "{what}");
                assert_eq!(readings(&mut tx), before, "{what}");
                tx.commit().unwrap();
            }
            Duplicates::Error | Duplicates::AssumeUnique => {
                let err = result.expect_err(&what);
                let Error::DuplicateKey {
                    table,
                    key: text,
                    rows: positions,
                } = &err
                else {
                    panic!("{what}: expected DuplicateKey, got {err:?}");
                };
                assert_eq!(table, r#""public"."reading""#, "{what}");
                assert_eq!(text, &format!("(sensor)=({key})"), "{what}");
                assert_eq!(*positions, Some((earlier, later)), "{what}");
                // Nothing changed, and the transaction is usable.
                assert_eq!(readings(&mut tx), before, "{what}");
                tx.commit().unwrap();
            }
            _ => unreachable!(),
        }
    }
}

#[test]
fn upsert_duplicates_merged_into_stored_rows() {
    duplicates_case(Mode::Upsert, Start::Seeded, UpsertStrategy::Merge);
}

#[test]
fn upsert_duplicates_into_a_new_table() {
    duplicates_case(Mode::Upsert, Start::Missing, UpsertStrategy::Auto);
}

#[test]
fn upsert_duplicates_by_rebuild() {
    duplicates_case(Mode::Upsert, Start::Seeded, UpsertStrategy::Rebuild);
}

#[test]
fn insert_duplicates_into_an_existing_and_a_new_table() {
    duplicates_case(Mode::Insert, Start::Empty, UpsertStrategy::Auto);
    duplicates_case(Mode::Insert, Start::Missing, UpsertStrategy::Auto);
}

#[test]
fn replace_duplicates() {
    duplicates_case(Mode::Replace, Start::Seeded, UpsertStrategy::Auto);
}

#[test]
fn skip_checks_for_repeated_keys_unless_it_keeps_one() {
    let rows = scrambled();
    let (earlier, later, _) = first_repeat(&rows);
    let db = pg_bulk_ingest_testkit::server().create_database("modes_skip_dups");
    let mut client = db.connect();
    seed_readings(&mut client);
    let before = readings(&mut client);
    let mut tx = client.transaction().unwrap();
    for choice in [Duplicates::AssumeUnique, Duplicates::Error] {
        let err = Ingest::new()
            .on_conflict(OnConflict::Skip)
            .duplicates(choice)
            .upsert(&mut tx, &rows)
            .unwrap_err();
        assert!(
            matches!(err, Error::DuplicateKey { rows: Some((a, b)), .. } if (a, b) == (earlier, later)),
            "{choice:?}: {err:?}"
        );
        assert_eq!(readings(&mut tx), before);
    }
    let report = Ingest::new()
        .on_conflict(OnConflict::Skip)
        .duplicates(Duplicates::KeepFirst)
        .upsert(&mut tx, &rows)
        .unwrap();
    tx.commit().unwrap();
    let t = &report.tables[0];
    assert_eq!(
        (t.inserted, t.skipped, t.duplicates),
        (Some(500), 500, 29_000)
    );
    let first = winners(&rows, false);
    let expected: Vec<(i32, i64)> = first
        .into_iter()
        .map(|(k, v)| if k % 2 == 0 { (k, -1) } else { (k, v) })
        .collect();
    assert_eq!(readings(&mut client), expected);
}

#[test]
fn insert_over_a_stored_key_fails_naming_it_whatever_the_choice() {
    let db = pg_bulk_ingest_testkit::server().create_database("modes_insert_stored");
    let mut client = db.connect();
    seed_readings(&mut client);
    let before = readings(&mut client);
    let mut tx = client.transaction().unwrap();
    let rows = [
        Reading {
            sensor: 1,
            value: 1,
        },
        Reading {
            sensor: 4,
            value: 4,
        },
    ];
    for choice in [
        Duplicates::KeepLast,
        Duplicates::KeepFirst,
        Duplicates::Error,
    ] {
        let err = Ingest::new()
            .duplicates(choice)
            .insert(&mut tx, &rows)
            .unwrap_err();
        assert!(
            matches!(&err, Error::KeyExists { key, row: Some(1), .. } if key == "(sensor)=(4)"),
            "{choice:?}: {err:?}"
        );
        assert_eq!(readings(&mut tx), before);
    }
    // The default (AssumeUnique) COPYs straight into the table: the server's
    // unique violation, at the row.
    let err = pg_bulk_ingest::insert(&mut tx, &rows).unwrap_err();
    assert_eq!(err.sqlstate(), Some("23505"), "{err:?}");
    assert_eq!(err.row(), Some(1));
    assert_eq!(readings(&mut tx), before);
}

// ---------------------------------------------------------------------------
// Keys without a primary key, and options that don't fit.

#[derive(BulkTable, Debug, Clone, PartialEq)]
#[bulk(table = "tag")]
struct Tag {
    #[bulk(unique)]
    slug: String,
    label: String,
}

#[test]
fn a_table_with_one_unique_index_and_no_primary_key_is_upserted_on_it() {
    let db = pg_bulk_ingest_testkit::server().create_database("modes_unique_only");
    let mut client = db.connect();
    let tag = |slug: &str, label: &str| Tag {
        slug: slug.to_owned(),
        label: label.to_owned(),
    };
    for rows in [
        vec![tag("a", "A"), tag("b", "B"), tag("a", "A2")],
        vec![tag("b", "B2"), tag("c", "C")],
    ] {
        let mut tx = client.transaction().unwrap();
        pg_bulk_ingest::upsert(&mut tx, &rows).unwrap();
        tx.commit().unwrap();
    }
    let rows: Vec<(String, String)> = client
        .query("SELECT slug, label FROM public.tag ORDER BY slug", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let expected =
        [("a", "A2"), ("b", "B2"), ("c", "C")].map(|(a, b)| (a.to_owned(), b.to_owned()));
    assert_eq!(rows, expected);
}

#[derive(BulkTable, Debug, Clone)]
#[bulk(table = "two_keys", unique(b))]
struct TwoKeys {
    #[bulk(unique)]
    a: i32,
    b: i32,
    #[bulk(unique)]
    c: Option<i32>,
}

#[derive(BulkRows, Debug, Clone)]
enum Stream {
    Contact(Contact),
    Reading(Reading),
}

#[test]
fn options_that_do_not_fit_fail_before_anything_is_sent() {
    let db = pg_bulk_ingest_testkit::server().create_database("modes_options");
    let mut client = db.connect();
    let mut tx = client.transaction().unwrap();
    let row = TwoKeys {
        a: 1,
        b: 2,
        c: None,
    };
    // Several unique keys and no primary key: the user chooses.
    let err = pg_bulk_ingest::upsert(&mut tx, [&row]).unwrap_err();
    assert!(
        matches!(&err, Error::Options { reason, .. } if reason.contains("3 unique indexes")),
        "{err}"
    );
    // A key over a nullable column can't match rows.
    let err = Ingest::new()
        .conflict_key(TwoKeys::unique_c())
        .upsert(&mut tx, [&row])
        .unwrap_err();
    assert!(
        matches!(&err, Error::Options { reason, .. } if reason.contains("nullable column c")),
        "{err}"
    );
    // A key for a table the call doesn't load.
    let err = Ingest::new()
        .conflict_key(Contact::unique_tenant_email())
        .upsert(&mut tx, [&row])
        .unwrap_err();
    assert!(
        matches!(&err, Error::Options { table, .. } if table == r#""crm"."contact""#),
        "{err}"
    );
    // A rebuild replaces stored rows: not with Skip.
    let err = Ingest::new()
        .conflict_key(TwoKeys::unique_b())
        .on_conflict(OnConflict::Skip)
        .upsert_strategy(UpsertStrategy::Rebuild)
        .insert(&mut tx, [&row])
        .unwrap_err();
    assert!(
        matches!(&err, Error::Options { reason, .. } if reason.contains("upsert only")),
        "{err}"
    );
    // Nothing was created.
    let tables: i64 = tx
        .query_one(
            "SELECT count(*) FROM pg_catalog.pg_class WHERE relname IN ('two_keys', 'contact')",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(tables, 0);
    // The chosen key works, and the transaction is usable.
    Ingest::new()
        .conflict_key(TwoKeys::unique_b())
        .upsert(&mut tx, [&row])
        .unwrap();
    let err = Ingest::new()
        .conflict_key(TwoKeys::unique_b())
        .on_conflict(OnConflict::Skip)
        .upsert_strategy(UpsertStrategy::Rebuild)
        .upsert(&mut tx, [&row])
        .unwrap_err();
    assert!(
        matches!(&err, Error::Options { reason, .. } if reason.contains("Rebuild")),
        "{err}"
    );
    tx.commit().unwrap();
}

#[test]
fn a_stream_applies_the_choices_to_every_table_and_keys_per_table() {
    let db = pg_bulk_ingest_testkit::server().create_database("modes_stream");
    let mut client = db.connect();
    seed_contacts(&mut client);
    seed_readings(&mut client);
    let rows = vec![
        Stream::Reading(Reading {
            sensor: 0,
            value: 10,
        }),
        Stream::Contact(contact(20, 1, "b@x", "Bobby")),
        Stream::Reading(Reading {
            sensor: 1,
            value: 11,
        }),
        Stream::Contact(contact(5, 5, "e@x", "Eve")),
    ];
    let mut tx = client.transaction().unwrap();
    let report = Ingest::new()
        .conflict_key(Contact::unique_tenant_email())
        .on_conflict(OnConflict::Skip)
        .upsert(&mut tx, &rows)
        .unwrap();
    tx.commit().unwrap();
    let counts: Vec<(Option<u64>, u64)> = report
        .tables
        .iter()
        .map(|t| (t.inserted, t.skipped))
        .collect();
    assert_eq!(counts, [(Some(1), 1), (Some(1), 1)]);
    assert_eq!(contacts(&mut client)[1], contact(2, 1, "b@x", "Bob"));
    assert_eq!(readings(&mut client)[..2], [(0, -1), (1, 11)]);
    // Repeated keys in a stream: the key is named (positions are the
    // stream's).
    let mut tx = client.transaction().unwrap();
    let err = Ingest::new()
        .duplicates(Duplicates::Error)
        .upsert(
            &mut tx,
            vec![
                Stream::Reading(Reading {
                    sensor: 7,
                    value: 1,
                }),
                Stream::Contact(contact(5, 5, "e@x", "Eve")),
                Stream::Reading(Reading {
                    sensor: 7,
                    value: 2,
                }),
            ],
        )
        .unwrap_err();
    assert!(
        matches!(&err, Error::DuplicateKey { key, rows: Some((0, 2)), .. } if key == "(sensor)=(7)"),
        "{err:?}"
    );
}

#[test]
fn a_migration_that_rebuilds_merges_on_a_unique_key_into_the_new_table() {
    let db = pg_bulk_ingest_testkit::server().create_database("modes_rebuild_unique");
    let mut client = db.connect();
    seed_contacts(&mut client);
    // The live table lacks the column `name` has... make it another type so
    // that the call rebuilds.
    client
        .batch_execute("ALTER TABLE crm.contact ALTER COLUMN name TYPE varchar(50)")
        .unwrap();
    let mut tx = client.transaction().unwrap();
    let report = Ingest::new()
        .conflict_key(Contact::unique_tenant_email())
        .upsert_strategy(UpsertStrategy::Merge)
        .upsert(&mut tx, batch())
        .unwrap();
    tx.commit().unwrap();
    assert_eq!(
        report.tables[0].plan.path(),
        pg_bulk_ingest::plan::Path::Rebuild
    );
    let t = &report.tables[0];
    assert_eq!(
        (t.inserted, t.updated, t.unchanged),
        (Some(1), Some(1), Some(1))
    );
    assert_eq!(contacts(&mut client).len(), 4);
    let ty: String = client
        .query_one(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute \
             WHERE attrelid = 'crm.contact'::regclass AND attname = 'name'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(ty, "text");
}

// ---------------------------------------------------------------------------
// A repeated key whose first row equals the stored one: `DO UPDATE ...
// WHERE` doesn't see the repeat, so the choices check for it.

#[derive(BulkTable, Debug, Clone, PartialEq)]
#[bulk(table = "kv")]
struct Kv {
    #[bulk(primary_key)]
    k: i32,
    v: String,
}

fn kv(k: i32, v: &str) -> Kv {
    Kv { k, v: v.to_owned() }
}

fn kvs(client: &mut impl GenericClient) -> Vec<(i32, String)> {
    client
        .query("SELECT k, v FROM public.kv ORDER BY k", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

#[test]
fn a_repeat_whose_first_row_changes_nothing_is_still_a_repeat() {
    let db = pg_bulk_ingest_testkit::server().create_database("modes_hidden_repeat");
    let mut client = db.connect();
    let mut tx = client.transaction().unwrap();
    pg_bulk_ingest::insert(&mut tx, [kv(1, "a"), kv(2, "x")]).unwrap();
    tx.commit().unwrap();
    let batch = [kv(1, "a"), kv(1, "b")];
    let mut tx = client.transaction().unwrap();
    for choice in [Duplicates::Error, Duplicates::AssumeUnique] {
        let err = Ingest::new()
            .duplicates(choice)
            .upsert(&mut tx, batch.clone())
            .unwrap_err();
        assert!(
            matches!(&err, Error::DuplicateKey { key, rows: Some((0, 1)), .. } if key == "(k)=(1)"),
            "{choice:?}: {err:?}"
        );
        assert_eq!(kvs(&mut tx), [(1, "a".to_owned()), (2, "x".to_owned())]);
    }
    let report = Ingest::new()
        .duplicates(Duplicates::KeepFirst)
        .upsert(&mut tx, batch.clone())
        .unwrap();
    let t = &report.tables[0];
    assert_eq!((t.unchanged, t.duplicates), (Some(1), 1));
    assert_eq!(kvs(&mut tx)[0], (1, "a".to_owned()));
    let report = pg_bulk_ingest::upsert(&mut tx, batch.clone()).unwrap();
    assert_eq!(kvs(&mut tx)[0], (1, "b".to_owned()), "the last row wins");
    // Documented: the first row changed nothing, so the merge ran once and
    // counted it unchanged.
    assert_eq!(report.tables[0].updated, Some(1));
    tx.commit().unwrap();
}

#[derive(BulkTable, Debug, Clone, PartialEq)]
#[bulk(table = "no_key", unique(a), unique(b))]
struct NoPrimaryKey {
    a: i32,
    b: i32,
    #[bulk(unique)]
    c: Option<i32>,
}

#[test]
fn insert_and_replace_need_no_conflict_key() {
    let db = pg_bulk_ingest_testkit::server().create_database("modes_no_pk_insert");
    let mut client = db.connect();
    let mut tx = client.transaction().unwrap();
    let row = |n: i32| NoPrimaryKey {
        a: n,
        b: -n,
        c: None,
    };
    pg_bulk_ingest::insert(&mut tx, [row(1), row(2)]).unwrap();
    Ingest::new()
        .duplicates(Duplicates::KeepLast)
        .insert(&mut tx, [row(3)])
        .unwrap();
    pg_bulk_ingest::replace(&mut tx, [row(7)]).unwrap();
    let count: i64 = tx
        .query_one("SELECT count(*) FROM public.no_key", &[])
        .unwrap()
        .get(0);
    assert_eq!(count, 1);
    tx.commit().unwrap();
}
