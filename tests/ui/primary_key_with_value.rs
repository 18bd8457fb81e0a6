use pg_bulk_ingest::BulkTable;

#[derive(BulkTable)]
struct Order {
    #[bulk(primary_key = true)]
    id: i64,
}

fn main() {}
