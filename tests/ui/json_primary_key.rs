use pg_bulk_ingest::BulkTable;

#[derive(BulkTable)]
struct Doc {
    #[bulk(json)]
    #[bulk(primary_key)]
    key: Vec<String>,
    #[bulk(primary_key, json)]
    other: Vec<String>,
}

fn main() {}
