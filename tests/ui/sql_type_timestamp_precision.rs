use pg_bulk_ingest::BulkTable;

#[derive(BulkTable)]
struct Event {
    id: i64,
    #[bulk(sql_type = "timestamp(7)")]
    at: chrono::NaiveDateTime,
}

fn main() {}
