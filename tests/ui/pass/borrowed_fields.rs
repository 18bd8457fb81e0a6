// A struct with a lifetime: borrowed text and bytes, including as the key and
// with an `sql_type`, and rows passed by value and by reference.
use std::borrow::Cow;

use pg_bulk_ingest::{BulkTable, TypeKind};

#[derive(BulkTable)]
#[bulk(schema = "logs", table = "entries")]
struct Entry<'a> {
    #[bulk(primary_key)]
    #[bulk(sql_type = "varchar(40)")]
    key: &'a str,
    body: Cow<'a, str>,
    raw: &'a [u8],
    note: Option<&'a str>,
    boxed: Box<str>,
}

#[allow(dead_code)]
fn load(tx: &mut postgres::Transaction<'_>, entries: &[Entry<'_>], owned: Vec<Entry<'static>>) {
    let _ = pg_bulk_ingest::insert(tx, entries);
    let _ = pg_bulk_ingest::upsert(tx, entries.iter());
    let _ = pg_bulk_ingest::upsert(tx, owned);
}

fn main() {
    let t = &Entry::TABLE;
    assert_eq!(t.schema, "logs");
    assert_eq!(t.table, "entries");
    let names: Vec<_> = t.columns.iter().map(|c| c.name).collect();
    assert_eq!(names, ["key", "body", "raw", "note", "boxed"]);
    assert_eq!(t.primary_key, ["key"]);
    assert_eq!(t.columns[0].sql_type.to_string(), "character varying(40)");
    assert_eq!(t.columns[1].sql_type.kind(), TypeKind::Text);
    assert_eq!(t.columns[2].sql_type.kind(), TypeKind::Bytea);
    assert!(!t.columns[0].nullable);
    assert!(t.columns[3].nullable);
    assert!(!t.columns[4].nullable);
}
