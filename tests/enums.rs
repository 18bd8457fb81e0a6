//! Rust enums as PostgreSQL enum types (`#[derive(BulkEnum)]`): the type is
//! created with the table, columns of it round-trip through insert, upsert and
//! replace (`Option` ones too), re-runs change nothing whatever the search
//! path, a type lacking labels is a typed error until `prepare` adds them, and
//! migrations to and from enum columns cast by label.

use pg_bulk_ingest::plan::Refusal;
use pg_bulk_ingest::{BulkEnum, BulkRows, BulkTable, Encode, Error, Ingest};
use postgres::error::SqlState;
use postgres::{Client, GenericClient};

#[derive(BulkEnum, Debug, Clone, Copy, PartialEq, Eq)]
#[bulk(schema = "kinds", type_name = "mood")]
enum Mood {
    Happy,
    #[bulk(rename = "so so")]
    SoSo,
    Sad,
}

impl Mood {
    fn parse(label: &str) -> Mood {
        match label {
            "happy" => Mood::Happy,
            "so so" => Mood::SoSo,
            "sad" => Mood::Sad,
            other => panic!("not a Mood label: {other:?}"),
        }
    }
}

#[derive(BulkTable, Debug, Clone, PartialEq)]
#[bulk(schema = "e", table = "diary")]
struct Entry {
    #[bulk(primary_key)]
    id: i64,
    mood: Mood,
    previous: Option<Mood>,
}

fn entry(id: i64, mood: Mood, previous: Option<Mood>) -> Entry {
    Entry { id, mood, previous }
}

fn connect(prefix: &str) -> (pg_bulk_ingest_testkit::TestDb, Client) {
    let db = pg_bulk_ingest_testkit::server().create_database(prefix);
    let client = db.connect();
    (db, client)
}

/// The labels of type `name` (e.g. `kinds.mood`) in sort order, from `pg_enum`.
fn labels(client: &mut impl GenericClient, name: &str) -> Vec<String> {
    client
        .query(
            "SELECT enumlabel::text FROM pg_catalog.pg_enum \
             WHERE enumtypid = $1::text::regtype ORDER BY enumsortorder",
            &[&name],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

fn type_exists(client: &mut impl GenericClient, schema: &str, name: &str) -> bool {
    client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_type t \
             JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace \
             WHERE n.nspname = $1 AND t.typname = $2)",
            &[&schema, &name],
        )
        .unwrap()
        .get(0)
}

fn table_oid(client: &mut impl GenericClient, table: &str) -> Option<u32> {
    client
        .query_one("SELECT to_regclass($1)::oid", &[&table])
        .unwrap()
        .get(0)
}

fn read_entries(client: &mut impl GenericClient) -> Vec<Entry> {
    client
        .query(
            "SELECT id, mood::text, previous::text FROM e.diary ORDER BY id",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| Entry {
            id: r.get(0),
            mood: Mood::parse(r.get(1)),
            previous: r.get::<_, Option<&str>>(2).map(Mood::parse),
        })
        .collect()
}

fn insert<T>(client: &mut Client, rows: Vec<T>) -> pg_bulk_ingest::Result<pg_bulk_ingest::Report>
where
    T: BulkTable + pg_bulk_ingest::AsRow,
{
    let mut tx = client.transaction().unwrap();
    let report = pg_bulk_ingest::insert(&mut tx, rows)?;
    tx.commit().unwrap();
    Ok(report)
}

