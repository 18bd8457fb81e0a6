//! Tables the Python original (pg-bulk-ingest on PyPI) made, against a real
//! server. Its single integer primary key is a `serial` (a sequence the
//! column owns, its `nextval` the default), its unique columns are unique
//! constraints, and its keys, constraints, indexes and sequence keep the
//! `_tmp_<32 hex digits>` names of the table it swapped in. Such a table
//! compares as unchanged with a struct that matches it, loads by `insert`,
//! `upsert` and `replace`, migrates by a rebuild, and keeps its sequence (the
//! same object, at the same position) across every swap.
//!
//! The first tests replay the DDL that pg-bulk-ingest 0.1.3 sends (read from
//! the server log), so that they run everywhere. The last one makes the table
//! with the real library (see [`python`] for where it comes from: a virtual
//! environment the test makes when no Python has it).

use pg_bulk_ingest::plan::Path;
use pg_bulk_ingest::{BulkTable, Ingest, Mode, UpsertStrategy};
use postgres::{Client, GenericClient};

/// What pg-bulk-ingest 0.1.3 leaves after the first batch of a model
/// `Table("orders", Column("id", INTEGER, primary_key=True), Column("code",
/// VARCHAR(16), nullable=False, unique=True), Column("name", VARCHAR(32)),
/// Index(None, "name"), schema="py")`: the table it made under a `_tmp_`
/// name with `SERIAL` and the constraints inline, the rows copied in, the
/// index built, then renamed, with the watermark in the comment.
const PYTHON_ORDERS: &str = r#"
CREATE SCHEMA py;
CREATE TABLE py.orders (id INTEGER NOT NULL, code VARCHAR(16) NOT NULL, name VARCHAR(32), UNIQUE (code));
CREATE TABLE py._tmp_e3f0500a090645b7bc2eb800732eb692 (
    id SERIAL NOT NULL,
    code VARCHAR(16) NOT NULL,
    name VARCHAR(32),
    PRIMARY KEY (id),
    UNIQUE (code)
);
INSERT INTO py._tmp_e3f0500a090645b7bc2eb800732eb692 (id, code, name)
    VALUES (1, 'a', 'one'), (2, 'b', 'two'), (3, 'c', NULL);
CREATE INDEX _tmp_20bd716610f945edbbd2f16bf5b90674 ON py._tmp_e3f0500a090645b7bc2eb800732eb692 (name);
DROP TABLE py.orders;
ALTER TABLE "py"."_tmp_e3f0500a090645b7bc2eb800732eb692" RENAME TO "orders";
COMMENT ON TABLE "py"."orders" IS '{"pg-bulk-ingest": {"high-watermark": "2024-01-01"}}';
"#;

/// The sequence the Python original made for `id`.
const SEQUENCE: &str = "py._tmp_e3f0500a090645b7bc2eb800732eb692_id_seq";

/// The struct that matches the Python model.
#[derive(BulkTable, Debug, Clone, PartialEq)]
#[bulk(schema = "py", table = "orders")]
struct Order {
    #[bulk(primary_key)]
    id: i32,
    #[bulk(sql_type = "varchar(16)", unique)]
    code: String,
    #[bulk(sql_type = "varchar(32)", index)]
    name: Option<String>,
}

fn order(id: i32, code: &str, name: Option<&str>) -> Order {
    Order {
        id,
        code: code.to_owned(),
        name: name.map(str::to_owned),
    }
}

/// The same table, migrated: a new column, and no index on `name` (the
/// Python original's index is dropped as one of its own).
#[derive(BulkTable, Debug, Clone, PartialEq)]
#[bulk(schema = "py", table = "orders")]
struct OrderWithNote {
    #[bulk(primary_key)]
    id: i32,
    #[bulk(sql_type = "varchar(16)", unique)]
    code: String,
    #[bulk(sql_type = "varchar(32)")]
    name: Option<String>,
    note: Option<String>,
}

fn python_table(prefix: &str) -> (pg_bulk_ingest_testkit::TestDb, Client) {
    let db = pg_bulk_ingest_testkit::server().create_database(prefix);
    let mut client = db.connect();
    client.batch_execute(PYTHON_ORDERS).unwrap();
    // Another writer took ids from the sequence: its position must survive.
    client
        .execute(&format!("SELECT setval('{SEQUENCE}', 100)"), &[])
        .unwrap();
    (db, client)
}

