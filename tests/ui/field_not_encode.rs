use pg_bulk_ingest::BulkTable;

#[derive(BulkTable)]
struct Order {
    id: i64,
    attributes: std::collections::HashMap<String, String>,
}

fn main() {}
