use pg_bulk_ingest::BulkTable;

#[derive(BulkTable)]
#[bulk(index(name, using = "gin; DROP TABLE x"))]
struct Customer {
    #[bulk(primary_key)]
    id: i64,
    name: String,
}

fn main() {}