#[test]
fn the_type_is_created_with_the_table() {
    let (_db, mut client) = connect("enums_create");
    let rows = vec![
        entry(1, Mood::Happy, None),
        entry(2, Mood::SoSo, Some(Mood::Sad)),
        entry(3, Mood::Sad, Some(Mood::SoSo)),
    ];
    let report = insert(&mut client, rows.clone()).unwrap();
    assert!(report.tables[0].created);
    // The type, in a schema of its own that did not exist, with every label
    // in the enum's order.
    assert_eq!(labels(&mut client, "kinds.mood"), ["happy", "so so", "sad"]);
    let columns: Vec<(String, bool, bool)> = client
        .query(
            "SELECT attname::text, atttypid = 'kinds.mood'::regtype, attnotnull \
             FROM pg_attribute WHERE attrelid = 'e.diary'::regclass AND attnum > 0 ORDER BY attnum",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        columns,
        [
            ("id".to_owned(), false, true),
            ("mood".to_owned(), true, true),
            ("previous".to_owned(), true, false),
        ]
    );
    assert_eq!(read_entries(&mut client), rows);
    // The enum's order is the type's: PostgreSQL sorts by it.
    let sorted: Vec<i64> = client
        .query("SELECT id FROM e.diary ORDER BY mood DESC", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(sorted, [3, 2, 1]);
}

#[test]
fn insert_upsert_and_replace_round_trip_option_enums() {
    let (_db, mut client) = connect("enums_round_trip");
    insert(
        &mut client,
        vec![
            entry(1, Mood::Happy, None),
            entry(2, Mood::SoSo, Some(Mood::Sad)),
            entry(3, Mood::Sad, Some(Mood::Happy)),
        ],
    )
    .unwrap();

    let mut tx = client.transaction().unwrap();
    let report = pg_bulk_ingest::upsert(
        &mut tx,
        vec![
            entry(1, Mood::Happy, Some(Mood::SoSo)), // NULL -> label
            entry(2, Mood::SoSo, None),              // label -> NULL
            entry(3, Mood::Sad, Some(Mood::Happy)),  // unchanged
            entry(4, Mood::SoSo, Some(Mood::SoSo)),  // new
            entry(4, Mood::Happy, None),             // the last one wins
        ],
    )
    .unwrap();
    tx.commit().unwrap();
    assert_eq!(report.rows, 5);
    // The unchanged row is not rewritten; the new key counts once.
    assert_eq!(report.tables[0].written, 3);
    assert_eq!(
        read_entries(&mut client),
        [
            entry(1, Mood::Happy, Some(Mood::SoSo)),
            entry(2, Mood::SoSo, None),
            entry(3, Mood::Sad, Some(Mood::Happy)),
            entry(4, Mood::Happy, None),
        ]
    );

    let mut tx = client.transaction().unwrap();
    let rows = vec![
        entry(7, Mood::Sad, None),
        entry(8, Mood::SoSo, Some(Mood::Sad)),
    ];
    pg_bulk_ingest::replace(&mut tx, &rows).unwrap();
    tx.commit().unwrap();
    assert_eq!(read_entries(&mut client), rows);
    // Still the one type, with its labels.
    assert_eq!(labels(&mut client, "kinds.mood"), ["happy", "so so", "sad"]);
}

/// Defaults: `public`, the enum's name and variants in snake_case.
#[derive(BulkEnum, Debug, Clone, Copy, PartialEq)]
enum SkyCover {
    Clear,
    PartlyCloudy,
}

/// Names that need quoting everywhere.
#[derive(BulkEnum, Debug, Clone, Copy, PartialEq)]
#[bulk(schema = "Odd Schema", type_name = "Odd \"Type\"")]
enum Odd {
    #[bulk(rename = "it's")]
    Its,
    #[bulk(rename = "back\\slash")]
    Backslash,
}

#[derive(BulkTable, Debug, Clone, PartialEq)]
#[bulk(schema = "e", table = "sky")]
struct Sky {
    #[bulk(primary_key)]
    id: i64,
    cover: SkyCover,
    odd: Odd,
    mood: Option<Mood>,
}

#[test]
fn reruns_change_nothing_whatever_the_search_path() {
    let (_db, mut client) = connect("enums_rerun");
    assert_eq!(
        <SkyCover as Encode>::SQL_TYPE.to_string(),
        r#""public"."sky_cover""#
    );
    let rows = |ids: std::ops::Range<i64>| -> Vec<Sky> {
        ids.map(|id| Sky {
            id,
            cover: if id % 2 == 0 {
                SkyCover::Clear
            } else {
                SkyCover::PartlyCloudy
            },
            odd: if id % 3 == 0 {
                Odd::Its
            } else {
                Odd::Backslash
            },
            mood: (id % 4 != 0).then_some(Mood::SoSo),
        })
        .collect()
    };
    insert(&mut client, rows(0..10)).unwrap();
    assert_eq!(
        labels(&mut client, "public.sky_cover"),
        ["clear", "partly_cloudy"]
    );
    assert_eq!(
        labels(&mut client, r#""Odd Schema"."Odd ""Type""""#),
        ["it's", "back\\slash"]
    );
    let oid = table_oid(&mut client, "e.sky").unwrap();
    // `format_type` spells the three types three ways: unqualified (on the
    // search path), qualified and quoted.
    let spelled: Vec<String> = client
        .query(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute \
             WHERE attrelid = 'e.sky'::regclass AND attnum > 1 ORDER BY attnum",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        spelled,
        ["sky_cover", r#""Odd Schema"."Odd ""Type""""#, "kinds.mood"]
    );
    for (run, search_path) in ["\"$user\", public", "kinds, \"Odd Schema\"", "pg_catalog"]
        .into_iter()
        .enumerate()
    {
        client
            .batch_execute(&format!("SET search_path = {search_path}"))
            .unwrap();
        let plan = pg_bulk_ingest::plan::<Sky>(&mut client, pg_bulk_ingest::Mode::Insert).unwrap();
        assert!(
            plan.to_string().contains("nothing to change"),
            "{search_path}: {plan}"
        );
        let first = 100 + 10 * run as i64;
        let report = insert(&mut client, rows(first..first + 3)).unwrap();
        assert!(!report.tables[0].created);
        assert_eq!(table_oid(&mut client, "e.sky"), Some(oid), "{search_path}");
    }
    let count: i64 = client
        .query_one("SELECT count(*) FROM e.sky", &[])
        .unwrap()
        .get(0);
    assert_eq!(count, 10 + 3 * 3);
    let back: Vec<(String, String)> = client
        .query(
            "SELECT cover::text, odd::text FROM e.sky WHERE id < 4 ORDER BY id",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        back,
        [
            ("clear".to_owned(), "it's".to_owned()),
            ("partly_cloudy".to_owned(), "back\\slash".to_owned()),
            ("clear".to_owned(), "back\\slash".to_owned()),
            ("partly_cloudy".to_owned(), "it's".to_owned()),
        ]
    );
}

#[test]
fn a_type_lacking_labels_is_an_error_until_prepare_adds_them() {
    let (_db, mut client) = connect("enums_missing_label");
    // The type exists with another order, a label the enum lacks, and
    // without 'so so'.
    client
        .batch_execute(
            "CREATE SCHEMA kinds; CREATE TYPE kinds.mood AS ENUM ('sad', 'happy', 'extra')",
        )
        .unwrap();
    let rows = vec![
        entry(1, Mood::SoSo, Some(Mood::Happy)),
        entry(2, Mood::Sad, None),
    ];

    let mut tx = client.transaction().unwrap();
    tx.batch_execute("CREATE TABLE public.marker (x int)")
        .unwrap();
    let err = pg_bulk_ingest::insert(&mut tx, &rows).unwrap_err();
    match &err {
        Error::EnumLabelsMissing {
            table,
            type_name,
            labels,
        } => {
            assert_eq!(table, r#""e"."diary""#);
            assert_eq!(type_name, r#""kinds"."mood""#);
            assert_eq!(labels, &["so so"]);
        }
        other => panic!("expected EnumLabelsMissing, got {other:?}"),
    }
    let message = err.to_string();
    assert!(message.contains("'so so'"), "{message}");
    assert!(
        message.contains("pg_bulk_ingest::prepare::<T>(&mut client)"),
        "{message}"
    );
    assert_eq!(err.sqlstate(), None);
    // Nothing was created, and the transaction goes on.
    assert_eq!(table_oid(&mut tx, "e.diary"), None);
    assert!(table_oid(&mut tx, "public.marker").is_some());
    assert_eq!(labels(&mut tx, "kinds.mood"), ["sad", "happy", "extra"]);
    // upsert and replace say the same.
    for result in [
        pg_bulk_ingest::upsert(&mut tx, &rows),
        pg_bulk_ingest::replace(&mut tx, &rows),
    ] {
        assert!(
            matches!(result, Err(Error::EnumLabelsMissing { .. })),
            "{result:?}"
        );
    }
    tx.commit().unwrap();

    // `prepare` adds the label after the one before it in the enum, keeps the
    // others, and commits.
    let statements = pg_bulk_ingest::prepare::<Entry>(&mut client).unwrap();
    assert_eq!(
        statements,
        [r#"ALTER TYPE "kinds"."mood" ADD VALUE IF NOT EXISTS 'so so' AFTER 'happy'"#]
    );
    assert_eq!(
        labels(&mut client, "kinds.mood"),
        ["sad", "happy", "so so", "extra"]
    );
    // Nothing more to do, and still no table.
    assert!(pg_bulk_ingest::prepare::<Entry>(&mut client)
        .unwrap()
        .is_empty());
    assert_eq!(table_oid(&mut client, "e.diary"), None);

    let report = insert(&mut client, rows.clone()).unwrap();
    assert!(report.tables[0].created);
    assert_eq!(read_entries(&mut client), rows);
}

#[test]
fn prepare_creates_missing_types_and_their_schemas() {
    let (db, mut client) = connect("enums_prepare_create");
    let statements = pg_bulk_ingest::prepare::<Sky>(&mut client).unwrap();
    assert_eq!(
        statements,
        [
            r#"CREATE TYPE "public"."sky_cover" AS ENUM ('clear', 'partly_cloudy')"#,
            r#"CREATE SCHEMA IF NOT EXISTS "Odd Schema""#,
            r#"CREATE TYPE "Odd Schema"."Odd ""Type""" AS ENUM ('it''s', E'back\\slash')"#,
            r#"CREATE SCHEMA IF NOT EXISTS "kinds""#,
            r#"CREATE TYPE "kinds"."mood" AS ENUM ('happy', 'so so', 'sad')"#,
        ]
    );
    // Committed: another session sees them.
    let mut other = db.connect();
    assert_eq!(labels(&mut other, "kinds.mood"), ["happy", "so so", "sad"]);
    assert_eq!(
        labels(&mut other, r#""Odd Schema"."Odd ""Type""""#),
        ["it's", "back\\slash"]
    );
    // The tables are not made by prepare.
    assert_eq!(table_oid(&mut client, "e.sky"), None);
    assert!(pg_bulk_ingest::prepare::<Sky>(&mut client)
        .unwrap()
        .is_empty());
}

/// Why the library can't add labels inside the caller's transaction: the
/// server refuses to use a label added in a transaction until it commits,
/// even for a type created in that same transaction.
#[test]
fn a_type_made_in_the_same_transaction_cant_take_new_labels() {
    let (_db, mut client) = connect("enums_same_tx");
    let mut tx = client.transaction().unwrap();
    tx.batch_execute("CREATE SCHEMA kinds; CREATE TYPE kinds.mood AS ENUM ('happy', 'sad')")
        .unwrap();
    let err = pg_bulk_ingest::insert(&mut tx, vec![entry(1, Mood::SoSo, None)]).unwrap_err();
    assert!(
        matches!(&err, Error::EnumLabelsMissing { labels, .. } if labels == &["so so"]),
        "{err:?}"
    );
    tx.batch_execute("SAVEPOINT s; ALTER TYPE kinds.mood ADD VALUE 'so so'")
        .unwrap();
    let err = tx.query_one("SELECT 'so so'::kinds.mood", &[]).unwrap_err();
    assert_eq!(
        err.code(),
        Some(&SqlState::UNSAFE_NEW_ENUM_VALUE_USAGE),
        "{err}"
    );
    tx.batch_execute("ROLLBACK TO SAVEPOINT s").unwrap();
    // A type the call creates itself has every label at once.
    tx.batch_execute("DROP TYPE kinds.mood").unwrap();
    let rows = vec![entry(1, Mood::SoSo, Some(Mood::Sad))];
    pg_bulk_ingest::insert(&mut tx, &rows).unwrap();
    assert_eq!(read_entries(&mut tx), rows);
    tx.commit().unwrap();
}

#[test]
fn a_name_taken_by_another_kind_of_type_is_refused() {
    let (_db, mut client) = connect("enums_not_an_enum");
    client
        .batch_execute("CREATE SCHEMA kinds; CREATE DOMAIN kinds.mood AS text")
        .unwrap();
    let err = insert(&mut client, vec![entry(1, Mood::Happy, None)]).unwrap_err();
    match &err {
        Error::Refused { table, refusals } => {
            assert_eq!(table, r#""e"."diary""#);
            assert_eq!(
                refusals,
                &[Refusal::TypeNotAnEnum {
                    type_name: r#""kinds"."mood""#.into(),
                    typtype: 'd'
                }]
            );
        }
        other => panic!("expected Refused, got {other:?}"),
    }
    assert!(err.to_string().contains("taken by a domain"), "{err}");
    assert_eq!(table_oid(&mut client, "e.diary"), None);
    assert!(matches!(
        pg_bulk_ingest::prepare::<Entry>(&mut client),
        Err(Error::Refused { .. })
    ));
}

#[derive(BulkTable, Debug, Clone, PartialEq)]
#[bulk(schema = "e", table = "as_text")]
struct AsText {
    #[bulk(primary_key)]
    id: i64,
    #[bulk(sql_type = "text")]
    mood: Mood,
    #[bulk(sql_type = "varchar(5)")]
    short: Option<Mood>,
}

#[test]
fn text_columns_take_the_labels() {
    let (_db, mut client) = connect("enums_as_text");
    insert(
        &mut client,
        vec![
            AsText {
                id: 1,
                mood: Mood::SoSo,
                short: Some(Mood::Happy),
            },
            AsText {
                id: 2,
                mood: Mood::Sad,
                short: None,
            },
        ],
    )
    .unwrap();
    let back: Vec<(String, String, Option<String>)> = client
        .query(
            "SELECT format_type(atttypid, atttypmod), mood, short FROM e.as_text, pg_attribute \
             WHERE attrelid = 'e.as_text'::regclass AND attname = 'short' ORDER BY id",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        back,
        [
            (
                "character varying(5)".into(),
                "so so".into(),
                Some("happy".into())
            ),
            ("character varying(5)".into(), "sad".into(), None),
        ]
    );
    // No type is made for text columns.
    assert!(!type_exists(&mut client, "kinds", "mood"));
    // 'so so' is 5 characters: it fits; nothing longer is a label here, so a
    // narrower column shows the check.
    #[derive(BulkTable)]
    #[bulk(schema = "e", table = "narrow")]
    struct Narrow {
        #[bulk(sql_type = "varchar(3)")]
        mood: Mood,
    }
    let err = insert(
        &mut client,
        vec![Narrow { mood: Mood::Sad }, Narrow { mood: Mood::Happy }],
    )
    .unwrap_err();
    assert_eq!((err.row(), err.column()), (Some(1), Some("mood")));
    assert!(err.to_string().contains("value too long"), "{err}");
}

mod as_string {
    use pg_bulk_ingest::BulkTable;

    #[derive(BulkTable)]
    #[bulk(schema = "e", table = "diary")]
    pub struct Entry {
        #[bulk(primary_key)]
        pub id: i64,
        pub mood: String,
        pub previous: Option<String>,
    }
}

#[test]
fn migrations_cast_to_and_from_enums_by_label() {
    let (_db, mut client) = connect("enums_migrate");
    let text_rows = |labels: &[&str]| -> Vec<as_string::Entry> {
        labels
            .iter()
            .enumerate()
            .map(|(i, l)| as_string::Entry {
                id: i as i64,
                mood: (*l).to_owned(),
                previous: (i % 2 == 0).then(|| "sad".to_owned()),
            })
            .collect()
    };
    insert(&mut client, text_rows(&["happy", "so so"])).unwrap();
    let oid = table_oid(&mut client, "e.diary").unwrap();

    // text -> enum: a value may not be a label, so data loss must be allowed.
    let err = insert(&mut client, vec![entry(10, Mood::Sad, None)]).unwrap_err();
    match &err {
        Error::Refused { refusals, .. } => assert!(
            refusals
                .iter()
                .any(|r| matches!(r, Refusal::DataLoss { what } if what.contains("\"mood\""))),
            "{refusals:?}"
        ),
        other => panic!("expected Refused, got {other:?}"),
    }
    assert_eq!(table_oid(&mut client, "e.diary"), Some(oid));
    // The type the refused call created went with its savepoint.
    assert!(!type_exists(&mut client, "kinds", "mood"));

    let mut tx = client.transaction().unwrap();
    Ingest::new()
        .allow_data_loss(true)
        .insert(&mut tx, vec![entry(10, Mood::Sad, None)])
        .unwrap();
    tx.commit().unwrap();
    assert_ne!(table_oid(&mut client, "e.diary"), Some(oid));
    assert_eq!(
        read_entries(&mut client),
        [
            entry(0, Mood::Happy, Some(Mood::Sad)),
            entry(1, Mood::SoSo, None),
            entry(10, Mood::Sad, None),
        ]
    );
    // Re-run: nothing to change.
    let plan = pg_bulk_ingest::plan::<Entry>(&mut client, pg_bulk_ingest::Mode::Insert).unwrap();
    assert!(plan.to_string().contains("nothing to change"), "{plan}");

    // enum -> text: every label fits, no permission needed.
    insert(&mut client, text_rows(&["x", "y", "z"]).split_off(2)).unwrap();
    let back: Vec<(String, Option<String>)> = client
        .query("SELECT mood, previous FROM e.diary ORDER BY id", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        back,
        [
            ("happy".to_owned(), Some("sad".to_owned())),
            ("so so".to_owned(), None),
            ("z".to_owned(), Some("sad".to_owned())),
            ("sad".to_owned(), None),
        ]
    );

    // Back to the enum with a value that is no label: the call fails and the
    // table is left as it was.
    let before = table_oid(&mut client, "e.diary");
    let mut tx = client.transaction().unwrap();
    let err = Ingest::new()
        .allow_data_loss(true)
        .insert(&mut tx, vec![entry(11, Mood::Sad, None)])
        .unwrap_err();
    assert_eq!(err.sqlstate(), Some("22P02"), "{err}");
    drop(tx);
    assert_eq!(table_oid(&mut client, "e.diary"), before);
}

mod without_mood {
    use pg_bulk_ingest::BulkTable;

    #[derive(BulkTable)]
    #[bulk(schema = "e", table = "late")]
    pub struct Late {
        #[bulk(primary_key)]
        pub id: i64,
    }
}

#[derive(BulkTable, Debug, PartialEq)]
#[bulk(schema = "e", table = "late")]
struct Late {
    #[bulk(primary_key)]
    id: i64,
    #[bulk(default = "'sad'")]
    mood: Mood,
}

/// The statements of the plan's prelude that create enum types (and their
/// schemas), in order; not the advisory locks around them.
fn created_types(plan: &pg_bulk_ingest::Plan) -> Vec<&str> {
    plan.steps()
        .iter()
        .filter(|s| s.stage() == pg_bulk_ingest::plan::Stage::Prelude && s.lock().is_none())
        .map(|s| s.sql())
        .collect()
}

#[test]
fn a_new_enum_column_with_a_default_on_a_table_with_rows() {
    let (_db, mut client) = connect("enums_new_column");
    insert(
        &mut client,
        (0..3).map(|id| without_mood::Late { id }).collect(),
    )
    .unwrap();
    // The plan creates the type (shown first) but changes nothing.
    let plan = pg_bulk_ingest::plan::<Late>(&mut client, pg_bulk_ingest::Mode::Insert).unwrap();
    assert_eq!(
        created_types(&plan),
        [
            r#"CREATE SCHEMA IF NOT EXISTS "kinds""#,
            r#"CREATE TYPE "kinds"."mood" AS ENUM ('happy', 'so so', 'sad')"#
        ]
    );
    let shown = plan.to_string();
    assert!(
        shown.contains(r#"CREATE TYPE "kinds"."mood" AS ENUM ('happy', 'so so', 'sad');"#),
        "{shown}"
    );
    assert!(shown.contains(r#"add column "mood""#), "{shown}");
    assert!(!type_exists(&mut client, "kinds", "mood"));

    // Rebuilt: the old rows get the default in the copy.
    insert(
        &mut client,
        vec![Late {
            id: 3,
            mood: Mood::Happy,
        }],
    )
    .unwrap();
    let back: Vec<(i64, String)> = client
        .query("SELECT id, mood::text FROM e.late ORDER BY id", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        back,
        [
            (0, "sad".to_owned()),
            (1, "sad".to_owned()),
            (2, "sad".to_owned()),
            (3, "happy".to_owned())
        ]
    );
    // The default, as PostgreSQL normalizes it, matches on a re-run.
    let plan = pg_bulk_ingest::plan::<Late>(&mut client, pg_bulk_ingest::Mode::Insert).unwrap();
    assert!(plan.to_string().contains("nothing to change"), "{plan}");
    assert!(created_types(&plan).is_empty());
}

#[derive(BulkTable, Debug, Clone, PartialEq)]
#[bulk(schema = "e", table = "note")]
struct Note {
    #[bulk(primary_key)]
    id: i64,
    mood: Mood,
}

#[derive(BulkRows)]
enum Row {
    Entry(Entry),
    Note(Note),
}

#[test]
fn tables_of_one_call_share_a_type() {
    let (_db, mut client) = connect("enums_multi");
    let rows = vec![
        Row::Note(Note {
            id: 1,
            mood: Mood::Sad,
        }),
        Row::Entry(entry(1, Mood::Happy, Some(Mood::SoSo))),
    ];
    let mut tx = client.transaction().unwrap();
    pg_bulk_ingest::upsert(&mut tx, rows).unwrap();
    tx.commit().unwrap();
    assert_eq!(
        read_entries(&mut client),
        [entry(1, Mood::Happy, Some(Mood::SoSo))]
    );
    let note: String = client
        .query_one("SELECT mood::text FROM e.note", &[])
        .unwrap()
        .get(0);
    assert_eq!(note, "sad");
    let types: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_type WHERE typname = 'mood' AND typtype = 'e'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(types, 1);
}
