use pg_bulk_ingest::BulkTable;

#[derive(BulkTable)]
struct Point(i32, i32);

fn main() {}
