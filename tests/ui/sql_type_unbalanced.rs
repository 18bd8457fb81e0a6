use pg_bulk_ingest::BulkTable;

#[derive(BulkTable)]
struct Order {
    id: i64,
    #[bulk(sql_type = "varchar(32")]
    customer: String,
}

fn main() {}
