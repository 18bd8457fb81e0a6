use pg_bulk_ingest::{BulkRows, BulkTable};

#[derive(BulkTable)]
struct Order {
    id: i64,
}

#[derive(BulkRows)]
enum Row {
    Order(Order),
    Empty,
    Two(Order, Order),
}

fn main() {}
