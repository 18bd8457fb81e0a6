//! The Rust ↔ PostgreSQL type table of the crate documentation is checked
//! against the code (each Rust type's default column type), and the README
//! carries the same table.

use pg_bulk_ingest::{Encode, SqlType};

/// The rows of the table under `# Types` in the crate docs (`src/lib.md`).
fn doc_table() -> Vec<String> {
    let lib = include_str!("../pg-bulk-ingest/src/lib.md");
    lib.lines()
        .map(|l| l.strip_prefix("//!").unwrap_or(l).trim().to_owned())
        .skip_while(|l| l != "# Types")
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .collect()
}

fn cells(row: &str) -> Vec<String> {
    row.trim_matches('|')
        .split('|')
        .map(|c| c.trim().to_owned())
        .collect()
}

/// The short names the table uses, as PostgreSQL's `format_type` spells them.
fn format_type(short: &str) -> String {
    let short = short.trim_matches('`');
    match short {
        "time" => "time without time zone".into(),
        "timestamp" => "timestamp without time zone".into(),
        "timestamptz" => "timestamp with time zone".into(),
        "char(1)" => "character(1)".into(),
        other => other.into(),
    }
}

/// The default column type the table gives for the Rust type(s) `rust` (the
/// first cell starts with it): the first entry of the third cell, split on
/// ` / ` when the row lists several types side by side.
fn documented_default(table: &[String], rust: &str) -> String {
    for row in table {
        let c = cells(row);
        let rust_types: Vec<&str> = c[0].split(" / ").collect();
        if let Some(i) = rust_types.iter().position(|t| t.starts_with(rust)) {
            let pg = &c[2];
            let first = if rust_types.len() > 1 {
                pg.split(" / ").nth(i).unwrap_or(pg)
            } else {
                pg.split(", ").next().unwrap_or(pg)
            };
            return format_type(first);
        }
    }
    panic!("no row for {rust} in the type table");
}

#[test]
fn the_type_table_matches_the_code() {
    let table = doc_table();
    assert!(table.len() > 20, "{table:?}");
    let code: Vec<(&str, SqlType)> = vec![
        ("`bool`", bool::SQL_TYPE),
        ("`i16`", i16::SQL_TYPE),
        ("`i32`", i32::SQL_TYPE),
        ("`i64`", i64::SQL_TYPE),
        ("`i8`", i8::SQL_TYPE),
        ("`u16`", u16::SQL_TYPE),
        ("`u32`", u32::SQL_TYPE),
        ("`u64`", u64::SQL_TYPE),
        ("`f32`", f32::SQL_TYPE),
        ("`f64`", f64::SQL_TYPE),
        ("`String`", String::SQL_TYPE),
        ("`char`", char::SQL_TYPE),
        ("`Vec<u8>`", <Vec<u8>>::SQL_TYPE),
        ("`std::net::IpAddr`", std::net::IpAddr::SQL_TYPE),
        ("`std::time::Duration`", std::time::Duration::SQL_TYPE),
        ("`rust_decimal::Decimal`", rust_decimal::Decimal::SQL_TYPE),
        ("`chrono::NaiveDate`", chrono::NaiveDate::SQL_TYPE),
        ("`chrono::NaiveTime`", chrono::NaiveTime::SQL_TYPE),
        ("`chrono::NaiveDateTime`", chrono::NaiveDateTime::SQL_TYPE),
        (
            "`chrono::DateTime<Tz>`",
            <chrono::DateTime<chrono::Utc>>::SQL_TYPE,
        ),
        ("`chrono::Duration`", chrono::Duration::SQL_TYPE),
        ("`time::Date`", time::Date::SQL_TYPE),
        ("`time::Time`", time::Time::SQL_TYPE),
        (
            "`time::PrimitiveDateTime`",
            time::PrimitiveDateTime::SQL_TYPE,
        ),
        ("`time::OffsetDateTime`", time::OffsetDateTime::SQL_TYPE),
        ("`time::Duration`", time::Duration::SQL_TYPE),
        ("`uuid::Uuid`", uuid::Uuid::SQL_TYPE),
        ("`serde_json::Value`", serde_json::Value::SQL_TYPE),
    ];
    for (rust, sql_type) in code {
        assert_eq!(
            documented_default(&table, rust),
            sql_type.to_string(),
            "the table's default for {rust}"
        );
    }
}

#[test]
fn the_readme_carries_the_same_table() {
    let readme = include_str!("../README.md");
    for row in doc_table() {
        assert!(readme.contains(&row), "README lacks the row {row}");
    }
}
