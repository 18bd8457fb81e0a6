use pg_bulk_ingest::BulkRows;

#[derive(BulkRows)]
struct NotAnEnum {
    id: i64,
}

fn main() {}
