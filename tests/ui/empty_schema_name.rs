use pg_bulk_ingest::BulkTable;

#[derive(BulkTable)]
#[bulk(schema = "")]
struct Order {
    id: i64,
}

fn main() {}
