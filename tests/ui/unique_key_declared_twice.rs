use pg_bulk_ingest::BulkTable;

#[derive(BulkTable)]
#[bulk(unique(email))]
struct Contact {
    #[bulk(primary_key)]
    id: i64,
    #[bulk(unique)]
    email: String,
}

fn main() {}
