//! The high watermark: stored in the comment of each table a call loads, in
//! the call's transaction, read back by `high_watermark`, kept across
//! rebuilds, `replace`, in-place migrations and swaps that carry views, and
//! read and written as the Python original reads and writes it.

use pg_bulk_ingest::plan::{LockMode, Path, Stage};
use pg_bulk_ingest::{
    high_watermark, BulkRows, BulkTable, Error, Ingest, Mode, Report, UpsertStrategy,
};
use postgres::{Client, GenericClient};

#[derive(BulkTable, Clone)]
#[bulk(schema = "w m", table = "Orders \"x\"")]
struct Order {
    #[bulk(primary_key)]
    id: i64,
    note: String,
}

/// The same table with one more column: a migration.
#[derive(BulkTable, Clone)]
#[bulk(schema = "w m", table = "Orders \"x\"")]
struct OrderV2 {
    #[bulk(primary_key)]
    id: i64,
    note: String,
    extra: Option<i32>,
}

/// And one more again, for a migration in place.
#[derive(BulkTable, Clone)]
#[bulk(schema = "w m", table = "Orders \"x\"")]
struct OrderV3 {
    #[bulk(primary_key)]
    id: i64,
    note: String,
    extra: Option<i32>,
    more: Option<String>,
}

const TABLE: &str = r#""w m"."Orders ""x""""#;

fn connect(prefix: &str) -> (pg_bulk_ingest_testkit::TestDb, Client) {
    let db = pg_bulk_ingest_testkit::server().create_database(prefix);
    let client = db.connect();
    (db, client)
}

fn orders(ids: std::ops::Range<i64>) -> Vec<Order> {
    ids.map(|id| Order {
        id,
        note: format!("n{id}"),
    })
    .collect()
}

/// The table's comment.
fn comment(client: &mut impl GenericClient, table: &str) -> Option<String> {
    client
        .query_one(
            "SELECT obj_description(to_regclass($1), 'pg_class')",
            &[&table],
        )
        .unwrap()
        .get(0)
}

/// Sets the table's comment as a person would (dollar-quoted).
fn set_comment(client: &mut Client, table: &str, text: &str) {
    assert!(!text.contains("$c$"));
    client
        .batch_execute(&format!("COMMENT ON TABLE {table} IS $c${text}$c$"))
        .unwrap();
}

/// A member of the table's comment, read by PostgreSQL's JSON.
fn member(client: &mut Client, table: &str, key: &str) -> Option<String> {
    client
        .query_one(
            "SELECT obj_description(to_regclass($1), 'pg_class')::jsonb ->> $2",
            &[&table, &key],
        )
        .unwrap()
        .get(0)
}

fn oid(client: &mut Client) -> u32 {
    client
        .query_one("SELECT to_regclass($1)::oid", &[&TABLE])
        .unwrap()
        .get(0)
}

fn hwm(client: &mut impl GenericClient) -> Option<String> {
    high_watermark::<Order>(client).unwrap()
}

