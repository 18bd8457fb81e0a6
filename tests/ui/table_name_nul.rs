use pg_bulk_ingest::BulkTable;

#[derive(BulkTable)]
#[bulk(table = "orders\0old")]
struct Order {
    id: i64,
}

fn main() {}
