use pg_bulk_ingest::BulkTable;

// `u8` is no column type: `Vec<u8>` is bytea, so `Vec<T>` arrays can't take it.
#[derive(BulkTable)]
struct Order {
    id: u8,
}

fn main() {}
