use pg_bulk_ingest::BulkTable;

#[derive(BulkTable)]
struct Order {
    id: i64,
    customer: String,
    #[bulk(rename = "customer")]
    customer_name: String,
}

fn main() {}