fn stored(client: &mut impl GenericClient) -> Vec<Order> {
    client
        .query("SELECT id, code, name FROM py.orders ORDER BY id", &[])
        .unwrap()
        .iter()
        .map(|r| Order {
            id: r.get(0),
            code: r.get(1),
            name: r.get(2),
        })
        .collect()
}

fn oid(client: &mut impl GenericClient) -> u32 {
    client
        .query_one("SELECT 'py.orders'::regclass::oid", &[])
        .unwrap()
        .get(0)
}

/// The sequence `id` takes its default from, and where it stands.
fn sequence(client: &mut impl GenericClient) -> (String, Option<i64>) {
    let row = client
        .query_one(
            "SELECT pg_catalog.pg_get_serial_sequence('py.orders', 'id'), \
             pg_catalog.pg_sequence_last_value(\
               pg_catalog.pg_get_serial_sequence('py.orders', 'id')::regclass), \
             pg_catalog.pg_get_expr(d.adbin, d.adrelid) \
             FROM pg_catalog.pg_attrdef d WHERE d.adrelid = 'py.orders'::regclass",
            &[],
        )
        .unwrap();
    let (name, position, default): (String, Option<i64>, String) =
        (row.get(0), row.get(1), row.get(2));
    assert_eq!(default, format!("nextval('{name}'::regclass)"));
    (name, position)
}

