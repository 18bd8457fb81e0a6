use pg_bulk_ingest::BulkTable;

#[derive(BulkTable)]
struct Order {
    #[bulk]
    id: i64,
}

fn main() {}
