use pg_bulk_ingest::BulkEnum;

#[derive(BulkEnum)]
enum Never {}

fn main() {}
