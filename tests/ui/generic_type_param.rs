use pg_bulk_ingest::BulkTable;

#[derive(BulkTable)]
struct Wrapper<T> {
    id: i64,
    value: T,
}

fn main() {}