/// The table's indexes, `(name, definition)` by name.
fn indexes(client: &mut impl GenericClient) -> Vec<(String, String)> {
    client
        .query(
            "SELECT indexrelid::regclass::text, pg_catalog.pg_get_indexdef(indexrelid) \
             FROM pg_catalog.pg_index WHERE indrelid = 'py.orders'::regclass ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

fn watermark(client: &mut Client) -> Option<String> {
    pg_bulk_ingest::high_watermark::<Order>(client).unwrap()
}

/// The table compares as unchanged: `insert` and `upsert` go into it (same
/// OID, its `_tmp_` names and its sequence as they were), and `replace`
/// swaps in a table that has the same sequence at the same position.
#[test]
fn insert_upsert_and_replace_load_a_table_the_python_original_made() {
    let (_db, mut client) = python_table("py_modes");
    let before = oid(&mut client);
    let names = indexes(&mut client);
    for mode in [Mode::Insert, Mode::Upsert] {
        let plan = pg_bulk_ingest::plan::<Order>(&mut client, mode).unwrap();
        assert_eq!(plan.path(), Path::Nothing, "{plan}");
    }

    let mut tx = client.transaction().unwrap();
    pg_bulk_ingest::insert(&mut tx, [order(4, "d", Some("four"))]).unwrap();
    tx.commit().unwrap();
    let mut tx = client.transaction().unwrap();
    let batch = [order(1, "a", Some("ONE")), order(5, "e", None)];
    Ingest::new()
        .upsert_strategy(UpsertStrategy::Merge)
        .upsert(&mut tx, &batch)
        .unwrap();
    tx.commit().unwrap();
    // A re-run changes nothing.
    let mut tx = client.transaction().unwrap();
    let report = Ingest::new().upsert(&mut tx, &batch).unwrap();
    tx.commit().unwrap();
    assert_eq!(report.tables[0].unchanged, Some(2));
    assert_eq!(
        stored(&mut client),
        [
            order(1, "a", Some("ONE")),
            order(2, "b", Some("two")),
            order(3, "c", None),
            order(4, "d", Some("four")),
            order(5, "e", None),
        ]
    );
    assert_eq!(oid(&mut client), before);
    assert_eq!(indexes(&mut client), names);
    assert_eq!(sequence(&mut client), (SEQUENCE.to_owned(), Some(100)));
    // The unique constraint is still enforced.
    let mut tx = client.transaction().unwrap();
    let err = pg_bulk_ingest::insert(&mut tx, [order(6, "a", None)]).unwrap_err();
    assert!(err.to_string().contains("code"), "{err}");
    drop(tx);

    let mut tx = client.transaction().unwrap();
    pg_bulk_ingest::replace(&mut tx, [order(7, "g", Some("seven")), order(8, "h", None)]).unwrap();
    tx.commit().unwrap();
    let replaced = oid(&mut client);
    assert_ne!(replaced, before);
    assert_eq!(
        stored(&mut client),
        [order(7, "g", Some("seven")), order(8, "h", None)]
    );
    // The same sequence, at the same position, owned by the new table's
    // column; the key and indexes under the names the library gives them.
    assert_eq!(sequence(&mut client), (SEQUENCE.to_owned(), Some(100)));
    assert_eq!(
        indexes(&mut client),
        [
            (
                "py.orders_code_key".to_owned(),
                "CREATE UNIQUE INDEX orders_code_key ON py.orders USING btree (code)".to_owned()
            ),
            (
                "py.orders_name_idx".to_owned(),
                "CREATE INDEX orders_name_idx ON py.orders USING btree (name)".to_owned()
            ),
            (
                "py.orders_pkey".to_owned(),
                "CREATE UNIQUE INDEX orders_pkey ON py.orders USING btree (id)".to_owned()
            ),
        ]
    );
    assert_eq!(watermark(&mut client).as_deref(), Some("2024-01-01"));
    // The replaced table compares as unchanged too.
    let plan = pg_bulk_ingest::plan::<Order>(&mut client, Mode::Insert).unwrap();
    assert_eq!(plan.path(), Path::Nothing, "{plan}");
    let mut tx = client.transaction().unwrap();
    pg_bulk_ingest::upsert(&mut tx, [order(8, "h", Some("eight"))]).unwrap();
    tx.commit().unwrap();
    assert_eq!(oid(&mut client), replaced);
    // A writer that leaves `id` to the default goes on from the position.
    let id: i32 = client
        .query_one(
            "INSERT INTO py.orders (code) VALUES ('z') RETURNING id",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(id, 101);
}

/// A migration rebuilds the table: the rows are kept, the sequence is moved
/// to the new table at its position, the Python original's index the struct
/// no longer declares is dropped, and a re-run changes nothing.
#[test]
fn a_migration_rebuilds_a_table_the_python_original_made() {
    let (_db, mut client) = python_table("py_migrate");
    let before = oid(&mut client);
    let plan = pg_bulk_ingest::plan::<OrderWithNote>(&mut client, Mode::Insert).unwrap();
    assert_eq!(plan.path(), Path::Rebuild, "{plan}");
    let shown = plan.to_string();
    assert!(shown.contains("add column \"note\""), "{shown}");
    assert!(
        shown.contains("drop index \"_tmp_20bd716610f945edbbd2f16bf5b90674\""),
        "{shown}"
    );
    assert!(shown.contains("OWNED BY"), "{shown}");

    let row = OrderWithNote {
        id: 9,
        code: "i".into(),
        name: None,
        note: Some("new".into()),
    };
    let mut tx = client.transaction().unwrap();
    Ingest::new()
        .upsert_strategy(UpsertStrategy::Merge)
        .high_watermark("2024-02-01")
        .upsert(&mut tx, [row.clone()])
        .unwrap();
    tx.commit().unwrap();
    let rebuilt = oid(&mut client);
    assert_ne!(rebuilt, before);
    let notes: Vec<(i32, Option<String>)> = client
        .query("SELECT id, note FROM py.orders ORDER BY id", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        notes,
        [(1, None), (2, None), (3, None), (9, Some("new".to_owned()))]
    );
    assert_eq!(sequence(&mut client), (SEQUENCE.to_owned(), Some(100)));
    let names: Vec<String> = indexes(&mut client).into_iter().map(|i| i.0).collect();
    assert_eq!(names, ["py.orders_code_key", "py.orders_pkey"]);
    assert_eq!(watermark(&mut client).as_deref(), Some("2024-02-01"));

    // Unchanged now: insert, upsert (a rebuild would be its own choice) and
    // plan leave the table as it is.
    for mode in [Mode::Insert, Mode::Upsert] {
        let plan = pg_bulk_ingest::plan::<OrderWithNote>(&mut client, mode).unwrap();
        assert_eq!(plan.path(), Path::Nothing, "{plan}");
    }
    let mut tx = client.transaction().unwrap();
    Ingest::new()
        .upsert_strategy(UpsertStrategy::Merge)
        .upsert(&mut tx, [row])
        .unwrap();
    tx.commit().unwrap();
    assert_eq!(oid(&mut client), rebuilt);
}

/// An upsert by rebuild swaps in a new table with the batch and the live
/// rows it lacks, and the same sequence at its position.
#[test]
fn an_upsert_by_rebuild_keeps_the_sequence() {
    let (_db, mut client) = python_table("py_upsert_rebuild");
    let before = oid(&mut client);
    let mut tx = client.transaction().unwrap();
    let report = Ingest::new()
        .upsert_strategy(UpsertStrategy::Rebuild)
        .upsert(&mut tx, [order(2, "b", None), order(4, "d", Some("four"))])
        .unwrap();
    tx.commit().unwrap();
    assert_eq!(report.tables[0].plan.path(), Path::UpsertByRebuild);
    assert_ne!(oid(&mut client), before);
    assert_eq!(
        stored(&mut client),
        [
            order(1, "a", Some("one")),
            order(2, "b", None),
            order(3, "c", None),
            order(4, "d", Some("four")),
        ]
    );
    assert_eq!(sequence(&mut client), (SEQUENCE.to_owned(), Some(100)));
    assert_eq!(watermark(&mut client).as_deref(), Some("2024-01-01"));
}

/// The struct gives the key a default of its own: a change like any other
/// (a rebuild), and the sequence, unused, stays the column's at its
/// position.
#[test]
fn a_declared_default_replaces_the_serial_default_and_keeps_the_sequence() {
    #[derive(BulkTable)]
    #[bulk(schema = "py", table = "orders")]
    struct WithDefault {
        #[bulk(primary_key, default = "-1")]
        id: i32,
        #[bulk(sql_type = "varchar(16)", unique)]
        code: String,
        #[bulk(sql_type = "varchar(32)", index)]
        name: Option<String>,
    }
    let (_db, mut client) = python_table("py_default");
    let mut tx = client.transaction().unwrap();
    let report = pg_bulk_ingest::insert(&mut tx, Vec::<WithDefault>::new()).unwrap();
    tx.commit().unwrap();
    assert_eq!(report.tables[0].plan.path(), Path::Rebuild);
    let row = client
        .query_one(
            "SELECT pg_catalog.pg_get_serial_sequence('py.orders', 'id'), \
             pg_catalog.pg_sequence_last_value(\
               pg_catalog.pg_get_serial_sequence('py.orders', 'id')::regclass), \
             pg_catalog.pg_get_expr(d.adbin, d.adrelid) \
             FROM pg_catalog.pg_attrdef d WHERE d.adrelid = 'py.orders'::regclass",
            &[],
        )
        .unwrap();
    let (name, position, default): (String, Option<i64>, String) =
        (row.get(0), row.get(1), row.get(2));
    assert_eq!((name.as_str(), position), (SEQUENCE, Some(100)));
    assert_eq!(default, "'-1'::integer");
    assert_eq!(stored(&mut client).len(), 3);
}

/// In place, the Python original's index is dropped with `DROP INDEX` and
/// the serial is left as it is.
#[test]
fn in_place_migrates_a_table_the_python_original_made() {
    let (_db, mut client) = python_table("py_in_place");
    let before = oid(&mut client);
    let mut tx = client.transaction().unwrap();
    let report = Ingest::new()
        .in_place(true)
        .insert(&mut tx, Vec::<OrderWithNote>::new())
        .unwrap();
    tx.commit().unwrap();
    assert_eq!(report.tables[0].plan.path(), Path::InPlace);
    assert_eq!(oid(&mut client), before);
    assert_eq!(sequence(&mut client), (SEQUENCE.to_owned(), Some(100)));
    let names: Vec<String> = indexes(&mut client).into_iter().map(|i| i.0).collect();
    assert_eq!(
        names,
        [
            "py._tmp_e3f0500a090645b7bc2eb800732eb692_code_key",
            "py._tmp_e3f0500a090645b7bc2eb800732eb692_pkey"
        ]
    );
}

/// A unique constraint that is `DEFERRABLE` is not the unique index a
/// struct declares (an upsert can't use it): a swap would lose it, so a
/// `replace` is refused, naming it.
#[test]
fn a_deferrable_unique_constraint_is_not_a_declared_unique_index() {
    let (_db, mut client) = python_table("py_deferrable");
    client
        .batch_execute(
            "ALTER TABLE py.orders DROP CONSTRAINT _tmp_e3f0500a090645b7bc2eb800732eb692_code_key; \
             ALTER TABLE py.orders ADD CONSTRAINT code_once UNIQUE (code) DEFERRABLE",
        )
        .unwrap();
    let mut tx = client.transaction().unwrap();
    let err = pg_bulk_ingest::replace(&mut tx, [order(1, "a", None)]).unwrap_err();
    assert!(
        matches!(err, pg_bulk_ingest::Error::Dependents { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("code_once"), "{err}");
}

/// The packages the test needs, pinned (as `.ci/run` installs them).
const PYTHON_PACKAGES: [&str; 4] = [
    "pg-bulk-ingest==0.1.3",
    "SQLAlchemy==2.1.9",
    "psycopg==3.3.9",
    "psycopg2-binary==2.9.13",
];

/// Why `python` can't import the Python original, or `None` when it can.
fn lacks_library(python: &str) -> Option<String> {
    let found = std::process::Command::new(python)
        .args(["-c", "import pg_bulk_ingest, sqlalchemy, psycopg, psycopg2"])
        .output();
    match found {
        Ok(out) if out.status.success() => None,
        Ok(out) => Some(
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("no message")
                .to_owned(),
        ),
        Err(e) => Some(e.to_string()),
    }
}

/// The Python interpreter that has the Python original:
/// `PG_BULK_INGEST_PYTHON` (`.ci/run` points it at the virtual environment it
/// installs the pinned packages into); else `python3` when it has them; else
/// the same virtual environment under `target/python-original`, made with
/// `python3 -m venv` and `pip install` of the pinned packages (so that
/// `cargo test` alone runs this test on a machine with `python3` and PyPI).
/// `None` when none works and `PG_BULK_INGEST_SKIP_PYTHON=1` is set; without
/// that variable the test fails, saying why.
fn python() -> Option<String> {
    let skip = std::env::var("PG_BULK_INGEST_SKIP_PYTHON").is_ok_and(|v| v == "1");
    let why = if let Ok(python) = std::env::var("PG_BULK_INGEST_PYTHON") {
        match lacks_library(&python) {
            None => return Some(python),
            Some(why) => format!("{python}: {why}"),
        }
    } else if lacks_library("python3").is_none() {
        return Some("python3".to_owned());
    } else {
        let venv = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/python-original");
        let python = venv.join("bin/python").display().to_string();
        let made = venv.join("bin/python").exists()
            || std::process::Command::new("python3")
                .args(["-m", "venv"])
                .arg(&venv)
                .status()
                .is_ok_and(|s| s.success());
        let installed = made
            && (lacks_library(&python).is_none()
                || std::process::Command::new(&python)
                    .args(["-m", "pip", "install", "-q", "--disable-pip-version-check"])
                    .args(PYTHON_PACKAGES)
                    .status()
                    .is_ok_and(|s| s.success()));
        match (installed, lacks_library(&python)) {
            (true, None) => return Some(python),
            (_, why) => format!(
                "python3 lacks it, and installing it into {} failed: {}",
                venv.display(),
                why.unwrap_or_else(|| "python3 -m venv failed".to_owned())
            ),
        }
    };
    if skip {
        eprintln!("skipped: no Python with the Python original ({why})");
        return None;
    }
    panic!(
        "no Python with the Python original: {why}\n\
         install it (`python3 -m venv .venv && .venv/bin/pip install {}`, then \
         PG_BULK_INGEST_PYTHON=.venv/bin/python), or set PG_BULK_INGEST_SKIP_PYTHON=1 to \
         skip this test",
        PYTHON_PACKAGES.join(" ")
    );
}

/// Makes `py.orders` with the real Python original (the model of
/// [`PYTHON_ORDERS`]), in two calls of its own, then loads it with every mode.
#[test]
fn a_table_the_real_python_original_made_loads_with_every_mode() {
    let Some(python) = python() else { return };
    let db = pg_bulk_ingest_testkit::server().create_database("py_real");
    let script = r#"
import os, sys
import psycopg
import sqlalchemy as sa
from pg_bulk_ingest import ingest, HighWatermark

engine = sa.create_engine("postgresql+psycopg://",
                          creator=lambda: psycopg.connect(os.environ["CONNINFO"]))
metadata = sa.MetaData()
orders = sa.Table(
    "orders", metadata,
    sa.Column("id", sa.INTEGER, primary_key=True),
    sa.Column("code", sa.VARCHAR(16), nullable=False, unique=True),
    sa.Column("name", sa.VARCHAR(32), nullable=True),
    sa.Index(None, "name"),
    schema="py",
)
def batches(high_watermark):
    yield sys.argv[1], None, ((orders, (1, "a", "one")), (orders, (2, "b", None)))
with engine.connect() as conn:
    ingest(conn, metadata, batches, high_watermark=HighWatermark.LATEST)
"#;
    let conninfo = pg_bulk_ingest_testkit::connection_string(db.config());
    let run = |watermark: &str| {
        let out = std::process::Command::new(&python)
            .args(["-c", script, watermark])
            .env("CONNINFO", &conninfo)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "the Python original failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run("2024-01-01");
    let mut client = db.connect();
    // What it made: a serial key, a unique constraint, `_tmp_` names.
    let (sequence_name, _) = sequence(&mut client);
    assert!(sequence_name.starts_with("py._tmp_"), "{sequence_name}");
    let constraints: Vec<String> = client
        .query(
            "SELECT contype::text FROM pg_catalog.pg_constraint \
             WHERE conrelid = 'py.orders'::regclass AND contype IN ('p', 'u') ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(constraints, ["p", "u"]);
    client
        .execute(&format!("SELECT setval('{sequence_name}', 50)"), &[])
        .unwrap();
    let before = oid(&mut client);

    for mode in [Mode::Insert, Mode::Upsert] {
        let plan = pg_bulk_ingest::plan::<Order>(&mut client, mode).unwrap();
        assert_eq!(plan.path(), Path::Nothing, "{plan}");
    }
    let mut tx = client.transaction().unwrap();
    pg_bulk_ingest::insert(&mut tx, [order(3, "c", None)]).unwrap();
    tx.commit().unwrap();
    let mut tx = client.transaction().unwrap();
    Ingest::new()
        .high_watermark("2024-01-02")
        .upsert(&mut tx, [order(2, "b", Some("two"))])
        .unwrap();
    tx.commit().unwrap();
    assert_eq!(oid(&mut client), before);
    assert_eq!(
        stored(&mut client),
        [
            order(1, "a", Some("one")),
            order(2, "b", Some("two")),
            order(3, "c", None)
        ]
    );
    assert_eq!(watermark(&mut client).as_deref(), Some("2024-01-02"));

    // A migration, then a replace: the same sequence, at its position.
    let mut tx = client.transaction().unwrap();
    pg_bulk_ingest::insert(&mut tx, Vec::<OrderWithNote>::new()).unwrap();
    tx.commit().unwrap();
    assert_ne!(oid(&mut client), before);
    assert_eq!(stored(&mut client).len(), 3);
    assert_eq!(sequence(&mut client), (sequence_name.clone(), Some(50)));
    let mut tx = client.transaction().unwrap();
    pg_bulk_ingest::replace(&mut tx, [order(4, "d", None)]).unwrap();
    tx.commit().unwrap();
    assert_eq!(stored(&mut client), [order(4, "d", None)]);
    assert_eq!(sequence(&mut client), (sequence_name, Some(50)));

    // The Python original loads the table it gets back, and resumes from
    // the watermark ours stored.
    run("2024-01-03");
    assert_eq!(watermark(&mut client).as_deref(), Some("2024-01-03"));
    assert_eq!(stored(&mut client).len(), 3);
}
