//! What each supported PostgreSQL major (12 to 18) stores in its catalogs, and
//! that the library reads it right: a table it made compares as unchanged, a
//! swap carries what the new table gets and refuses what it would lose. Each
//! test asserts what the server it runs on guarantees; where a feature does not
//! exist on a major, the test asserts that the server refuses it, so that a
//! run on the wrong major cannot pass by accident.

use pg_bulk_ingest::{BulkTable, Error};
use pg_bulk_ingest_testkit::major;
use postgres::Client;

fn connect(name: &str) -> (pg_bulk_ingest_testkit::TestDb, Client) {
    let db = pg_bulk_ingest_testkit::server().create_database(name);
    let client = db.connect();
    (db, client)
}

fn oid(client: &mut Client, table: &str) -> u32 {
    client
        .query_one("SELECT $1::text::regclass::oid", &[&table])
        .unwrap()
        .get(0)
}

/// The names of the `NOT NULL` constraints PostgreSQL 18 keeps in
/// `pg_constraint`, by column (none before 18).
fn not_null_constraints(client: &mut Client, table: &str) -> Vec<(String, String)> {
    client
        .query(
            "SELECT a.attname::text, k.conname::text \
             FROM pg_catalog.pg_constraint k \
             JOIN pg_catalog.pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1] \
             WHERE k.conrelid = $1::text::regclass AND k.contype = 'n' ORDER BY 1",
            &[&table],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

/// The objects and settings a swap would lose, as the `Dependents` error of a
/// `replace` names them.
fn replace_refusal<R: pg_bulk_ingest::AsRow>(client: &mut Client, rows: Vec<R>) -> Vec<String> {
    let mut tx = client.transaction().unwrap();
    let err = pg_bulk_ingest::replace(&mut tx, rows).expect_err("replace must refuse");
    tx.rollback().unwrap();
    match err {
        Error::Dependents { dependents, .. } => dependents,
        other => panic!("expected Error::Dependents, got {other}"),
    }
}

/// A statement only some majors accept: it must succeed from `since` on and
/// fail with a syntax error (42601) or "feature not supported" before.
fn since(client: &mut Client, since: i32, sql: &str) -> bool {
    let major = major(client);
    let result = client.batch_execute(sql);
    if major >= since {
        result.unwrap_or_else(|e| panic!("PostgreSQL {major} refused {sql}: {e:?}"));
        true
    } else {
        let err = result.expect_err(&format!("PostgreSQL {major} accepted {sql}"));
        let code = err.code().map(|c| c.code().to_owned());
        assert!(
            matches!(code.as_deref(), Some("42601" | "0A000" | "42704")),
            "PostgreSQL {major}, {sql}: {err:?}"
        );
        false
    }
}

#[derive(BulkTable, Clone)]
#[bulk(schema = "v", table = "t")]
struct T {
    #[bulk(primary_key)]
    id: i64,
    name: String,
    note: Option<String>,
}

fn rows(n: i64) -> Vec<T> {
    (0..n)
        .map(|id| T {
            id,
            name: format!("n{id}"),
            note: None,
        })
        .collect()
}

fn load(client: &mut Client, how: fn(&mut postgres::Transaction<'_>, Vec<T>)) {
    let mut tx = client.transaction().unwrap();
    how(&mut tx, rows(10));
    tx.commit().unwrap();
}

fn insert(tx: &mut postgres::Transaction<'_>, rows: Vec<T>) {
    pg_bulk_ingest::insert(tx, rows).unwrap();
}

fn upsert(tx: &mut postgres::Transaction<'_>, rows: Vec<T>) {
    pg_bulk_ingest::upsert(tx, rows).unwrap();
}

fn replace(tx: &mut postgres::Transaction<'_>, rows: Vec<T>) {
    pg_bulk_ingest::replace(tx, rows).unwrap();
}

#[test]
fn a_swapped_in_table_has_the_not_null_names_of_a_table_made_under_its_own_name() {
    let (_db, mut client) = connect("versions_not_null");
    load(&mut client, insert);
    let created = not_null_constraints(&mut client, "v.t");
    load(&mut client, replace);
    let replaced = not_null_constraints(&mut client, "v.t");
    if major(&mut client) >= 18 {
        let expected = vec![
            ("id".to_owned(), "t_id_not_null".to_owned()),
            ("name".to_owned(), "t_name_not_null".to_owned()),
        ];
        assert_eq!(created, expected);
        assert_eq!(
            replaced, expected,
            "the intermediate table's names stay out"
        );
    } else {
        assert_eq!((created, replaced), (Vec::new(), Vec::new()));
    }
    // A re-run over the swapped-in table compares as unchanged, and a swap
    // again refuses nothing.
    let plan = pg_bulk_ingest::plan::<T>(&mut client, pg_bulk_ingest::Mode::Insert).unwrap();
    assert!(plan.to_string().contains("nothing to change"), "{plan}");
    let before = oid(&mut client, "v.t");
    load(&mut client, upsert);
    assert_eq!(oid(&mut client, "v.t"), before);
    load(&mut client, replace);
    assert_ne!(oid(&mut client, "v.t"), before);
}

#[test]
fn a_not_valid_not_null_is_compared_as_nullable() {
    #[derive(BulkTable, Clone)]
    #[bulk(schema = "v", table = "t")]
    struct Strict {
        #[bulk(primary_key)]
        id: i64,
        name: String,
        note: String,
    }
    let (_db, mut client) = connect("versions_not_valid");
    load(&mut client, insert);
    // PostgreSQL 18 keeps a NOT VALID NOT NULL: attnotnull is true, the NULLs
    // already stored stay. Before 18 the column stays nullable.
    since(
        &mut client,
        18,
        "ALTER TABLE v.t ADD CONSTRAINT note_set NOT NULL note NOT VALID",
    );
    let plan =
        pg_bulk_ingest::plan::<Strict>(&mut client, pg_bulk_ingest::Mode::Insert).unwrap_err();
    assert!(
        plan.to_string().contains(r#"column "note" holds NULLs"#),
        "{plan}"
    );
    // With the NULLs gone (and on 18 the constraint validated) it matches.
    client.batch_execute("UPDATE v.t SET note = 'x'").unwrap();
    since(
        &mut client,
        18,
        "ALTER TABLE v.t VALIDATE CONSTRAINT note_set",
    );
    let plan = pg_bulk_ingest::plan::<Strict>(&mut client, pg_bulk_ingest::Mode::Insert).unwrap();
    let text = plan.to_string();
    if major(&mut client) >= 18 {
        assert!(text.contains("nothing to change"), "{text}");
    } else {
        assert!(text.contains(r#"make column "note" NOT NULL"#), "{text}");
    }
}

#[test]
fn generated_columns_on_every_major() {
    let (_db, mut client) = connect("versions_generated");
    load(&mut client, insert);
    // A stored generated column the definition declares as a plain column:
    // a swap would make it plain, so it is refused, and nothing else is named
    // (neither the table itself, whose generated column's dependency on it
    // 12-14 record, nor NOT NULL constraints, which 18 records).
    client
        .batch_execute(
            "ALTER TABLE v.t DROP COLUMN note, \
             ADD COLUMN note text GENERATED ALWAYS AS (name || '!') STORED",
        )
        .unwrap();
    assert_eq!(
        replace_refusal(&mut client, rows(3)),
        [r#"column "note": an identity or generated column the definition declares otherwise"#]
    );
    // One the definition doesn't declare goes, as any undeclared column does
    // in a replace.
    client
        .batch_execute(
            "ALTER TABLE v.t DROP COLUMN note, ADD COLUMN note text, \
             ADD COLUMN g bigint GENERATED ALWAYS AS (id * 2) STORED",
        )
        .unwrap();
    let mut tx = client.transaction().unwrap();
    pg_bulk_ingest::replace(&mut tx, rows(3)).unwrap();
    tx.commit().unwrap();
    let columns: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_attribute WHERE attrelid = 'v.t'::regclass AND attnum > 0 \
             AND NOT attisdropped",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(columns, 3);
    // Virtual generated columns (PostgreSQL 18) are refused as column
    // settings: the definition can't declare them.
    if since(
        &mut client,
        18,
        "ALTER TABLE v.t ADD COLUMN w bigint GENERATED ALWAYS AS (id * 3) VIRTUAL",
    ) {
        assert_eq!(
            replace_refusal(&mut client, rows(3)),
            ["column settings (w)"]
        );
    }
}

#[test]
fn constraints_a_swap_would_lose_are_named_enforced_or_not() {
    let (_db, mut client) = connect("versions_not_enforced");
    load(&mut client, insert);
    client
        .batch_execute("ALTER TABLE v.t ADD CONSTRAINT positive CHECK (id >= 0)")
        .unwrap();
    assert_eq!(
        replace_refusal(&mut client, rows(3)),
        ["constraint positive on table v.t"]
    );
    client
        .batch_execute("ALTER TABLE v.t DROP CONSTRAINT positive")
        .unwrap();
    // NOT ENFORCED constraints: PostgreSQL 18. Still constraints the new
    // table would not have.
    if since(
        &mut client,
        18,
        "ALTER TABLE v.t ADD CONSTRAINT short CHECK (length(name) < 3) NOT ENFORCED",
    ) {
        assert_eq!(
            replace_refusal(&mut client, rows(3)),
            ["constraint short on table v.t"]
        );
    }
}

#[test]
fn a_temporal_primary_key_is_not_taken_for_a_plain_one() {
    let (_db, mut client) = connect("versions_temporal");
    client
        .batch_execute("CREATE EXTENSION btree_gist; CREATE SCHEMA v")
        .unwrap();
    // PRIMARY KEY ... WITHOUT OVERLAPS: PostgreSQL 18. The new table's key
    // would be a plain one, so a swap refuses.
    if since(
        &mut client,
        18,
        "CREATE TABLE v.t (id bigint, name text NOT NULL, note text, valid tstzrange, \
         PRIMARY KEY (id, valid WITHOUT OVERLAPS))",
    ) {
        let dependents = replace_refusal(&mut client, rows(3));
        assert!(
            dependents.contains(&"constraint t_pkey on table v.t".to_owned()),
            "{dependents:?}"
        );
    }
}

/// `name`'s and `note`'s statistics target, options, storage and
/// compression (empty before 14), as the catalog holds them.
fn column_settings(client: &mut Client) -> Vec<(Option<i32>, Vec<String>, String, String)> {
    client
        .query(
            "SELECT CASE WHEN a.attstattarget >= 0 THEN a.attstattarget::int4 END, \
                    coalesce(a.attoptions, '{}'), a.attstorage::text, \
                    coalesce(to_jsonb(a) ->> 'attcompression', '') \
             FROM pg_catalog.pg_attribute a \
             WHERE a.attrelid = 'v.t'::regclass AND a.attname IN ('name', 'note') \
             ORDER BY a.attnum",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect()
}

#[test]
fn column_settings_of_later_majors_are_carried_by_a_swap() {
    let (_db, mut client) = connect("versions_settings");
    load(&mut client, insert);
    // A statistics target: -1 is the default up to 16, NULL from 17.
    client
        .batch_execute(
            "ALTER TABLE v.t ALTER COLUMN name SET STATISTICS 500, \
               ALTER COLUMN name SET (n_distinct = -0.5), \
               ALTER COLUMN note SET STORAGE EXTERNAL",
        )
        .unwrap();
    // Column compression: PostgreSQL 14.
    let compression = since(
        &mut client,
        14,
        "ALTER TABLE v.t ALTER COLUMN note SET COMPRESSION pglz",
    );
    let set = column_settings(&mut client);
    assert_eq!(
        set,
        [
            (
                Some(500),
                vec!["n_distinct=-0.5".into()],
                "x".into(),
                "".into()
            ),
            (
                None,
                vec![],
                "e".into(),
                if compression { "p" } else { "" }.into()
            ),
        ]
    );
    let before = oid(&mut client, "v.t");
    load(&mut client, replace);
    assert_ne!(oid(&mut client, "v.t"), before);
    assert_eq!(column_settings(&mut client), set);
    // The default again: nothing to carry.
    client
        .batch_execute("ALTER TABLE v.t ALTER COLUMN name SET STATISTICS -1")
        .unwrap();
    load(&mut client, replace);
    assert_eq!(column_settings(&mut client)[0].0, None);
}

#[test]
fn a_unique_index_with_nulls_not_distinct_is_not_the_declared_one() {
    #[derive(BulkTable, Clone)]
    #[bulk(schema = "v", table = "t")]
    struct Unique {
        #[bulk(primary_key)]
        id: i64,
        name: String,
        #[bulk(unique)]
        note: Option<String>,
    }
    let (_db, mut client) = connect("versions_nulls_not_distinct");
    let mut tx = client.transaction().unwrap();
    pg_bulk_ingest::insert(
        &mut tx,
        vec![Unique {
            id: 1,
            name: "a".into(),
            note: None,
        }],
    )
    .unwrap();
    tx.commit().unwrap();
    let plan = pg_bulk_ingest::plan::<Unique>(&mut client, pg_bulk_ingest::Mode::Insert).unwrap();
    assert!(plan.to_string().contains("nothing to change"), "{plan}");
    // Swap the library's index for one that treats NULLs as equal (15+): a
    // different constraint from the declared one.
    let index: String = client
        .query_one(
            "SELECT indexrelid::regclass::text FROM pg_index \
             WHERE indrelid = 'v.t'::regclass AND NOT indisprimary",
            &[],
        )
        .unwrap()
        .get(0);
    client
        .batch_execute(&format!("DROP INDEX {index}"))
        .unwrap();
    if since(
        &mut client,
        15,
        "CREATE UNIQUE INDEX theirs ON v.t (note) NULLS NOT DISTINCT",
    ) {
        // Not the declared index: the call would add that one, which takes a
        // rebuild, and the rebuild would lose theirs.
        match pg_bulk_ingest::plan::<Unique>(&mut client, pg_bulk_ingest::Mode::Insert) {
            Err(Error::Dependents { dependents, .. }) => {
                assert_eq!(dependents, ["index v.theirs"])
            }
            other => panic!("expected Error::Dependents, got {other:?}"),
        }
    }
}
