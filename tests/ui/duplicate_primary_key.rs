use pg_bulk_ingest::BulkTable;

#[derive(BulkTable)]
struct Order {
    #[bulk(primary_key, primary_key)]
    id: i64,
}

fn main() {}
