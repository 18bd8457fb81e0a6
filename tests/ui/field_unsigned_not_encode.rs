use pg_bulk_ingest::BulkTable;

#[derive(BulkTable)]
struct Order {
    id: u64,
}

fn main() {}
