use pg_bulk_ingest::BulkTable;

#[derive(BulkTable)]
struct Tagged {
    id: i64,
    #[bulk(sql_type = "text[]")]
    tags: String,
}

fn main() {}
