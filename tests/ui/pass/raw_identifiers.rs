// Raw identifiers name columns without their `r#`; the default table name is
// the snake_case struct name.
use pg_bulk_ingest::BulkTable;

#[derive(BulkTable)]
struct HTTPRequestLog {
    #[bulk(primary_key)]
    r#ref: i64,
    r#type: String,
    #[bulk(rename = "match")]
    r#match: Option<bool>,
    #[bulk(rename = "select", sql_type = "char(3)")]
    code: String,
}

fn main() {
    let t = &HTTPRequestLog::TABLE;
    assert_eq!(t.schema, "public");
    assert_eq!(t.table, "http_request_log");
    let names: Vec<_> = t.columns.iter().map(|c| c.name).collect();
    assert_eq!(names, ["ref", "type", "match", "select"]);
    assert_eq!(t.primary_key, ["ref"]);
    assert_eq!(t.columns[3].sql_type.to_string(), "character(3)");
    assert_eq!(t.name().to_string(), r#""public"."http_request_log""#);
}
