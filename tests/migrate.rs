//! Migrations: the live table is made to match the struct. Each test loads a
//! first version of a table, then a second version of the struct, and checks
//! the catalog definition and the data.

use std::time::Duration;

use pg_bulk_ingest::plan::Refusal;
use pg_bulk_ingest::{BulkTable, Error, Ingest};
use postgres::Client;

fn connect(prefix: &str) -> (pg_bulk_ingest_testkit::TestDb, Client) {
    let db = pg_bulk_ingest_testkit::server().create_database(prefix);
    let client = db.connect();
    (db, client)
}

fn insert<T>(client: &mut Client, rows: Vec<T>) -> pg_bulk_ingest::Result<()>
where
    T: BulkTable + pg_bulk_ingest::AsRow,
{
    insert_with(client, Ingest::new(), rows)
}

fn insert_with<T>(
    client: &mut Client,
    ingest: Ingest<'_>,
    rows: Vec<T>,
) -> pg_bulk_ingest::Result<()>
where
    T: BulkTable + pg_bulk_ingest::AsRow,
{
    let mut tx = client.transaction().unwrap();
    ingest.insert(&mut tx, rows)?;
    tx.commit().unwrap();
    Ok(())
}

fn oid(client: &mut Client) -> u32 {
    client
        .query_one("SELECT 'm.t'::regclass::oid", &[])
        .unwrap()
        .get(0)
}

/// `(name, format_type, not null, default)` in column order.
fn columns(client: &mut Client) -> Vec<(String, String, bool, Option<String>)> {
    client
        .query(
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), a.attnotnull, \
                    pg_get_expr(d.adbin, d.adrelid) \
             FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
             WHERE a.attrelid = 'm.t'::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect()
}

