use pg_bulk_ingest::BulkTable;

#[derive(BulkTable)]
#[bulk(schema = "sales")]
#[bulk(schema = "archive")]
struct Order {
    id: i64,
}

fn main() {}
