use pg_bulk_ingest::BulkTable;

// A range cut by an interval needs a date, timestamp or timestamptz column.
#[derive(BulkTable)]
#[bulk(partition_by = "range (day)", partition_interval = "day")]
struct Reading {
    day: i64,
    value: f64,
}

fn main() {}
