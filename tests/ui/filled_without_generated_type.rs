use pg_bulk_ingest::BulkTable;

#[derive(BulkTable)]
struct Contact {
    #[bulk(primary_key, identity)]
    id: i64,
    email: String,
}

fn main() {}
