use pg_bulk_ingest::BulkTable;

// 32 characters but 64 bytes: PostgreSQL's limit is in bytes.
#[derive(BulkTable)]
struct Order {
    id: i64,
    #[bulk(rename = "éééééééééééééééééééééééééééééééé")]
    customer: String,
}

fn main() {}