/// Runs `call` in a transaction it commits.
fn committed(
    client: &mut Client,
    call: impl FnOnce(&mut postgres::Transaction<'_>) -> pg_bulk_ingest::Result<Report>,
) -> Report {
    let mut tx = client.transaction().unwrap();
    let report = call(&mut tx).unwrap();
    tx.commit().unwrap();
    report
}

#[test]
fn stored_with_the_rows_and_read_back() {
    let (db, mut client) = connect("wm_basic");
    assert_eq!(hwm(&mut client), None, "no table");
    let report = committed(&mut client, |tx| {
        Ingest::new().high_watermark("1").insert(tx, orders(0..10))
    });
    assert_eq!(report.tables[0].plan.path(), Path::Create);
    assert_eq!(hwm(&mut client).as_deref(), Some("1"));
    // As the Python original writes it.
    assert_eq!(
        comment(&mut client, TABLE).as_deref(),
        Some(r#"{"pg-bulk-ingest": {"high-watermark": "1"}}"#)
    );

    // Into the table as it is: a merge, and an insert of no rows.
    let report = committed(&mut client, |tx| {
        Ingest::new()
            .high_watermark("2")
            .upsert_strategy(UpsertStrategy::Merge)
            .upsert(tx, orders(5..15))
    });
    assert_eq!(report.tables[0].plan.path(), Path::Nothing);
    assert_eq!(hwm(&mut client).as_deref(), Some("2"));
    committed(&mut client, |tx| {
        Ingest::new().high_watermark("3").insert(tx, orders(0..0))
    });
    assert_eq!(hwm(&mut client).as_deref(), Some("3"));

    // Without the option, the comment is left alone.
    committed(&mut client, |tx| pg_bulk_ingest::insert(tx, orders(20..21)));
    assert_eq!(hwm(&mut client).as_deref(), Some("3"));

    // A call that fails stores nothing, and its transaction goes on.
    let mut tx = client.transaction().unwrap();
    let err = Ingest::new()
        .high_watermark("4")
        .insert(&mut tx, orders(0..1))
        .unwrap_err();
    assert!(matches!(err, Error::RowRejected { .. }), "{err}");
    assert_eq!(hwm(&mut tx).as_deref(), Some("3"));
    tx.commit().unwrap();
    assert_eq!(hwm(&mut client).as_deref(), Some("3"));

    // In the transaction, the call's watermark is seen before the commit
    // (and only there); rolled back, it is gone with the rows.
    let mut tx = client.transaction().unwrap();
    Ingest::new()
        .high_watermark("5")
        .insert(&mut tx, orders(100..101))
        .unwrap();
    assert_eq!(hwm(&mut tx).as_deref(), Some("5"));
    let mut other = db.connect();
    assert_eq!(hwm(&mut other).as_deref(), Some("3"));
    tx.rollback().unwrap();
    assert_eq!(hwm(&mut client).as_deref(), Some("3"));

    // Any text: quotes, backslashes, newlines, non-ASCII.
    let odd = "it's \"odd\" \\ é\n\t$c$";
    committed(&mut client, |tx| {
        Ingest::new().high_watermark(odd).insert(tx, orders(0..0))
    });
    assert_eq!(hwm(&mut client).as_deref(), Some(odd));
}

#[test]
fn a_comment_the_python_original_wrote() {
    let (_db, mut client) = connect("wm_python");
    committed(&mut client, |tx| pg_bulk_ingest::insert(tx, orders(0..3)));
    set_comment(
        &mut client,
        TABLE,
        r#"{"pg-bulk-ingest": {"high-watermark": "2024-01-01"}, "owner": "x"}"#,
    );
    assert_eq!(hwm(&mut client).as_deref(), Some("2024-01-01"));
    committed(&mut client, |tx| {
        Ingest::new()
            .high_watermark("2024-02-01")
            .upsert(tx, orders(3..6))
    });
    assert_eq!(hwm(&mut client).as_deref(), Some("2024-02-01"));
    assert_eq!(member(&mut client, TABLE, "owner").as_deref(), Some("x"));
    assert_eq!(
        comment(&mut client, TABLE).as_deref(),
        Some(r#"{"pg-bulk-ingest": {"high-watermark": "2024-02-01"}, "owner": "x"}"#)
    );

    // Other JSON values come back as their JSON text; null is none.
    for (stored, read) in [
        ("42", Some("42")),
        (
            r#"{"id": 7, "at": [1, 2]}"#,
            Some(r#"{"id": 7, "at": [1, 2]}"#),
        ),
        ("\"caf\\u00e9\"", Some("café")),
        ("null", None),
    ] {
        set_comment(
            &mut client,
            TABLE,
            &format!(r#"{{"pg-bulk-ingest": {{"high-watermark": {stored}}}, "owner": "x"}}"#),
        );
        assert_eq!(hwm(&mut client).as_deref(), read, "{stored}");
    }
    // Comments without one.
    for text in ["{}", r#"{"pg-bulk-ingest": {}}"#, "[1]", "42", "plain"] {
        set_comment(&mut client, TABLE, text);
        assert_eq!(hwm(&mut client), None, "{text}");
    }
}

#[test]
fn plain_text_a_person_wrote_is_kept_as_the_description() {
    let (_db, mut client) = connect("wm_plain");
    committed(&mut client, |tx| pg_bulk_ingest::insert(tx, orders(0..3)));
    let text = "Orders from the shop.\nIt's \"daily\" \\ fine: {not JSON";
    set_comment(&mut client, TABLE, text);
    assert_eq!(hwm(&mut client), None);

    committed(&mut client, |tx| {
        Ingest::new().high_watermark("1").insert(tx, orders(3..4))
    });
    assert_eq!(hwm(&mut client).as_deref(), Some("1"));
    assert_eq!(
        member(&mut client, TABLE, "description").as_deref(),
        Some(text)
    );
    // And through a swap and the next watermark.
    committed(&mut client, |tx| {
        Ingest::new().high_watermark("2").replace(tx, orders(0..2))
    });
    assert_eq!(hwm(&mut client).as_deref(), Some("2"));
    assert_eq!(
        member(&mut client, TABLE, "description").as_deref(),
        Some(text)
    );
    // Loads without a watermark leave it as it is.
    set_comment(&mut client, TABLE, text);
    committed(&mut client, |tx| pg_bulk_ingest::replace(tx, orders(0..2)));
    assert_eq!(comment(&mut client, TABLE).as_deref(), Some(text));
}

#[test]
fn survives_rebuilds_replace_in_place_and_swaps_that_carry_views() {
    let (_db, mut client) = connect("wm_swaps");
    committed(&mut client, |tx| {
        Ingest::new().high_watermark("1").insert(tx, orders(0..10))
    });
    set_comment(
        &mut client,
        TABLE,
        r#"{"owner": "x", "pg-bulk-ingest": {"high-watermark": "1"}}"#,
    );
    client
        .batch_execute(&format!(
            "CREATE VIEW \"w m\".v AS SELECT id, note FROM {TABLE} WHERE id > 2; \
             CREATE MATERIALIZED VIEW \"w m\".mv AS SELECT count(*) AS n FROM \"w m\".v; \
             COMMENT ON VIEW \"w m\".v IS 'a view'"
        ))
        .unwrap();
    let views = |client: &mut Client| -> i64 {
        client
            .query_one("SELECT count(*) FROM \"w m\".v", &[])
            .unwrap()
            .get(0)
    };
    let mut last_oid = oid(&mut client);
    let mut check = |client: &mut Client, report: &Report, path: Path, watermark: &str| {
        assert_eq!(report.tables[0].plan.path(), path);
        assert_eq!(hwm(client).as_deref(), Some(watermark), "after {path:?}");
        assert_eq!(member(client, TABLE, "owner").as_deref(), Some("x"));
        let now = oid(client);
        assert_eq!(now != last_oid, path != Path::InPlace, "{path:?}");
        last_oid = now;
    };

    // A rebuild that carries the views, without a watermark: the stored one
    // is carried.
    let rows = |ids: std::ops::Range<i64>| -> Vec<OrderV2> {
        ids.map(|id| OrderV2 {
            id,
            note: format!("n{id}"),
            extra: Some(1),
        })
        .collect()
    };
    let report = committed(&mut client, |tx| pg_bulk_ingest::insert(tx, rows(10..12)));
    check(&mut client, &report, Path::Rebuild, "1");
    assert_eq!(views(&mut client), 9);

    // Replace, with views: the new watermark wins over the carried one.
    let report = committed(&mut client, |tx| {
        Ingest::new().high_watermark("2").replace(tx, rows(0..20))
    });
    check(&mut client, &report, Path::Replace, "2");
    assert_eq!(views(&mut client), 17);

    // An upsert by rebuild.
    let report = committed(&mut client, |tx| {
        Ingest::new()
            .high_watermark("3")
            .upsert_strategy(UpsertStrategy::Rebuild)
            .upsert(tx, rows(15..25))
    });
    check(&mut client, &report, Path::UpsertByRebuild, "3");
    assert_eq!(views(&mut client), 22);

    // A migration in place, and a rebuild with a watermark.
    let rows3 = |ids: std::ops::Range<i64>| -> Vec<OrderV3> {
        ids.map(|id| OrderV3 {
            id,
            note: format!("n{id}"),
            extra: None,
            more: Some("m".into()),
        })
        .collect()
    };
    let report = committed(&mut client, |tx| {
        Ingest::new()
            .high_watermark("4")
            .in_place(true)
            .upsert(tx, rows3(25..26))
    });
    check(&mut client, &report, Path::InPlace, "4");
    let report = committed(&mut client, |tx| {
        Ingest::new()
            .high_watermark("5")
            .allow_data_loss(true)
            .insert(tx, orders(30..31))
    });
    check(&mut client, &report, Path::Rebuild, "5");
    assert_eq!(views(&mut client), 24);
    assert_eq!(comment(&mut client, "\"w m\".v").as_deref(), Some("a view"));
}

#[test]
fn the_plan_shows_the_step_and_the_call_runs_it() {
    let (_db, mut client) = connect("wm_plan");
    committed(&mut client, |tx| pg_bulk_ingest::insert(tx, orders(0..3)));
    set_comment(&mut client, TABLE, r#"{"owner": "x"}"#);
    let stored = r#"{"owner": "x", "pg-bulk-ingest": {"high-watermark": "9"}}"#;

    // Into the live table: last, under SHARE UPDATE EXCLUSIVE.
    let ingest = || Ingest::new().high_watermark("9");
    let plan = ingest()
        .plan::<Order>(&mut client, Mode::Insert)
        .unwrap()
        .remove(0);
    let step = plan.steps().last().unwrap();
    assert_eq!(
        step.sql(),
        format!("COMMENT ON TABLE {TABLE} IS '{stored}'")
    );
    assert_eq!(step.stage(), Stage::Finish);
    assert_eq!(step.lock().unwrap().mode(), LockMode::ShareUpdateExclusive);
    assert!(
        plan.to_string().contains("SHARE UPDATE EXCLUSIVE"),
        "{plan}"
    );
    let report = committed(&mut client, |tx| ingest().insert(tx, orders(3..4)));
    assert_eq!(report.tables[0].plan, plan);
    assert_eq!(comment(&mut client, TABLE).as_deref(), Some(stored));

    // A swap: on the new table, after the comment is carried, before the
    // swap's lock.
    let ingest = || Ingest::new().high_watermark("10");
    let plan = ingest()
        .plan::<Order>(&mut client, Mode::Replace)
        .unwrap()
        .remove(0);
    let steps = plan.steps();
    let position = |text: &str| {
        steps
            .iter()
            .position(|s| s.sql().starts_with("COMMENT ON TABLE") && s.sql().contains(text))
            .unwrap_or_else(|| panic!("{text} in\n{plan}"))
    };
    let carried = position(r#""high-watermark": "9""#);
    let at = position(r#""high-watermark": "10""#);
    assert!(carried < at, "{plan}");
    assert!(
        steps[at]
            .sql()
            .starts_with(r#"COMMENT ON TABLE "w m"."Orders ""x""_pgbi_new" IS"#),
        "{plan}"
    );
    assert_eq!(steps[at].lock(), None);
    assert_eq!(steps[at].stage(), Stage::Finish);
    assert_eq!(steps[at + 1].stage(), Stage::Swap, "{plan}");
    let report = committed(&mut client, |tx| ingest().replace(tx, orders(0..2)));
    assert_eq!(report.tables[0].plan, plan);
    assert_eq!(
        comment(&mut client, TABLE).as_deref(),
        Some(r#"{"owner": "x", "pg-bulk-ingest": {"high-watermark": "10"}}"#)
    );

    // Without the option, no step touches the comment but the carry.
    let plan = pg_bulk_ingest::plan::<Order>(&mut client, Mode::Upsert).unwrap();
    assert!(!plan.to_string().contains("COMMENT"), "{plan}");
}

#[derive(BulkTable)]
#[bulk(schema = "w m")]
struct Line {
    #[bulk(primary_key)]
    id: i64,
}

#[derive(BulkTable)]
#[bulk(schema = "w m")]
struct Refund {
    #[bulk(primary_key)]
    id: i64,
}

#[derive(BulkRows)]
#[allow(dead_code)]
enum Sales {
    Order(Order),
    Line(Line),
}

/// The same stream with a table added later.
#[derive(BulkRows)]
#[allow(dead_code)]
enum SalesLater {
    Line(Line),
    Order(Order),
    Refund(Refund),
}

#[test]
fn several_tables() {
    let (_db, mut client) = connect("wm_multi");
    let rows = || {
        (0..10).flat_map(|id| {
            [
                Sales::Order(Order {
                    id,
                    note: "n".into(),
                }),
                Sales::Line(Line { id }),
            ]
        })
    };
    committed(&mut client, |tx| {
        Ingest::new().high_watermark("1").upsert(tx, rows())
    });
    assert_eq!(hwm(&mut client).as_deref(), Some("1"));
    assert_eq!(
        high_watermark::<Sales>(&mut client).unwrap().as_deref(),
        Some("1")
    );
    let line = r#""w m"."line""#;
    assert_eq!(
        comment(&mut client, line).as_deref(),
        Some(r#"{"pg-bulk-ingest": {"high-watermark": "1"}}"#)
    );

    // A table added later holds none (here it doesn't even exist yet): the
    // others' watermark is the stream's.
    assert_eq!(
        high_watermark::<SalesLater>(&mut client)
            .unwrap()
            .as_deref(),
        Some("1")
    );
    committed(&mut client, |tx| {
        Ingest::new()
            .high_watermark("2")
            .insert(tx, std::iter::empty::<SalesLater>())
    });
    let refund = r#""w m"."refund""#;
    assert_eq!(
        high_watermark::<Refund>(&mut client).unwrap().as_deref(),
        Some("2")
    );
    assert_eq!(
        high_watermark::<SalesLater>(&mut client)
            .unwrap()
            .as_deref(),
        Some("2")
    );
    // A table with a comment of its own, but no watermark, is passed over.
    set_comment(&mut client, refund, "refunds");
    assert_eq!(
        high_watermark::<SalesLater>(&mut client)
            .unwrap()
            .as_deref(),
        Some("2")
    );

    // One table loaded on its own with another watermark: they disagree.
    committed(&mut client, |tx| {
        Ingest::new().high_watermark("3").insert(tx, orders(50..51))
    });
    let err = high_watermark::<Sales>(&mut client).unwrap_err();
    let Error::WatermarksDiffer { watermarks } = &err else {
        panic!("{err}")
    };
    assert_eq!(
        watermarks,
        &[
            (TABLE.to_owned(), "3".to_owned()),
            (line.to_owned(), "2".to_owned())
        ]
    );
    assert!(err.to_string().contains("'3'"), "{err}");
}

#[test]
fn an_automatic_upsert_by_rebuild_and_its_fallback_store_it() {
    let (_db, mut client) = connect("wm_auto");
    committed(&mut client, |tx| {
        pg_bulk_ingest::insert(tx, orders(0..100_000))
    });
    client.batch_execute(&format!("ANALYZE {TABLE}")).unwrap();
    let report = committed(&mut client, |tx| {
        Ingest::new()
            .high_watermark("auto")
            .upsert(tx, orders(50_000..150_000))
    });
    let plan = &report.tables[0].plan;
    assert_eq!(plan.path(), Path::UpsertByRebuild);
    assert_eq!(hwm(&mut client).as_deref(), Some("auto"));
    // The merge it would have fallen back to stores it too, last.
    let fallback = plan.fallback().unwrap();
    let last = fallback.steps().last().unwrap();
    assert!(
        last.sql()
            .starts_with(&format!("COMMENT ON TABLE {TABLE} IS ")),
        "{fallback}"
    );
    assert_eq!(last.lock().unwrap().mode(), LockMode::ShareUpdateExclusive);
}
