use pg_bulk_ingest::BulkTable;

#[derive(BulkTable)]
#[bulk(schema = "sales", tabel = "orders")]
struct Order {
    id: i64,
}

fn main() {}
