use pg_bulk_ingest::BulkTable;

#[derive(BulkTable)]
struct Marker;

fn main() {}
