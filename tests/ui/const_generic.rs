use pg_bulk_ingest::BulkTable;

#[derive(BulkTable)]
struct Fixed<const N: usize> {
    id: i64,
}

fn main() {}
