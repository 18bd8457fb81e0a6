use pg_bulk_ingest::BulkTable;

#[derive(BulkTable)]
struct Entry<'a> {
    #[bulk(primary_key)]
    key: Option<&'a str>,
    body: &'a str,
}

fn main() {}
