use pg_bulk_ingest::BulkTable;

#[derive(BulkTable)]
struct Counter {
    #[bulk(sql_type = "integer(3)")]
    count: i32,
}

fn main() {}
