//! `pg_bulk_ingest::insert` against a real server: the table it creates, how
//! it appends, what a rollback leaves, how it refuses a table that differs,
//! how it reports bad values and rejected rows (leaving the table unchanged
//! and the caller's transaction usable), the inputs it accepts, odd
//! identifiers, and a large load.

use std::cell::Cell;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use pg_bulk_ingest::plan::Refusal;
use pg_bulk_ingest::{AsRow, BulkTable, Error};
use pg_bulk_ingest_testkit::TestDb;
use postgres::{Client, GenericClient};
use rust_decimal::Decimal;

fn connect(prefix: &str) -> (TestDb, Client) {
    let db = pg_bulk_ingest_testkit::server().create_database(prefix);
    let client = db.connect();
    (db, client)
}

/// Inserts `rows` in a transaction of their own and commits.
fn load<I>(client: &mut Client, rows: I) -> pg_bulk_ingest::Report
where
    I: IntoIterator,
    I::Item: AsRow,
{
    let mut tx = client.transaction().unwrap();
    let report = pg_bulk_ingest::insert(&mut tx, rows).unwrap();
    tx.commit().unwrap();
    report
}

/// The OID of `schema.table`, if it exists.
fn table_oid(client: &mut impl GenericClient, schema: &str, table: &str) -> Option<u32> {
    client
        .query_opt(
            "SELECT c.oid FROM pg_catalog.pg_class c
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = $1 AND c.relname = $2",
            &[&schema, &table],
        )
        .unwrap()
        .map(|r| r.get(0))
}

fn schema_exists(client: &mut impl GenericClient, schema: &str) -> bool {
    client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1)",
            &[&schema],
        )
        .unwrap()
        .get(0)
}

/// `(name, format_type(atttypid, atttypmod), attnotnull)` in `attnum` order.
fn columns(client: &mut impl GenericClient, oid: u32) -> Vec<(String, String, bool)> {
    client
        .query(
            "SELECT attname::text, pg_catalog.format_type(atttypid, atttypmod), attnotnull
             FROM pg_catalog.pg_attribute
             WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
            &[&oid],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
}

/// The primary-key constraint's name and columns in key order, read from
/// `pg_constraint`, checked against `pg_index`.
fn primary_key(client: &mut impl GenericClient, oid: u32) -> Option<(String, Vec<String>)> {
    let from_constraint: Option<(String, Vec<String>)> = client
        .query_opt(
            "SELECT con.conname::text,
                    ARRAY(SELECT a.attname::text
                          FROM unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord)
                          JOIN pg_catalog.pg_attribute a
                            ON a.attrelid = con.conrelid AND a.attnum = k.attnum
                          ORDER BY k.ord)
             FROM pg_catalog.pg_constraint con
             WHERE con.conrelid = $1 AND con.contype = 'p'",
            &[&oid],
        )
        .unwrap()
        .map(|r| (r.get(0), r.get(1)));
    let from_index: Option<(String, Vec<String>)> = client
        .query_opt(
            "SELECT i.indexrelid::regclass::text,
                    ARRAY(SELECT a.attname::text
                          FROM unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
                          JOIN pg_catalog.pg_attribute a
                            ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                          ORDER BY k.ord)
             FROM pg_catalog.pg_index i
             WHERE i.indrelid = $1 AND i.indisprimary",
            &[&oid],
        )
        .unwrap()
        .map(|r| (r.get(0), r.get(1)));
    assert_eq!(
        from_constraint.as_ref().map(|(_, cols)| cols),
        from_index.as_ref().map(|(_, cols)| cols),
        "pg_constraint and pg_index disagree"
    );
    from_constraint
}

