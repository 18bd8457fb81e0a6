use pg_bulk_ingest::BulkTable;

#[derive(BulkTable)]
struct Customer {
    #[bulk(primary_key)]
    id: i64,
    #[bulk(unique = true)]
    email: String,
}

fn main() {}
