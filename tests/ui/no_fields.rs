use pg_bulk_ingest::BulkTable;

#[derive(BulkTable)]
struct Nothing {}

fn main() {}