/// `pg_get_indexdef` of every index, sorted.
fn indexes(client: &mut Client) -> Vec<String> {
    client
        .query(
            "SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = 'm.t'::regclass ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

fn rows(client: &mut Client, select: &str) -> Vec<String> {
    client
        .query(
            &format!("SELECT ({select})::text FROM m.t ORDER BY id"),
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

fn col(name: &str, ty: &str, not_null: bool) -> (String, String, bool, Option<String>) {
    (name.into(), ty.into(), not_null, None)
}

mod v1 {
    use super::*;
    #[derive(BulkTable)]
    #[bulk(schema = "m", table = "t")]
    pub struct T {
        #[bulk(primary_key)]
        pub id: i32,
        #[bulk(sql_type = "varchar(10)")]
        pub name: String,
        pub note: Option<String>,
    }
    pub fn rows(ids: std::ops::Range<i32>) -> Vec<T> {
        ids.map(|id| T {
            id,
            name: format!("n{id}"),
            note: (id % 2 == 0).then(|| format!("note {id}")),
        })
        .collect()
    }
}

#[test]
fn every_attribute_reruns_without_rebuild() {
    #[derive(BulkTable)]
    #[bulk(
        schema = "m",
        table = "t",
        index(name, code),
        unique(code, id),
        index(tags, using = "gin")
    )]
    struct Full {
        #[bulk(primary_key)]
        id: i32,
        #[bulk(sql_type = "varchar(10)", index)]
        name: String,
        #[bulk(unique, rename = "Code")]
        code: i64,
        #[bulk(default = "'none'", rename_from = "old_note")]
        note: String,
        #[bulk(sql_type = "numeric(12,2)")]
        amount: rust_decimal::Decimal,
        #[bulk(sql_type = "varchar(16)[]")]
        tags: Vec<String>,
    }
    let (_db, mut client) = connect("migrate_noop");
    let rows = |ids: std::ops::Range<i32>| -> Vec<Full> {
        ids.map(|id| Full {
            id,
            name: format!("n{id}"),
            code: i64::from(id) * 7,
            note: "x".into(),
            amount: rust_decimal::Decimal::new(i64::from(id), 2),
            tags: vec![format!("t{}", id % 3)],
        })
        .collect()
    };
    insert(&mut client, rows(0..10)).unwrap();
    let before = (oid(&mut client), indexes(&mut client), columns(&mut client));
    // The key and the five declared indexes.
    assert_eq!(before.1.len(), 6, "{:?}", before.1);
    assert!(
        before.1.iter().any(|i| i.contains("USING gin (tags)")),
        "{:?}",
        before.1
    );
    let plan = pg_bulk_ingest::plan::<Full>(&mut client, pg_bulk_ingest::Mode::Insert).unwrap();
    assert!(plan.to_string().contains("nothing to change"), "{plan}");
    insert(&mut client, rows(10..20)).unwrap();
    insert(&mut client, rows(20..30)).unwrap();
    assert_eq!(
        (oid(&mut client), indexes(&mut client), columns(&mut client)),
        before
    );
    assert_eq!(rows_count(&mut client), 30);
}

fn rows_count(client: &mut Client) -> i64 {
    client
        .query_one("SELECT count(*) FROM m.t", &[])
        .unwrap()
        .get(0)
}

#[test]
fn add_nullable_columns_at_the_end_and_in_the_middle() {
    #[derive(BulkTable)]
    #[bulk(schema = "m", table = "t")]
    struct V2 {
        #[bulk(primary_key)]
        id: i32,
        extra_middle: Option<i64>,
        #[bulk(sql_type = "varchar(10)")]
        name: String,
        note: Option<String>,
        extra_end: Option<bool>,
    }
    let (_db, mut client) = connect("migrate_add");
    insert(&mut client, v1::rows(0..4)).unwrap();
    let before = oid(&mut client);
    let plan = pg_bulk_ingest::plan::<V2>(&mut client, pg_bulk_ingest::Mode::Insert).unwrap();
    let text = plan.to_string();
    assert!(text.contains("rebuild"), "{text}");
    assert!(text.contains(r#"add column "extra_middle""#), "{text}");
    insert(
        &mut client,
        vec![V2 {
            id: 10,
            extra_middle: Some(5),
            name: "new".into(),
            note: None,
            extra_end: Some(true),
        }],
    )
    .unwrap();
    assert_ne!(oid(&mut client), before, "rebuilt");
    assert_eq!(
        columns(&mut client),
        [
            col("id", "integer", true),
            col("extra_middle", "bigint", false),
            col("name", "character varying(10)", true),
            col("note", "text", false),
            col("extra_end", "boolean", false),
        ]
    );
    assert_eq!(
        rows(&mut client, "id, extra_middle, name, note, extra_end"),
        [
            "(0,,n0,\"note 0\",)",
            "(1,,n1,,)",
            "(2,,n2,\"note 2\",)",
            "(3,,n3,,)",
            "(10,5,new,,t)"
        ]
    );
}

#[test]
fn add_not_null_column_needs_a_default() {
    #[derive(BulkTable)]
    #[bulk(schema = "m", table = "t")]
    struct NoDefault {
        #[bulk(primary_key)]
        id: i32,
        #[bulk(sql_type = "varchar(10)")]
        name: String,
        note: Option<String>,
        flag: bool,
    }
    #[derive(BulkTable)]
    #[bulk(schema = "m", table = "t")]
    struct WithDefault {
        #[bulk(primary_key)]
        id: i32,
        #[bulk(sql_type = "varchar(10)")]
        name: String,
        note: Option<String>,
        #[bulk(default = "42")]
        flag: i64,
    }
    let (_db, mut client) = connect("migrate_add_not_null");
    insert(&mut client, v1::rows(0..3)).unwrap();
    let err = insert(
        &mut client,
        vec![NoDefault {
            id: 9,
            name: "x".into(),
            note: None,
            flag: true,
        }],
    )
    .unwrap_err();
    assert!(
        matches!(&err, Error::Refused { refusals, .. } if refusals == &[Refusal::NotNullWithoutDefault { column: "flag".into() }]),
        "{err}"
    );
    insert(
        &mut client,
        vec![WithDefault {
            id: 9,
            name: "x".into(),
            note: None,
            flag: 7,
        }],
    )
    .unwrap();
    assert_eq!(
        rows(&mut client, "id, flag"),
        ["(0,42)", "(1,42)", "(2,42)", "(9,7)"]
    );
    assert_eq!(
        columns(&mut client)[3],
        ("flag".into(), "bigint".into(), true, Some("42".into()))
    );
}

#[test]
fn drop_column_refused_then_allowed() {
    #[derive(BulkTable)]
    #[bulk(schema = "m", table = "t")]
    struct V2 {
        #[bulk(primary_key)]
        id: i32,
        #[bulk(sql_type = "varchar(10)")]
        name: String,
    }
    let (_db, mut client) = connect("migrate_drop");
    insert(&mut client, v1::rows(0..4)).unwrap();
    let before = oid(&mut client);
    let v2 = || {
        vec![V2 {
            id: 5,
            name: "five".into(),
        }]
    };
    let err = insert(&mut client, v2()).unwrap_err();
    assert!(
        err.to_string()
            .contains(r#"would lose column "note" and the data it holds"#),
        "{err}"
    );
    assert_eq!(oid(&mut client), before);
    assert_eq!(rows_count(&mut client), 4);
    insert_with(&mut client, Ingest::new().allow_data_loss(true), v2()).unwrap();
    assert_eq!(
        columns(&mut client),
        [
            col("id", "integer", true),
            col("name", "character varying(10)", true)
        ]
    );
    assert_eq!(
        rows(&mut client, "id, name"),
        ["(0,n0)", "(1,n1)", "(2,n2)", "(3,n3)", "(5,five)"]
    );
}

#[test]
fn rename_from_carries_the_data() {
    #[derive(BulkTable)]
    #[bulk(schema = "m", table = "t")]
    struct V2 {
        #[bulk(primary_key)]
        id: i32,
        #[bulk(sql_type = "varchar(10)", rename_from = "name")]
        label: String,
        #[bulk(rename_from = "note")]
        remark: Option<String>,
    }
    let (_db, mut client) = connect("migrate_rename");
    insert(&mut client, v1::rows(0..3)).unwrap();
    insert(
        &mut client,
        vec![V2 {
            id: 7,
            label: "seven".into(),
            remark: Some("r".into()),
        }],
    )
    .unwrap();
    assert_eq!(
        rows(&mut client, "id, label, remark"),
        [
            "(0,n0,\"note 0\")",
            "(1,n1,)",
            "(2,n2,\"note 2\")",
            "(7,seven,r)"
        ]
    );
    // Re-running: the old names are gone, nothing to change.
    let plan = pg_bulk_ingest::plan::<V2>(&mut client, pg_bulk_ingest::Mode::Insert).unwrap();
    assert!(plan.to_string().contains("nothing to change"), "{plan}");
}

#[test]
fn widening_keeps_every_value() {
    #[derive(BulkTable)]
    #[bulk(schema = "m", table = "t")]
    struct V2 {
        #[bulk(primary_key)]
        id: i64,
        #[bulk(sql_type = "varchar(20)")]
        name: String,
        #[bulk(sql_type = "text")]
        note: Option<String>,
    }
    let (_db, mut client) = connect("migrate_widen");
    insert(&mut client, v1::rows(0..3)).unwrap();
    insert(
        &mut client,
        vec![V2 {
            id: 1 << 40,
            name: "a name of 20 chars..".into(),
            note: None,
        }],
    )
    .unwrap();
    assert_eq!(
        columns(&mut client),
        [
            col("id", "bigint", true),
            col("name", "character varying(20)", true),
            col("note", "text", false)
        ]
    );
    assert_eq!(rows_count(&mut client), 4);
}

#[test]
fn narrowing_refused_failing_and_fitting() {
    #[derive(BulkTable)]
    #[bulk(schema = "m", table = "t")]
    struct V2 {
        #[bulk(primary_key)]
        id: i32,
        #[bulk(sql_type = "varchar(3)")]
        name: String,
        note: Option<String>,
    }
    let (_db, mut client) = connect("migrate_narrow");
    insert(&mut client, v1::rows(0..3)).unwrap();
    client
        .batch_execute("UPDATE m.t SET name = 'longer' WHERE id = 1")
        .unwrap();
    let before = (oid(&mut client), rows(&mut client, "t.*"));
    let v2 = || {
        vec![V2 {
            id: 8,
            name: "ok".into(),
            note: None,
        }]
    };
    // Refused without the opt-in.
    let err = insert(&mut client, v2()).unwrap_err();
    assert!(matches!(err, Error::Refused { .. }), "{err}");
    // Allowed, but a value doesn't fit: the call fails, the table is as it was.
    let err = insert_with(&mut client, Ingest::new().allow_data_loss(true), v2()).unwrap_err();
    assert_eq!(err.sqlstate(), Some("22001"), "{err}");
    assert_eq!((oid(&mut client), rows(&mut client, "t.*")), before);
    // Allowed and fitting.
    client
        .batch_execute("UPDATE m.t SET name = 'n1' WHERE id = 1")
        .unwrap();
    insert_with(&mut client, Ingest::new().allow_data_loss(true), v2()).unwrap();
    assert_eq!(
        columns(&mut client)[1],
        col("name", "character varying(3)", true)
    );
    assert_eq!(
        rows(&mut client, "id, name"),
        ["(0,n0)", "(1,n1)", "(2,n2)", "(8,ok)"]
    );
}

#[test]
fn null_to_not_null_with_and_without_nulls() {
    #[derive(BulkTable)]
    #[bulk(schema = "m", table = "t")]
    struct V2 {
        #[bulk(primary_key)]
        id: i32,
        #[bulk(sql_type = "varchar(10)")]
        name: String,
        note: String,
    }
    let (_db, mut client) = connect("migrate_not_null");
    insert(&mut client, v1::rows(0..3)).unwrap();
    let v2 = || {
        vec![V2 {
            id: 9,
            name: "x".into(),
            note: "y".into(),
        }]
    };
    let err = insert(&mut client, v2()).unwrap_err();
    assert!(
        err.to_string().contains(r#"column "note" holds NULLs"#),
        "{err}"
    );
    client
        .batch_execute("UPDATE m.t SET note = 'filled' WHERE note IS NULL")
        .unwrap();
    insert(&mut client, v2()).unwrap();
    assert_eq!(columns(&mut client)[2], col("note", "text", true));
    assert_eq!(rows_count(&mut client), 4);
}

#[test]
fn indexes_and_primary_key_change() {
    #[derive(BulkTable)]
    #[bulk(schema = "m", table = "t", unique(name, note))]
    struct V2 {
        #[bulk(primary_key)]
        id: i32,
        #[bulk(primary_key, sql_type = "varchar(10)", index)]
        name: String,
        note: Option<String>,
    }
    let (_db, mut client) = connect("migrate_indexes");
    insert(&mut client, v1::rows(0..3)).unwrap();
    insert(
        &mut client,
        vec![V2 {
            id: 100,
            name: "other".into(),
            note: None,
        }],
    )
    .unwrap();
    assert_eq!(
        indexes(&mut client),
        [
            "CREATE INDEX t_name_idx ON m.t USING btree (name)",
            "CREATE UNIQUE INDEX t_name_note_key ON m.t USING btree (name, note)",
            "CREATE UNIQUE INDEX t_pkey ON m.t USING btree (id, name)",
        ]
    );
    assert_eq!(rows_count(&mut client), 4);
    // Back to the first version: our indexes are dropped, the key changes back.
    insert(&mut client, v1::rows(10..11)).unwrap();
    assert_eq!(
        indexes(&mut client),
        ["CREATE UNIQUE INDEX t_pkey ON m.t USING btree (id)"]
    );
}

#[test]
fn an_index_made_by_someone_else_is_left_alone_or_blocks_a_rebuild() {
    #[derive(BulkTable)]
    #[bulk(schema = "m", table = "t")]
    struct V2 {
        #[bulk(primary_key)]
        id: i32,
        #[bulk(sql_type = "varchar(10)")]
        name: String,
        note: Option<String>,
        more: Option<i32>,
    }
    let (_db, mut client) = connect("migrate_foreign_index");
    insert(&mut client, v1::rows(0..3)).unwrap();
    client
        .batch_execute("CREATE INDEX dba_index ON m.t (note)")
        .unwrap();
    insert(&mut client, v1::rows(3..4)).unwrap();
    assert_eq!(indexes(&mut client).len(), 2);
    let err = insert(
        &mut client,
        vec![V2 {
            id: 9,
            name: "x".into(),
            note: None,
            more: None,
        }],
    )
    .unwrap_err();
    assert!(
        matches!(&err, Error::Dependents { dependents, .. } if dependents.iter().any(|d| d.contains("dba_index"))),
        "{err}"
    );
    assert_eq!(rows_count(&mut client), 4);
}

#[test]
fn in_place_keeps_the_table() {
    #[derive(BulkTable)]
    #[bulk(schema = "m", table = "t")]
    struct V2 {
        #[bulk(primary_key)]
        id: i32,
        #[bulk(sql_type = "varchar(20)")]
        name: String,
        note: Option<String>,
        added: Option<i64>,
    }
    let (_db, mut client) = connect("migrate_in_place");
    insert(&mut client, v1::rows(0..3)).unwrap();
    let before = oid(&mut client);
    let mut tx = client.transaction().unwrap();
    Ingest::new()
        .in_place(true)
        .upsert(
            &mut tx,
            vec![
                V2 {
                    id: 1,
                    name: "one, renamed".into(),
                    note: None,
                    added: Some(1),
                },
                V2 {
                    id: 5,
                    name: "five".into(),
                    note: None,
                    added: None,
                },
            ],
        )
        .unwrap();
    tx.commit().unwrap();
    assert_eq!(oid(&mut client), before, "altered in place");
    assert_eq!(
        columns(&mut client),
        [
            col("id", "integer", true),
            col("name", "character varying(20)", true),
            col("note", "text", false),
            col("added", "bigint", false)
        ]
    );
    assert_eq!(
        rows(&mut client, "id, name, added"),
        ["(0,n0,)", "(1,\"one, renamed\",1)", "(2,n2,)", "(5,five,)"]
    );
}

#[test]
fn a_writer_during_a_rebuild_loses_nothing() {
    #[derive(BulkTable)]
    #[bulk(schema = "m", table = "t")]
    struct V2 {
        #[bulk(primary_key)]
        id: i32,
        #[bulk(sql_type = "varchar(10)")]
        name: String,
        note: Option<String>,
        added: Option<i64>,
    }
    let (db, mut client) = connect("migrate_writer");
    insert(&mut client, v1::rows(0..3)).unwrap();
    let mut tx = client.transaction().unwrap();
    Ingest::new()
        .insert(
            &mut tx,
            vec![V2 {
                id: 100,
                name: "new".into(),
                note: None,
                added: Some(1),
            }],
        )
        .unwrap();
    // The rebuild holds the old table against writers until commit: a writer
    // waits, then writes into the new table.
    let config = db.config().clone();
    let writer = std::thread::spawn(move || {
        let mut w = config.connect(postgres::NoTls).unwrap();
        w.execute("INSERT INTO m.t (id, name) VALUES (50, 'writer')", &[])
            .unwrap();
    });
    std::thread::sleep(Duration::from_millis(500));
    assert!(!writer.is_finished(), "the writer waits for the rebuild");
    tx.commit().unwrap();
    writer.join().unwrap();
    assert_eq!(
        rows(&mut client, "id, name"),
        ["(0,n0)", "(1,n1)", "(2,n2)", "(50,writer)", "(100,new)"]
    );
}

#[test]
fn a_rebuild_keeps_grants_owner_comments_and_views() {
    #[derive(BulkTable)]
    #[bulk(schema = "m", table = "t")]
    struct V2 {
        #[bulk(primary_key)]
        id: i32,
        #[bulk(sql_type = "varchar(10)")]
        name: String,
        note: Option<String>,
        added: Option<i64>,
    }
    let (db, mut client) = connect("migrate_carry");
    insert(&mut client, v1::rows(0..3)).unwrap();
    let (reader, writer) = (format!("r {}", db.name()), format!("w {}", db.name()));
    // `writer` has no USAGE on the schema: its grant must survive all the same.
    client
        .batch_execute(&format!(
            "CREATE ROLE \"{reader}\"; CREATE ROLE \"{writer}\"; \
             GRANT USAGE ON SCHEMA m TO \"{reader}\"; \
             GRANT SELECT ON m.t TO \"{reader}\"; GRANT INSERT, SELECT ON m.t TO \"{writer}\"; \
             ALTER TABLE m.t OWNER TO \"{reader}\"; \
             COMMENT ON TABLE m.t IS 'the table'; COMMENT ON COLUMN m.t.name IS 'a name'; \
             CREATE VIEW m.v1 AS SELECT id, name FROM m.t; \
             CREATE VIEW m.v2 AS SELECT id FROM m.v1 WHERE id > 0; \
             GRANT SELECT ON m.v2 TO \"{writer}\"; \
             CREATE MATERIALIZED VIEW m.mv AS SELECT count(*) AS n FROM m.v1; \
             CREATE INDEX mv_n ON m.mv (n)"
        ))
        .unwrap();
    let describe = |c: &mut Client| -> Vec<String> {
        c.query(
            "SELECT c.relname || ' ' || c.relkind::text || ' ' || pg_get_userbyid(c.relowner) || ' ' || \
                    coalesce(c.relacl::text, '-') || ' ' || coalesce(obj_description(c.oid, 'pg_class'), '-') \
             FROM pg_class c WHERE c.relnamespace = 'm'::regnamespace AND c.relname NOT LIKE 't_%' \
             ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
    };
    let before = describe(&mut client);
    let before_oid = oid(&mut client);
    insert(
        &mut client,
        vec![V2 {
            id: 9,
            name: "nine".into(),
            note: None,
            added: Some(1),
        }],
    )
    .unwrap();
    assert_ne!(oid(&mut client), before_oid, "rebuilt");
    assert_eq!(describe(&mut client), before);
    let comment: String = client
        .query_one("SELECT col_description('m.t'::regclass, 2)", &[])
        .unwrap()
        .get(0);
    assert_eq!(comment, "a name");
    let v2: i64 = client
        .query_one("SELECT count(*) FROM m.v2", &[])
        .unwrap()
        .get(0);
    assert_eq!(
        v2, 3,
        "the view on a view reads the new table (ids 1, 2, 9)"
    );
    let n: i64 = client.query_one("SELECT n FROM m.mv", &[]).unwrap().get(0);
    assert_eq!(n, 4);
}

#[test]
fn in_place_insert_appends_and_keeps_key_checks() {
    #[derive(BulkTable, Clone)]
    #[bulk(schema = "m", table = "t")]
    struct V2 {
        #[bulk(primary_key)]
        id: i32,
        #[bulk(sql_type = "varchar(10)")]
        name: String,
        note: Option<String>,
        added: Option<i64>,
    }
    let (_db, mut client) = connect("migrate_in_place_insert");
    insert(&mut client, v1::rows(0..3)).unwrap();
    let before = oid(&mut client);
    let row = |id| V2 {
        id,
        name: format!("n{id}"),
        note: None,
        added: Some(i64::from(id)),
    };
    // A key that exists: the call fails, the table is as it was.
    let err = insert_with(
        &mut client,
        Ingest::new().in_place(true),
        vec![row(7), row(1)],
    )
    .unwrap_err();
    assert!(
        matches!(&err, pg_bulk_ingest::Error::KeyExists { key, row: Some(1), .. } if key == "(id)=(1)"),
        "{err}"
    );
    assert_eq!(rows_count(&mut client), 3);
    assert_eq!(columns(&mut client).len(), 3, "not altered");
    insert_with(
        &mut client,
        Ingest::new().in_place(true),
        vec![row(7), row(5)],
    )
    .unwrap();
    assert_eq!(oid(&mut client), before, "altered in place");
    assert_eq!(
        rows(&mut client, "id, added"),
        ["(0,)", "(1,)", "(2,)", "(5,5)", "(7,7)"]
    );
}

#[test]
fn rebuild_with_identifiers_that_need_quoting() {
    mod first {
        use super::*;
        #[derive(BulkTable)]
        #[bulk(schema = "My \"odd\".schema %", table = "Tåble, 1")]
        pub struct T {
            #[bulk(primary_key, rename = "Id")]
            pub id: i32,
            #[bulk(sql_type = "varchar(10)", rename = "Col, Name")]
            pub name: String,
        }
    }
    #[derive(BulkTable)]
    #[bulk(schema = "My \"odd\".schema %", table = "Tåble, 1", index(label))]
    struct Second {
        #[bulk(primary_key, rename = "Id")]
        id: i64,
        #[bulk(sql_type = "text", rename = "La \"bel\"", rename_from = "Col, Name")]
        label: String,
    }
    let (_db, mut client) = connect("migrate_quoting");
    insert(
        &mut client,
        vec![
            first::T {
                id: 1,
                name: "one".into(),
            },
            first::T {
                id: 2,
                name: "two".into(),
            },
        ],
    )
    .unwrap();
    insert(
        &mut client,
        vec![Second {
            id: 3,
            label: "three".into(),
        }],
    )
    .unwrap();
    let table = r#""My ""odd"".schema %"."Tåble, 1""#;
    let got: Vec<String> = client
        .query(
            &format!(r#"SELECT "Id"::text || ':' || "La ""bel""" FROM {table} ORDER BY 1"#),
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(got, ["1:one", "2:two", "3:three"]);
    let types: Vec<String> = client
        .query(
            &format!(
                "SELECT format_type(atttypid, atttypmod) FROM pg_attribute \
                 WHERE attrelid = '{}'::regclass AND attnum > 0 ORDER BY attnum",
                table.replace('\'', "''")
            ),
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        types,
        ["bigint", "text"],
        "integer → bigint and varchar → text"
    );
    let plan = pg_bulk_ingest::plan::<Second>(&mut client, pg_bulk_ingest::Mode::Insert).unwrap();
    assert!(plan.to_string().contains("nothing to change"), "{plan}");
}

/// `relfilenode` of `m.t` and of each of its indexes: a rewrite changes them.
fn files(client: &mut Client) -> Vec<(String, u32)> {
    client
        .query(
            "SELECT c.relname::text, c.relfilenode FROM pg_class c \
             WHERE c.oid = 'm.t'::regclass \
                OR c.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = 'm.t'::regclass) \
             ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

#[test]
fn in_place_is_what_postgresql_does_without_a_rewrite() {
    use pg_bulk_ingest::plan::Path;
    // A volatile default fills every row: PostgreSQL rewrites the table, so
    // the call rebuilds instead (readers wait only for the swap); a constant
    // default is kept in the catalog, and the table is not rewritten.
    mod volatile {
        use super::*;
        #[derive(BulkTable)]
        #[bulk(schema = "m", table = "t")]
        pub struct T {
            #[bulk(primary_key)]
            pub id: i32,
            #[bulk(sql_type = "varchar(10)")]
            pub name: String,
            pub note: Option<String>,
            #[bulk(default = "random()")]
            pub r: f64,
        }
    }
    mod constant {
        use super::*;
        #[derive(BulkTable)]
        #[bulk(schema = "m", table = "t")]
        pub struct T {
            #[bulk(primary_key)]
            pub id: i32,
            #[bulk(sql_type = "varchar(10)")]
            pub name: String,
            pub note: Option<String>,
            #[bulk(default = "1.5")]
            pub r: f64,
        }
    }
    mod wider {
        use super::*;
        #[derive(BulkTable)]
        #[bulk(schema = "m", table = "t")]
        pub struct T {
            #[bulk(primary_key)]
            pub id: i32,
            #[bulk(sql_type = "varchar(20)", index)]
            pub name: String,
            pub note: Option<String>,
        }
    }
    let in_place = || Ingest::new().in_place(true);
    let (_db, mut client) = connect("migrate_in_place_rewrite");
    insert(&mut client, v1::rows(0..300)).unwrap();

    let plan = in_place()
        .plan::<volatile::T>(&mut client, pg_bulk_ingest::Mode::Insert)
        .unwrap()
        .remove(0);
    assert_eq!(plan.path(), Path::Rebuild, "{plan}");

    let plan = in_place()
        .plan::<constant::T>(&mut client, pg_bulk_ingest::Mode::Insert)
        .unwrap()
        .remove(0);
    assert_eq!(plan.path(), Path::InPlace, "{plan}");
    let before = files(&mut client);
    insert_with(&mut client, in_place(), Vec::<constant::T>::new()).unwrap();
    assert_eq!(files(&mut client), before, "in place, nothing rewritten");

    // A wider varchar, with an index on it: neither is rewritten.
    let mut tx = client.transaction().unwrap();
    tx.batch_execute("ALTER TABLE m.t DROP COLUMN r; CREATE INDEX t_name_idx ON m.t (name); COMMENT ON INDEX m.t_name_idx IS 'pg-bulk-ingest'")
        .unwrap();
    tx.commit().unwrap();
    let plan = in_place()
        .plan::<wider::T>(&mut client, pg_bulk_ingest::Mode::Insert)
        .unwrap()
        .remove(0);
    assert_eq!(plan.path(), Path::InPlace, "{plan}");
    let before = files(&mut client);
    insert_with(&mut client, in_place(), Vec::<wider::T>::new()).unwrap();
    assert_eq!(files(&mut client), before, "in place, nothing rewritten");

    // A wider varchar array: PostgreSQL (12 to 18) rewrites the table for it,
    // although the elements would fit, so the call rebuilds.
    mod tags {
        use super::*;
        #[derive(BulkTable)]
        #[bulk(schema = "m", table = "tags")]
        pub struct Narrow {
            #[bulk(primary_key)]
            pub id: i32,
            #[bulk(sql_type = "varchar(3)[]")]
            pub tags: Vec<String>,
        }
        #[derive(BulkTable)]
        #[bulk(schema = "m", table = "tags")]
        pub struct Wide {
            #[bulk(primary_key)]
            pub id: i32,
            #[bulk(sql_type = "varchar(5)[]")]
            pub tags: Vec<String>,
        }
    }
    let mut tx = client.transaction().unwrap();
    pg_bulk_ingest::insert(
        &mut tx,
        vec![tags::Narrow {
            id: 1,
            tags: vec!["a".into()],
        }],
    )
    .unwrap();
    tx.commit().unwrap();
    let plan = in_place()
        .plan::<tags::Wide>(&mut client, pg_bulk_ingest::Mode::Insert)
        .unwrap()
        .remove(0);
    assert_eq!(plan.path(), Path::Rebuild, "{plan}");
}

#[test]
fn a_rebuild_that_would_break_a_view_is_refused_before_any_work() {
    mod titled {
        use super::*;
        #[derive(BulkTable)]
        #[bulk(schema = "m", table = "t")]
        pub struct T {
            #[bulk(primary_key)]
            pub id: i32,
            pub title: String,
        }
    }
    mod renamed {
        use super::*;
        #[derive(BulkTable)]
        #[bulk(schema = "m", table = "t")]
        pub struct T {
            #[bulk(primary_key)]
            pub id: i32,
            #[bulk(rename_from = "title")]
            pub headline: String,
        }
    }
    mod dropped {
        use super::*;
        #[derive(BulkTable)]
        #[bulk(schema = "m", table = "t")]
        pub struct T {
            #[bulk(primary_key)]
            pub id: i32,
        }
    }
    let (_db, mut client) = connect("migrate_view_columns");
    insert(
        &mut client,
        (0..100)
            .map(|id| titled::T {
                id,
                title: format!("t{id}"),
            })
            .collect(),
    )
    .unwrap();
    client
        .batch_execute("CREATE VIEW m.v AS SELECT id, title FROM m.t")
        .unwrap();
    let before = oid(&mut client);
    let expect_refused = |err: pg_bulk_ingest::Error, what: &str| match err {
        pg_bulk_ingest::Error::Dependents { dependents, .. } => assert!(
            dependents
                .iter()
                .any(|d| d.starts_with(r#"view "m"."v" reads column "title""#) && d.contains(what)),
            "{dependents:?}"
        ),
        other => panic!("expected Error::Dependents, got {other}"),
    };
    // The rename: planning already says no, and the call does nothing.
    let err =
        pg_bulk_ingest::plan::<renamed::T>(&mut client, pg_bulk_ingest::Mode::Insert).unwrap_err();
    expect_refused(err, r#"renames it to "headline""#);
    let err = insert(
        &mut client,
        vec![renamed::T {
            id: 100,
            headline: "h".into(),
        }],
    )
    .unwrap_err();
    expect_refused(err, r#"renames it to "headline""#);
    assert_eq!(oid(&mut client), before);
    // A dropped column the view reads: refused, even with data loss allowed.
    let err = insert_with(
        &mut client,
        Ingest::new().allow_data_loss(true),
        vec![dropped::T { id: 100 }],
    )
    .unwrap_err();
    expect_refused(err, "drops it");
    // `replace` with a definition that lacks the column.
    let mut tx = client.transaction().unwrap();
    let err = pg_bulk_ingest::replace(&mut tx, vec![dropped::T { id: 1 }]).unwrap_err();
    tx.rollback().unwrap();
    expect_refused(err, "the new table lacks it");
    // In place, PostgreSQL refuses to drop a column a view reads: refused
    // before any work too.
    let err = insert_with(
        &mut client,
        Ingest::new().in_place(true).allow_data_loss(true),
        vec![dropped::T { id: 100 }],
    )
    .unwrap_err();
    expect_refused(err, "in place drops it");
    assert_eq!(oid(&mut client), before);
    // A wider type is made again with the view by a rebuild.
    mod wide_id {
        use super::*;
        #[derive(BulkTable)]
        #[bulk(schema = "m", table = "t")]
        pub struct T {
            #[bulk(primary_key)]
            pub id: i64,
            pub title: String,
        }
    }
    insert(
        &mut client,
        vec![wide_id::T {
            id: 100,
            title: "wide".into(),
        }],
    )
    .unwrap();
    assert_ne!(oid(&mut client), before);
    let n: i64 = client
        .query_one("SELECT count(*) FROM m.v", &[])
        .unwrap()
        .get(0);
    assert_eq!(n, 101);
    let before = oid(&mut client);
    // In place, the view follows the rename as ALTER TABLE makes it (its own
    // column keeps its name).
    mod renamed_wide {
        use super::*;
        #[derive(BulkTable)]
        #[bulk(schema = "m", table = "t")]
        pub struct T {
            #[bulk(primary_key)]
            pub id: i64,
            #[bulk(rename_from = "title")]
            pub headline: String,
        }
    }
    insert_with(
        &mut client,
        Ingest::new().in_place(true),
        vec![renamed_wide::T {
            id: 101,
            headline: "h".into(),
        }],
    )
    .unwrap();
    assert_eq!(oid(&mut client), before);
    let n: i64 = client
        .query_one("SELECT count(*) FROM m.v WHERE title IS NOT NULL", &[])
        .unwrap_or_else(|e| panic!("{}", pg_bulk_ingest_testkit::describe(&e)))
        .get(0);
    assert_eq!(n, 102);
}

#[test]
fn data_written_before_a_rebuild_locks_the_table_is_not_lost() {
    // The definition drops a column that holds no data when the call reads
    // the table; another session writes into it and commits while the call
    // waits for its EXCLUSIVE lock. Under the lock the call reads the data
    // again, and refuses the drop as it would have from the start.
    mod without_note {
        use super::*;
        #[derive(BulkTable)]
        #[bulk(schema = "m", table = "t")]
        pub struct T {
            #[bulk(primary_key)]
            pub id: i32,
            #[bulk(sql_type = "varchar(10)")]
            pub name: String,
        }
    }
    let (db, mut client) = connect("migrate_data_meanwhile");
    insert(
        &mut client,
        v1::rows(0..10)
            .into_iter()
            .map(|mut r| {
                r.note = None;
                r
            })
            .collect(),
    )
    .unwrap();
    let before = oid(&mut client);
    let mut writer = db.connect();
    writer
        .batch_execute("BEGIN; UPDATE m.t SET note = 'written' WHERE id = 1")
        .unwrap();
    let committer = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(500));
        writer.batch_execute("COMMIT").unwrap();
    });
    let err = insert(
        &mut client,
        vec![without_note::T {
            id: 10,
            name: "x".into(),
        }],
    )
    .unwrap_err();
    committer.join().unwrap();
    assert!(
        matches!(err, pg_bulk_ingest::Error::Refused { .. })
            && err
                .to_string()
                .contains(r#"column "note" and the data it holds"#),
        "{err}"
    );
    assert_eq!(oid(&mut client), before);
    let note: Option<String> = client
        .query_one("SELECT note FROM m.t WHERE id = 1", &[])
        .unwrap()
        .get(0);
    assert_eq!(note.as_deref(), Some("written"));
}
