use pg_bulk_ingest::{BulkTable, Generated};

#[derive(BulkTable)]
struct Contact {
    #[bulk(primary_key)]
    id: i64,
    email_lower: Generated<String>,
}

fn main() {}