fn count(client: &mut impl GenericClient, sql: &str) -> i64 {
    client.query_one(sql, &[]).unwrap().get(0)
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn col(name: &str, ty: &str, not_null: bool) -> (String, String, bool) {
    (name.to_owned(), ty.to_owned(), not_null)
}

// ---------------------------------------------------------------------------
// The created table

#[derive(BulkTable)]
#[bulk(schema = "warehouse")]
struct StockMovement {
    #[bulk(primary_key)]
    site: i32,
    #[bulk(sql_type = "varchar(32)")]
    sku: String,
    #[bulk(primary_key, rename = "moved_at")]
    #[bulk(sql_type = "timestamp(3)")]
    at: NaiveDateTime,
    #[bulk(sql_type = "numeric(12,2)")]
    quantity: Decimal,
    #[bulk(sql_type = "char(4)")]
    unit: String,
    #[bulk(rename = "Note")]
    note: Option<String>,
    flag: bool,
    small: i16,
    big: i64,
    ratio: f32,
    score: f64,
    raw: Vec<u8>,
    day: NaiveDate,
    clock: NaiveTime,
    seen: DateTime<Utc>,
    amount: Decimal,
    plain: String,
    maybe_day: Option<NaiveDate>,
    maybe_seen: Option<DateTime<Utc>>,
    #[bulk(sql_type = "varchar(8)")]
    maybe_code: Option<String>,
}

fn movement(site: i32, second: u32) -> StockMovement {
    let day = NaiveDate::from_ymd_opt(2024, 3, 1).unwrap();
    let at = day.and_hms_milli_opt(12, 0, second, 250).unwrap();
    StockMovement {
        site,
        sku: format!("SKU-{site}"),
        at,
        quantity: dec("12.50"),
        unit: "kg".into(),
        note: (site % 2 == 0).then(|| "note".into()),
        flag: true,
        small: 1,
        big: 2,
        ratio: 0.5,
        score: 0.25,
        raw: vec![1, 2, 3],
        day,
        clock: NaiveTime::from_hms_opt(8, 30, 0).unwrap(),
        seen: at.and_utc(),
        amount: dec("-1.5"),
        plain: "plain".into(),
        maybe_day: None,
        maybe_seen: Some(at.and_utc()),
        maybe_code: None,
    }
}

#[test]
fn created_table_has_the_declared_types_nullability_and_composite_key() {
    let (_db, mut client) = connect("insert_created");
    assert!(!schema_exists(&mut client, "warehouse"));

    let report = load(
        &mut client,
        [movement(1, 0), movement(2, 0), movement(1, 1)],
    );
    assert_eq!(report.rows, 3);
    assert_eq!(report.tables.len(), 1);
    assert_eq!(report.tables[0].table, r#""warehouse"."stock_movement""#);
    assert!(report.tables[0].created);
    assert_eq!(report.tables[0].rows, 3);
    assert_eq!(report.tables[0].written, 3);

    assert!(schema_exists(&mut client, "warehouse"));
    let oid = table_oid(&mut client, "warehouse", "stock_movement").expect("table created");
    assert_eq!(
        columns(&mut client, oid),
        [
            col("site", "integer", true),
            col("sku", "character varying(32)", true),
            col("moved_at", "timestamp(3) without time zone", true),
            col("quantity", "numeric(12,2)", true),
            col("unit", "character(4)", true),
            col("Note", "text", false),
            col("flag", "boolean", true),
            col("small", "smallint", true),
            col("big", "bigint", true),
            col("ratio", "real", true),
            col("score", "double precision", true),
            col("raw", "bytea", true),
            col("day", "date", true),
            col("clock", "time without time zone", true),
            col("seen", "timestamp with time zone", true),
            col("amount", "numeric", true),
            col("plain", "text", true),
            col("maybe_day", "date", false),
            col("maybe_seen", "timestamp with time zone", false),
            col("maybe_code", "character varying(8)", false),
        ]
    );
    assert_eq!(
        primary_key(&mut client, oid),
        Some((
            "stock_movement_pkey".to_owned(),
            vec!["site".to_owned(), "moved_at".to_owned()]
        ))
    );
    // An ordinary, permanent table, no defaults, no index but the key's.
    let (relkind, persistence): (String, String) = client
        .query_one(
            "SELECT relkind::text, relpersistence::text FROM pg_catalog.pg_class WHERE oid = $1",
            &[&oid],
        )
        .map(|r| (r.get(0), r.get(1)))
        .unwrap();
    assert_eq!((relkind.as_str(), persistence.as_str()), ("r", "p"));
    assert_eq!(
        count(
            &mut client,
            &format!("SELECT count(*) FROM pg_catalog.pg_attrdef WHERE adrelid = {oid}")
        ),
        0
    );
    assert_eq!(
        count(
            &mut client,
            &format!("SELECT count(*) FROM pg_catalog.pg_index WHERE indrelid = {oid}")
        ),
        1
    );

    // The values are in the right columns.
    let rows = client
        .query(
            r#"SELECT "site", "sku", "moved_at"::text, "quantity"::text, "unit", "Note", "maybe_day"::text
               FROM "warehouse"."stock_movement" ORDER BY "site", "moved_at""#,
            &[],
        )
        .unwrap();
    let back: Vec<String> = rows
        .iter()
        .map(|r| {
            format!(
                "{}|{}|{}|{}|{:?}|{:?}|{:?}",
                r.get::<_, i32>(0),
                r.get::<_, String>(1),
                r.get::<_, String>(2),
                r.get::<_, String>(3),
                r.get::<_, String>(4),
                r.get::<_, Option<String>>(5),
                r.get::<_, Option<String>>(6),
            )
        })
        .collect();
    assert_eq!(
        back,
        [
            r#"1|SKU-1|2024-03-01 12:00:00.25|12.50|"kg  "|None|None"#,
            r#"1|SKU-1|2024-03-01 12:00:01.25|12.50|"kg  "|None|None"#,
            r#"2|SKU-2|2024-03-01 12:00:00.25|12.50|"kg  "|Some("note")|None"#,
        ]
    );
}

#[derive(BulkTable)]
struct HTTPRequestLog {
    path: String,
    status: i16,
}

#[derive(BulkTable)]
struct OrderLine {
    #[bulk(primary_key)]
    id: i64,
}

#[test]
fn default_table_name_is_the_snake_cased_struct_name_in_public() {
    let (_db, mut client) = connect("insert_default_name");
    let report = load(
        &mut client,
        [HTTPRequestLog {
            path: "/".into(),
            status: 200,
        }],
    );
    assert_eq!(report.tables[0].table, r#""public"."http_request_log""#);
    let oid = table_oid(&mut client, "public", "http_request_log").expect("created");
    assert_eq!(
        columns(&mut client, oid),
        [col("path", "text", true), col("status", "smallint", true)]
    );
    assert_eq!(
        primary_key(&mut client, oid),
        None,
        "no key declared, none created"
    );

    load(&mut client, [OrderLine { id: 7 }]);
    let oid = table_oid(&mut client, "public", "order_line").expect("created");
    assert_eq!(
        primary_key(&mut client, oid),
        Some(("order_line_pkey".to_owned(), vec!["id".to_owned()]))
    );
    assert_eq!(
        count(
            &mut client,
            r#"SELECT count(*) FROM "public"."order_line" WHERE "id" = 7"#
        ),
        1
    );
}

// ---------------------------------------------------------------------------
// Appending, transactions

#[derive(BulkTable, Debug, Clone, PartialEq)]
struct Event {
    #[bulk(primary_key)]
    id: i64,
    name: String,
}

fn events(ids: std::ops::Range<i64>) -> Vec<Event> {
    ids.map(|id| Event {
        id,
        name: format!("event {id}"),
    })
    .collect()
}

fn event_ids(client: &mut impl GenericClient) -> Vec<i64> {
    client
        .query(r#"SELECT "id" FROM "public"."event" ORDER BY "id""#, &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[test]
fn second_insert_appends_and_keeps_the_table() {
    let (_db, mut client) = connect("insert_append");
    let first = load(&mut client, events(0..3));
    assert!(first.tables[0].created);
    let oid = table_oid(&mut client, "public", "event").unwrap();
    let filenode: u32 = client
        .query_one(
            "SELECT relfilenode FROM pg_catalog.pg_class WHERE oid = $1",
            &[&oid],
        )
        .unwrap()
        .get(0);

    let second = load(&mut client, events(3..5));
    assert!(!second.tables[0].created);
    assert_eq!(second.rows, 2);
    assert_eq!(table_oid(&mut client, "public", "event"), Some(oid));
    let filenode_after: u32 = client
        .query_one(
            "SELECT relfilenode FROM pg_catalog.pg_class WHERE oid = $1",
            &[&oid],
        )
        .unwrap()
        .get(0);
    assert_eq!(filenode_after, filenode, "the table was not rewritten");
    assert_eq!(event_ids(&mut client), [0, 1, 2, 3, 4]);

    // Two calls in one transaction append too.
    let mut tx = client.transaction().unwrap();
    pg_bulk_ingest::insert(&mut tx, events(5..6)).unwrap();
    pg_bulk_ingest::insert(&mut tx, events(6..8)).unwrap();
    tx.commit().unwrap();
    assert_eq!(event_ids(&mut client), (0..8).collect::<Vec<_>>());
    assert_eq!(table_oid(&mut client, "public", "event"), Some(oid));
    let back: Vec<Event> = client
        .query(
            r#"SELECT "id", "name" FROM "public"."event" ORDER BY "id""#,
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| Event {
            id: r.get(0),
            name: r.get(1),
        })
        .collect();
    assert_eq!(back, events(0..8));
}

#[derive(BulkTable)]
#[bulk(schema = "ephemeral")]
struct Draft {
    #[bulk(primary_key)]
    id: i32,
    body: String,
}

#[test]
fn rolled_back_transaction_leaves_no_schema_table_or_rows() {
    let (db, mut client) = connect("insert_rollback");
    let mut other = db.connect();
    let mut tx = client.transaction().unwrap();
    let drafts: Vec<Draft> = (0..100)
        .map(|id| Draft {
            id,
            body: "x".repeat(100),
        })
        .collect();
    let report = pg_bulk_ingest::insert(&mut tx, &drafts).unwrap();
    assert_eq!(report.rows, 100);
    // Inside the transaction the rows are there...
    assert_eq!(
        count(&mut tx, r#"SELECT count(*) FROM "ephemeral"."draft""#),
        100
    );
    // ...but the library did not commit: another session sees nothing.
    assert!(!schema_exists(&mut other, "ephemeral"));
    assert_eq!(table_oid(&mut other, "ephemeral", "draft"), None);
    tx.rollback().unwrap();

    assert!(!schema_exists(&mut client, "ephemeral"));
    assert_eq!(table_oid(&mut client, "ephemeral", "draft"), None);
    assert_eq!(
        count(
            &mut client,
            "SELECT count(*) FROM pg_catalog.pg_class WHERE relname IN ('draft', 'draft_pkey')"
        ),
        0
    );
}

#[test]
fn rolled_back_append_leaves_the_existing_rows() {
    let (_db, mut client) = connect("insert_rollback_append");
    load(&mut client, events(0..3));
    let mut tx = client.transaction().unwrap();
    pg_bulk_ingest::insert(&mut tx, events(10..20)).unwrap();
    assert_eq!(event_ids(&mut tx).len(), 13);
    tx.rollback().unwrap();
    assert_eq!(event_ids(&mut client), [0, 1, 2]);

    // Dropping the transaction without committing is a rollback too.
    {
        let mut tx = client.transaction().unwrap();
        pg_bulk_ingest::insert(&mut tx, events(10..20)).unwrap();
    }
    assert_eq!(event_ids(&mut client), [0, 1, 2]);
}

// ---------------------------------------------------------------------------
// A live table that differs from the definition

#[derive(BulkTable)]
struct Account {
    #[bulk(primary_key)]
    id: i64,
    #[bulk(sql_type = "varchar(32)")]
    name: String,
    balance: Decimal,
    note: Option<String>,
}

fn accounts(ids: std::ops::Range<i64>) -> impl Iterator<Item = Account> {
    ids.map(|id| Account {
        id,
        name: format!("account {id}"),
        balance: Decimal::new(id * 100 + 5, 2),
        note: None,
    })
}

/// Creates `account` with `create` and two rows (`seed`), then calls insert in
/// a transaction that has already done some work, and checks that it fails
/// with `Refused` listing `expected`, takes no row from the input, leaves the
/// table as it was and the transaction usable. (Differences that can be
/// migrated are migrated: `tests/migrate.rs`.)
fn expect_refused(prefix: &str, create: &str, seed: &str, expected: &[Refusal]) -> Error {
    let (_db, mut client) = connect(prefix);
    client
        .batch_execute(&format!(
            "{create}; {seed}; CREATE TABLE \"public\".\"side\" (\"x\" int)"
        ))
        .unwrap();
    let oid = table_oid(&mut client, "public", "account");
    let before_columns = oid.map(|oid| columns(&mut client, oid));
    let before_key = oid.and_then(|oid| primary_key(&mut client, oid));
    let before_rows = count(&mut client, r#"SELECT count(*) FROM "public"."account""#);

    let mut tx = client.transaction().unwrap();
    tx.batch_execute(r#"INSERT INTO "public"."side" VALUES (1)"#)
        .unwrap();
    let taken = Cell::new(0u32);
    let rows = accounts(1000..1010).inspect(|_| taken.set(taken.get() + 1));
    let err = pg_bulk_ingest::insert(&mut tx, rows).unwrap_err();
    match &err {
        Error::Refused { table, refusals } => {
            assert_eq!(table, r#""public"."account""#);
            assert_eq!(refusals, expected);
        }
        other => panic!("expected Refused, got {other:?}"),
    }
    assert_eq!(taken.get(), 0, "no row was taken from the input");
    assert_eq!(err.row(), None);
    // The transaction is usable and kept its earlier work.
    assert_eq!(count(&mut tx, r#"SELECT count(*) FROM "public"."side""#), 1);
    assert_eq!(
        count(&mut tx, r#"SELECT count(*) FROM "public"."account""#),
        before_rows
    );
    tx.batch_execute(r#"INSERT INTO "public"."side" VALUES (2)"#)
        .unwrap();
    tx.commit().unwrap();

    assert_eq!(
        count(&mut client, r#"SELECT count(*) FROM "public"."side""#),
        2
    );
    assert_eq!(
        count(&mut client, r#"SELECT count(*) FROM "public"."account""#),
        before_rows
    );
    assert_eq!(table_oid(&mut client, "public", "account"), oid);
    if let Some(oid) = oid {
        assert_eq!(
            Some(columns(&mut client, oid)),
            before_columns,
            "columns unchanged"
        );
        assert_eq!(primary_key(&mut client, oid), before_key, "key unchanged");
    }
    err
}

const SEED: &str =
    r#"INSERT INTO "public"."account" ("id", "balance") VALUES (1, 1.00), (2, 2.00)"#;

#[test]
fn not_null_over_nulls_is_refused() {
    let err = expect_refused(
        "insert_refused_null",
        r#"CREATE TABLE "public"."account" ("id" bigint PRIMARY KEY, "name" varchar(32),
           "balance" numeric NOT NULL, "note" text NOT NULL DEFAULT '')"#,
        SEED,
        &[Refusal::NullsInNotNull {
            column: "name".into(),
        }],
    );
    assert!(
        err.to_string()
            .contains(r#"column "name" holds NULLs but is NOT NULL in the definition"#),
        "{err}"
    );
}

#[test]
fn every_refusal_is_named_at_once() {
    let err = expect_refused(
        "insert_refused_all",
        r#"CREATE TABLE "public"."account" ("id" integer NOT NULL, "name" varchar(32),
           "balance" numeric PRIMARY KEY, "extra" text)"#,
        r#"INSERT INTO "public"."account" ("id", "balance", "extra") VALUES (1, 1.00, 'x'), (2, 2.00, NULL)"#,
        &[
            Refusal::NullsInNotNull {
                column: "name".into(),
            },
            Refusal::DataLoss {
                what: r#"column "extra" and the data it holds"#.into(),
            },
        ],
    );
    let text = err.to_string();
    for part in [
        r#"column "name" holds NULLs but is NOT NULL in the definition"#,
        r#"would lose column "extra" and the data it holds"#,
    ] {
        assert!(text.contains(part), "{part:?} not in {text}");
    }
}

#[test]
fn a_view_under_the_name_is_refused() {
    expect_refused(
        "insert_refused_view",
        r#"CREATE TABLE "public"."real_accounts" ("id" bigint);
           CREATE VIEW "public"."account" AS SELECT "id" FROM "public"."real_accounts""#,
        r#"INSERT INTO "public"."real_accounts" VALUES (1), (2)"#,
        &[Refusal::NotATable { relkind: 'v' }],
    );
}

#[test]
fn matching_table_with_other_column_order_and_key_name_is_appended_to() {
    let (_db, mut client) = connect("insert_reordered");
    client
        .batch_execute(
            r#"CREATE TABLE "public"."account" ("note" text, "balance" numeric NOT NULL,
                 "name" varchar(32) NOT NULL, "id" bigint NOT NULL,
                 CONSTRAINT "my_own_key" PRIMARY KEY ("id"));
               INSERT INTO "public"."account" VALUES ('seed', 0, 'zero', 0)"#,
        )
        .unwrap();
    let oid = table_oid(&mut client, "public", "account").unwrap();
    let report = load(&mut client, accounts(1..3));
    assert!(!report.tables[0].created);
    assert_eq!(table_oid(&mut client, "public", "account"), Some(oid));
    let back: Vec<(i64, String, String, Option<String>)> = client
        .query(
            r#"SELECT "id", "name", "balance"::text, "note" FROM "public"."account" ORDER BY "id""#,
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    assert_eq!(
        back,
        [
            (0, "zero".into(), "0".into(), Some("seed".into())),
            (1, "account 1".into(), "1.05".into(), None),
            (2, "account 2".into(), "2.05".into(), None),
        ]
    );
    assert_eq!(
        primary_key(&mut client, oid),
        Some(("my_own_key".to_owned(), vec!["id".to_owned()]))
    );
}

// ---------------------------------------------------------------------------
// Bad values and rejected rows

#[derive(BulkTable, Clone)]
struct Payment {
    #[bulk(primary_key)]
    id: i64,
    #[bulk(rename = "Payer name", sql_type = "varchar(5)")]
    payer: String,
    #[bulk(sql_type = "numeric(5,2)")]
    amount: Decimal,
    memo: String,
}

fn payment(id: i64) -> Payment {
    Payment {
        id,
        payer: "ann".into(),
        amount: Decimal::new(id % 100_000, 3),
        memo: format!("memo {id}"),
    }
}

/// `n` payments with ids from `first`, row `at` changed by `change`.
fn payments(
    first: i64,
    n: u64,
    at: u64,
    change: impl Fn(&mut Payment),
) -> impl Iterator<Item = Payment> {
    (0..n).map(move |i| {
        let mut p = payment(first + i as i64);
        if i == at {
            change(&mut p);
        }
        p
    })
}

/// A table `payment` with ids 0, 1, 2, committed.
fn seeded_payments(prefix: &str) -> (TestDb, Client, u32) {
    let (db, mut client) = connect(prefix);
    load(&mut client, (0..3).map(payment));
    let oid = table_oid(&mut client, "public", "payment").unwrap();
    (db, client, oid)
}

fn payment_ids(client: &mut impl GenericClient) -> Vec<i64> {
    client
        .query(r#"SELECT "id" FROM "public"."payment" ORDER BY "id""#, &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// Runs a failing insert against the seeded table in a transaction, checks
/// the table is unchanged and the transaction usable (a later insert in it
/// works and commits), and returns the error.
fn failing_insert(client: &mut Client, oid: u32, rows: impl Iterator<Item = Payment>) -> Error {
    let before = payment_ids(client);
    let mut tx = client.transaction().unwrap();
    let err = pg_bulk_ingest::insert(&mut tx, rows).unwrap_err();
    assert_eq!(
        payment_ids(&mut tx),
        before,
        "table unchanged inside the transaction"
    );
    let next = before.last().map_or(0, |id| id + 1);
    let report = pg_bulk_ingest::insert(&mut tx, [payment(next)]).unwrap();
    assert_eq!(report.rows, 1);
    tx.commit().unwrap();
    let mut after = before;
    after.push(next);
    assert_eq!(
        payment_ids(client),
        after,
        "only the follow-up row was added"
    );
    assert_eq!(table_oid(client, "public", "payment"), Some(oid));
    err
}

fn assert_invalid(err: &Error, row: u64, column: &str, reason: &str, value: Option<&str>) {
    match err {
        Error::InvalidValue {
            row: r,
            table,
            column: c,
            reason: why,
            value: v,
        } => {
            assert_eq!(*r, row, "{err}");
            assert_eq!(table, r#""public"."payment""#);
            assert_eq!(c, column);
            assert!(why.contains(reason), "{why:?} lacks {reason:?}");
            if let Some(value) = value {
                assert!(
                    v.as_deref().is_some_and(|v| v.contains(value)),
                    "{v:?} lacks {value:?}"
                );
            }
        }
        other => panic!("expected InvalidValue, got {other:?}"),
    }
    assert_eq!(err.row(), Some(row));
    assert_eq!(err.column(), Some(column));
    assert_eq!(err.sqlstate(), None);
    assert!(
        err.to_string().contains(&format!("row {row} of the input")),
        "{err}"
    );
}

/// Rows after a 256 KiB chunk has already gone to the server: the failure
/// must still leave nothing behind.
const LATE: u64 = 20_000;

#[test]
fn nul_in_a_string_is_an_invalid_value_with_its_row_and_column() {
    let (_db, mut client, oid) = seeded_payments("insert_nul");
    let err = failing_insert(
        &mut client,
        oid,
        payments(1000, 30_000, LATE, |p| p.memo = "a\0b".into()),
    );
    assert_invalid(&err, LATE, "memo", "NUL", Some(r#""a\0b""#));

    let err = failing_insert(
        &mut client,
        oid,
        payments(1000, 10, 0, |p| p.payer = "\0".into()),
    );
    assert_invalid(&err, 0, "Payer name", "NUL", None);
}

#[test]
fn varchar_overflow_is_an_invalid_value() {
    let (_db, mut client, oid) = seeded_payments("insert_varchar_overflow");
    let err = failing_insert(
        &mut client,
        oid,
        payments(1000, 30_000, LATE, |p| p.payer = "éééééé".into()),
    );
    assert_invalid(&err, LATE, "Payer name", "too long", Some("éééééé"));
}

#[test]
fn varchar_overflow_at_the_first_row() {
    let (_db, mut client, oid) = seeded_payments("insert_varchar_overflow_first");
    let err = failing_insert(
        &mut client,
        oid,
        payments(1000, 5, 0, |p| p.payer = "abcdef".into()),
    );
    assert_invalid(
        &err,
        0,
        "Payer name",
        "character varying(5)",
        Some("abcdef"),
    );
}

#[test]
fn numeric_overflow_is_an_invalid_value() {
    let (_db, mut client, oid) = seeded_payments("insert_numeric_overflow");
    let err = failing_insert(
        &mut client,
        oid,
        payments(1000, 30_000, LATE, |p| p.amount = dec("1000")),
    );
    assert_invalid(&err, LATE, "amount", "overflow", Some("1000"));
}

#[test]
fn numeric_overflow_after_rounding_is_an_invalid_value() {
    let (_db, mut client, oid) = seeded_payments("insert_numeric_round_overflow");
    // 999.995 rounds to 1000.00, which numeric(5,2) can't hold.
    let err = failing_insert(
        &mut client,
        oid,
        payments(1000, 10, 7, |p| p.amount = dec("-999.995")),
    );
    assert_invalid(&err, 7, "amount", "overflow", Some("-999.995"));
}

#[derive(BulkTable)]
#[bulk(schema = "never_created")]
struct Ghost {
    #[bulk(primary_key)]
    id: i32,
    text: String,
}

#[test]
fn invalid_value_in_the_first_call_leaves_no_table_or_schema() {
    let (_db, mut client) = connect("insert_invalid_new");
    let mut tx = client.transaction().unwrap();
    let rows = (0..50_000).map(|id| Ghost {
        id,
        text: if id == 40_000 {
            "\0".into()
        } else {
            "fine".into()
        },
    });
    let err = pg_bulk_ingest::insert(&mut tx, rows).unwrap_err();
    assert!(
        matches!(&err, Error::InvalidValue { row: 40_000, column, table, .. }
            if column == "text" && table == r#""never_created"."ghost""#),
        "{err:?}"
    );
    assert!(!schema_exists(&mut tx, "never_created"));
    assert_eq!(table_oid(&mut tx, "never_created", "ghost"), None);
    // The transaction goes on: the same call with good rows works.
    let rows = (0..10).map(|id| Ghost {
        id,
        text: "fine".into(),
    });
    pg_bulk_ingest::insert(&mut tx, rows).unwrap();
    tx.commit().unwrap();
    assert_eq!(
        count(
            &mut client,
            r#"SELECT count(*) FROM "never_created"."ghost""#
        ),
        10
    );
}

fn assert_duplicate(err: &Error, row: u64, key: i64) {
    match err {
        Error::RowRejected { row: r, table, .. } => {
            assert_eq!(*r, Some(row), "{err}");
            assert_eq!(table, r#""public"."payment""#);
        }
        other => panic!("expected RowRejected, got {other:?}"),
    }
    assert_eq!(err.row(), Some(row));
    assert_eq!(err.sqlstate(), Some("23505"));
    let text = err.to_string();
    assert!(text.contains(&format!("row {row} of the input")), "{text}");
    assert!(text.contains(&format!("(id)=({key})")), "{text}");
}

#[test]
fn duplicate_of_an_existing_key_is_row_rejected_at_its_position() {
    let (_db, mut client, oid) = seeded_payments("insert_dup_late");
    // Id 2 exists; it comes at input position 3210 of 5000.
    let err = failing_insert(&mut client, oid, payments(1000, 5000, 3210, |p| p.id = 2));
    assert_duplicate(&err, 3210, 2);
}

#[test]
fn duplicate_of_an_existing_key_in_the_first_row() {
    let (_db, mut client, oid) = seeded_payments("insert_dup_first");
    let err = failing_insert(&mut client, oid, payments(1000, 10, 0, |p| p.id = 0));
    assert_duplicate(&err, 0, 0);
}

#[test]
fn duplicate_within_the_input_into_an_existing_table() {
    let (_db, mut client, oid) = seeded_payments("insert_dup_within");
    let rows = [payment(1000), payment(1001), payment(1000), payment(1002)];
    let err = failing_insert(&mut client, oid, rows.into_iter());
    assert_duplicate(&err, 2, 1000);
}

#[test]
fn duplicate_within_the_input_into_a_new_table_fails_and_leaves_nothing() {
    let (_db, mut client) = connect("insert_dup_new");
    let mut tx = client.transaction().unwrap();
    let rows = [payment(5), payment(6), payment(5)];
    let err = pg_bulk_ingest::insert(&mut tx, &rows).unwrap_err();
    // The key of a new table is built after the rows are loaded; the rows
    // are then found in the loaded rows: the 5s, at positions 0 and 2.
    assert!(
        matches!(&err, Error::DuplicateKey { key, rows: Some((0, 2)), .. } if key == "(id)=(5)"),
        "{err:?}"
    );
    assert!(err.to_string().contains("(id)=(5)"), "{err}");
    assert_eq!(err.row(), Some(2), "{err}");
    assert_eq!(table_oid(&mut tx, "public", "payment"), None);
    assert_eq!(count(&mut tx, "SELECT 1::int8"), 1);
    tx.commit().unwrap();
    assert_eq!(table_oid(&mut client, "public", "payment"), None);
}

#[derive(BulkTable)]
#[bulk(table = "ledger, line 7")]
struct Ledger {
    #[bulk(primary_key)]
    id: i64,
}

#[test]
fn duplicate_row_position_in_a_table_whose_name_contains_line() {
    let (_db, mut client) = connect("insert_dup_line_name");
    load(&mut client, [Ledger { id: 1 }]);
    let mut tx = client.transaction().unwrap();
    let rows = [Ledger { id: 10 }, Ledger { id: 11 }, Ledger { id: 1 }];
    let err = pg_bulk_ingest::insert(&mut tx, &rows).unwrap_err();
    assert!(matches!(err, Error::RowRejected { .. }), "{err:?}");
    assert_eq!(err.row(), Some(2), "{err}");
}

// ---------------------------------------------------------------------------
// Inputs

#[derive(BulkTable, Debug, Clone, PartialEq)]
struct Item {
    #[bulk(primary_key)]
    id: i32,
    name: String,
}

fn item(id: i32) -> Item {
    Item {
        id,
        name: format!("item {id}"),
    }
}

#[test]
fn accepts_vec_ref_vec_slice_iterators_arrays_and_lazy_iterators() {
    let (_db, mut client) = connect("insert_inputs");
    let mut tx = client.transaction().unwrap();

    let owned: Vec<Item> = (0..3).map(item).collect();
    let report = pg_bulk_ingest::insert(&mut tx, owned).unwrap();
    assert_eq!((report.rows, report.tables[0].created), (3, true));

    let borrowed: Vec<Item> = (3..6).map(item).collect();
    let report = pg_bulk_ingest::insert(&mut tx, &borrowed).unwrap();
    assert_eq!((report.rows, report.tables[0].created), (3, false));
    assert_eq!(borrowed.len(), 3, "still usable after a borrowed insert");

    let slice: Vec<Item> = (6..12).map(item).collect();
    let report = pg_bulk_ingest::insert(&mut tx, slice[1..4].iter()).unwrap();
    assert_eq!(report.rows, 3); // 7, 8, 9

    let report = pg_bulk_ingest::insert(&mut tx, slice.iter().filter(|i| i.id >= 10)).unwrap();
    assert_eq!(report.rows, 2); // 10, 11

    let report = pg_bulk_ingest::insert(&mut tx, (20..25).map(item)).unwrap();
    assert_eq!(report.rows, 5);

    let report = pg_bulk_ingest::insert(&mut tx, [item(30), item(31)]).unwrap();
    assert_eq!(report.rows, 2);

    let report = pg_bulk_ingest::insert(&mut tx, std::iter::once(&item(40))).unwrap();
    assert_eq!(report.rows, 1);
    tx.commit().unwrap();

    let back: Vec<Item> = client
        .query(
            r#"SELECT "id", "name" FROM "public"."item" ORDER BY "id""#,
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| Item {
            id: r.get(0),
            name: r.get(1),
        })
        .collect();
    let expected: Vec<Item> = [
        0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 20, 21, 22, 23, 24, 30, 31, 40,
    ]
    .into_iter()
    .map(item)
    .collect();
    assert_eq!(back, expected);
}

#[test]
fn lazy_iterator_is_consumed_once_and_in_order() {
    let (_db, mut client) = connect("insert_lazy");
    let produced = Cell::new(0i32);
    let rows = std::iter::from_fn(|| {
        let id = produced.get();
        (id < 1000).then(|| {
            produced.set(id + 1);
            item(id)
        })
    });
    let report = load(&mut client, rows);
    assert_eq!(report.rows, 1000);
    assert_eq!(produced.get(), 1000);
    assert_eq!(
        count(
            &mut client,
            r#"SELECT count(*) FROM "public"."item" WHERE "name" = 'item ' || "id""#
        ),
        1000
    );
}

#[test]
fn empty_input_creates_the_table_with_no_rows() {
    let (_db, mut client) = connect("insert_empty");
    let report = load(&mut client, Vec::<Item>::new());
    assert_eq!(report.rows, 0);
    assert!(report.tables[0].created);
    assert_eq!(report.tables[0].rows, 0);
    let oid = table_oid(&mut client, "public", "item").expect("created");
    assert_eq!(
        columns(&mut client, oid),
        [col("id", "integer", true), col("name", "text", true)]
    );
    assert_eq!(
        primary_key(&mut client, oid),
        Some(("item_pkey".to_owned(), vec!["id".to_owned()]))
    );
    assert_eq!(
        count(&mut client, r#"SELECT count(*) FROM "public"."item""#),
        0
    );

    // An empty input into the existing table changes nothing.
    let report = load(&mut client, std::iter::empty::<&Item>());
    assert_eq!(report.rows, 0);
    assert!(!report.tables[0].created);
    assert_eq!(table_oid(&mut client, "public", "item"), Some(oid));
    assert_eq!(
        count(&mut client, r#"SELECT count(*) FROM "public"."item""#),
        0
    );
}

#[test]
fn insert_into_a_new_table_while_the_transaction_has_an_open_portal() {
    // Streaming rows out of one query with a portal and loading them into a
    // new table, in the same transaction.
    let (_db, mut client) = connect("insert_portal");
    let mut tx = client.transaction().unwrap();
    let portal = tx
        .bind("SELECT g FROM generate_series(1, 10) AS g", &[])
        .unwrap();
    let first: Vec<i32> = tx
        .query_portal(&portal, 5)
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(first, [1, 2, 3, 4, 5]);
    let report = pg_bulk_ingest::insert(&mut tx, first.iter().map(|&id| item(id))).unwrap();
    assert_eq!(report.rows, 5);
    let rest: Vec<i32> = tx
        .query_portal(&portal, 5)
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(rest, [6, 7, 8, 9, 10]);
    tx.commit().unwrap();
    assert_eq!(
        count(&mut client, r#"SELECT count(*) FROM "public"."item""#),
        5
    );
}

// ---------------------------------------------------------------------------
// Identifiers

#[derive(BulkTable)]
#[bulk(schema = "My \"odd\".schema", table = "Tåble 🚀")]
struct Odd {
    #[bulk(primary_key, rename = "Col,Name")]
    key: i32,
    #[bulk(rename = "Mixed Case.Col \"q\"")]
    mixed: String,
    #[bulk(rename = "🚀 emoji")]
    emoji: Option<i64>,
    #[bulk(rename = "select")]
    reserved: bool,
    #[bulk(rename = "a: b, line 3")]
    tricky: String,
}

fn odd(key: i32) -> Odd {
    Odd {
        key,
        mixed: format!("m{key}"),
        emoji: (key % 2 == 0).then_some(i64::from(key) * 10),
        reserved: key % 3 == 0,
        tricky: format!("t{key}"),
    }
}

#[test]
fn identifiers_with_quotes_dots_spaces_case_and_emoji_work() {
    let (_db, mut client) = connect("insert_identifiers");
    let report = load(&mut client, (0..3).map(odd));
    assert_eq!(report.tables[0].table, r#""My ""odd"".schema"."Tåble 🚀""#);
    assert!(report.tables[0].created);
    // A second call finds and matches the table.
    let report = load(&mut client, (3..5).map(odd));
    assert!(!report.tables[0].created);

    assert!(schema_exists(&mut client, "My \"odd\".schema"));
    let oid = table_oid(&mut client, "My \"odd\".schema", "Tåble 🚀").expect("created");
    assert_eq!(
        columns(&mut client, oid),
        [
            col("Col,Name", "integer", true),
            col("Mixed Case.Col \"q\"", "text", true),
            col("🚀 emoji", "bigint", false),
            col("select", "boolean", true),
            col("a: b, line 3", "text", true),
        ]
    );
    assert_eq!(
        primary_key(&mut client, oid),
        Some(("Tåble 🚀_pkey".to_owned(), vec!["Col,Name".to_owned()]))
    );
    let back: Vec<(i32, String, Option<i64>, bool, String)> = client
        .query(
            r#"SELECT "Col,Name", "Mixed Case.Col ""q""", "🚀 emoji", "select", "a: b, line 3"
               FROM "My ""odd"".schema"."Tåble 🚀" ORDER BY 1"#,
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
        .collect();
    let expected: Vec<_> = (0..5)
        .map(odd)
        .map(|o| (o.key, o.mixed, o.emoji, o.reserved, o.tricky))
        .collect();
    assert_eq!(back, expected);

    // Errors name the odd column and the odd table exactly.
    let mut tx = client.transaction().unwrap();
    let mut bad = odd(10);
    bad.mixed = "nul\0".into();
    let err = pg_bulk_ingest::insert(&mut tx, [odd(9), bad]).unwrap_err();
    assert!(
        matches!(&err, Error::InvalidValue { row: 1, column, table, .. }
            if column == "Mixed Case.Col \"q\"" && table == r#""My ""odd"".schema"."Tåble 🚀""#),
        "{err:?}"
    );
    let err = pg_bulk_ingest::insert(&mut tx, [odd(20), odd(21), odd(2)]).unwrap_err();
    assert!(matches!(&err, Error::RowRejected { .. }), "{err:?}");
    assert_eq!(err.row(), Some(2), "{err}");
    assert_eq!(err.sqlstate(), Some("23505"));
    tx.commit().unwrap();
    assert_eq!(
        count(
            &mut client,
            r#"SELECT count(*) FROM "My ""odd"".schema"."Tåble 🚀""#
        ),
        5
    );
}

// ---------------------------------------------------------------------------
// Volume

#[derive(BulkTable)]
struct Bulky {
    #[bulk(primary_key)]
    id: i32,
    s: String,
}

const BULK_ROWS: i32 = 200_000;
const BULK_LEN: usize = 1000;

/// `id` zero-padded to 10 digits, then a letter chosen by `id`, to 1000
/// characters: every row's content can be checked on the server.
fn bulky(id: i32) -> Bulky {
    let letter = char::from(b'a' + (id % 26) as u8);
    let s = format!("{id:010}{}", letter.to_string().repeat(BULK_LEN - 10));
    Bulky { id, s }
}

#[test]
fn two_hundred_thousand_rows_of_1000_characters_arrive_complete() {
    let (_db, mut client) = connect("insert_volume");
    let report = load(&mut client, (0..BULK_ROWS).map(bulky));
    assert_eq!(report.rows, BULK_ROWS as u64);
    let row = client
        .query_one(
            r#"SELECT count(*), count(DISTINCT "id"), min("id"), max("id"), sum(length("s"))::int8,
                      count(*) FILTER (WHERE "s" = lpad("id"::text, 10, '0') || repeat(chr(97 + "id" % 26), 990))
               FROM "public"."bulky""#,
            &[],
        )
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), i64::from(BULK_ROWS));
    assert_eq!(row.get::<_, i64>(1), i64::from(BULK_ROWS));
    assert_eq!(row.get::<_, i32>(2), 0);
    assert_eq!(row.get::<_, i32>(3), BULK_ROWS - 1);
    assert_eq!(row.get::<_, i64>(4), i64::from(BULK_ROWS) * BULK_LEN as i64);
    assert_eq!(
        row.get::<_, i64>(5),
        i64::from(BULK_ROWS),
        "every row's content is exact"
    );
}

#[test]
fn insert_into_a_new_table_in_a_repeatable_read_transaction() {
    // PostgreSQL refuses COPY FREEZE once a REPEATABLE READ transaction has its
    // snapshot; the load must work all the same.
    let (_db, mut client) = connect("insert_repeatable_read");
    let mut tx = client
        .build_transaction()
        .isolation_level(postgres::IsolationLevel::RepeatableRead)
        .start()
        .unwrap();
    tx.query("SELECT 1", &[]).unwrap();
    pg_bulk_ingest::insert(&mut tx, [payment(1), payment(2)]).unwrap();
    tx.commit().unwrap();
    assert_eq!(count(&mut client, "SELECT count(*) FROM public.payment"), 2);
}

#[test]
fn a_table_the_call_creates_is_loaded_frozen() {
    // COPY ... FREEZE writes every row already frozen, so no later VACUUM has
    // to visit the pages to freeze them. From PostgreSQL 14 it also marks the
    // pages it fills all-visible and all-frozen in the visibility map (release
    // notes of 14: "Have COPY FREEZE appropriately update page visibility
    // bits"); 12 and 13 leave the map unset. From 16 the table is extended in
    // bulk, and the empty pages that adds are not marked: only the pages that
    // hold rows are.
    #[derive(BulkTable)]
    #[bulk(table = "frozen")]
    struct Frozen {
        #[bulk(primary_key)]
        id: i64,
        label: String,
    }
    let (_db, mut client) = connect("insert_frozen");
    client
        .batch_execute(
            "CREATE EXTENSION IF NOT EXISTS pg_visibility; \
             CREATE EXTENSION IF NOT EXISTS pageinspect",
        )
        .unwrap();
    let mut tx = client.transaction().unwrap();
    pg_bulk_ingest::insert(
        &mut tx,
        (0..20_000).map(|id| Frozen {
            id,
            label: format!("row {id}"),
        }),
    )
    .unwrap();
    tx.commit().unwrap();
    let version: i32 = client
        .query_one("SELECT current_setting('server_version_num')::int4", &[])
        .unwrap()
        .get(0);
    let row = client
        .query_one(
            "SELECT count(*), count(*) FILTER (WHERE t.t_infomask & 768 = 768) \
             FROM generate_series(0, pg_catalog.pg_relation_size('public.frozen') / 8192 - 1) AS b, \
                  heap_page_items(get_raw_page('public.frozen', b::int4)) AS t \
             WHERE t.lp_flags = 1",
            &[],
        )
        .unwrap();
    let (tuples, frozen): (i64, i64) = (row.get(0), row.get(1));
    // HEAP_XMIN_FROZEN: HEAP_XMIN_COMMITTED | HEAP_XMIN_INVALID (0x0300).
    assert_eq!(tuples, 20_000);
    assert_eq!(frozen, tuples, "every row written frozen");
    let row = client
        .query_one(
            "SELECT count(*), \
                    count(*) FILTER (WHERE v.all_visible AND v.all_frozen), \
                    count(*) FILTER (WHERE v.all_visible OR v.all_frozen) \
             FROM pg_visibility_map('public.frozen') AS v \
             WHERE v.blkno IN (SELECT DISTINCT (ctid::text::point)[0]::int8 FROM public.frozen)",
            &[],
        )
        .unwrap();
    let (pages, marked, any_bit): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
    assert!(pages > 10, "{pages} pages hold rows");
    if version >= 140_000 {
        assert_eq!(
            marked, pages,
            "every page holding rows all-visible and all-frozen"
        );
    } else {
        assert_eq!(
            any_bit, 0,
            "PostgreSQL {version} sets no visibility-map bit in COPY FREEZE"
        );
    }
}
