use pg_bulk_ingest::BulkTable;

#[derive(BulkTable)]
struct Customer {
    #[bulk(primary_key)]
    id: i64,
    #[bulk(default = "0; DROP TABLE customer")]
    visits: i64,
}

fn main() {}
