use pg_bulk_ingest::BulkTable;

#[derive(BulkTable)]
struct Shift {
    id: i64,
    #[bulk(sql_type = "time with time zone")]
    starts: chrono::NaiveTime,
}

fn main() {}
