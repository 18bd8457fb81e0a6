use pg_bulk_ingest::BulkTable;

// PostgreSQL requires a partitioned table's unique keys to include the
// partition key.
#[derive(BulkTable)]
#[bulk(partition_by = "range (day)", partition_interval = "month", unique(sensor))]
struct Reading {
    #[bulk(primary_key)]
    sensor: i32,
    day: chrono::NaiveDate,
    value: f64,
}

fn main() {}
