use pg_bulk_ingest::BulkTable;

#[derive(BulkTable)]
struct Order {
    id: i64,
    #[bulk(rename = "customer_name")]
    #[bulk(rename = "client_name")]
    customer: String,
}

fn main() {}
