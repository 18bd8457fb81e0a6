use pg_bulk_ingest::BulkTable;

#[derive(BulkTable)]
struct Order {
    #[bulk(primary_key)]
    id: Option<i64>,
    customer: String,
}

fn main() {}
