use pg_bulk_ingest::BulkTable;

#[derive(BulkTable)]
#[bulk(index(name, nmae))]
struct Customer {
    #[bulk(primary_key)]
    id: i64,
    name: String,
}

fn main() {}
