use pg_bulk_ingest::BulkTable;

#[derive(BulkTable)]
struct Doc {
    id: i64,
    #[bulk(sql_type = "text", json)]
    a: Vec<String>,
    #[bulk(json, sql_type = "jsonb[]")]
    b: Vec<String>,
    #[bulk(json, sql_type = "json")]
    fine: Vec<String>,
}

fn main() {}
