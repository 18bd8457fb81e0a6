// Partitioned tables: the partitioning is data on the table's definition.
use pg_bulk_ingest::{BulkTable, PartitionInterval, PartitionMethod};

#[derive(BulkTable)]
#[bulk(schema = "metrics", table = "readings", partition_by = "range (day)", partition_interval = "1 month", default_partition)]
struct Reading {
    #[bulk(primary_key)]
    sensor: i32,
    #[bulk(primary_key)]
    day: chrono::NaiveDate,
    value: f64,
}

#[derive(BulkTable)]
#[bulk(partition_by = "hash (tenant, r#type)", partitions = 8, unique(tenant, r#type, id))]
struct Event {
    tenant: i32,
    r#type: String,
    id: i64,
}

#[derive(BulkTable)]
#[bulk(partition_by = "LIST (region)")]
struct Sale {
    region: String,
}

fn main() {
    let p = Reading::TABLE.partition.unwrap();
    assert_eq!(p.method, PartitionMethod::Range(PartitionInterval::Month));
    assert_eq!(p.columns, ["day"]);
    assert!(p.default);
    let p = Event::TABLE.partition.unwrap();
    assert_eq!(p.method, PartitionMethod::Hash(8));
    assert_eq!(p.columns, ["tenant", "type"]);
    assert!(!p.default);
    assert_eq!(Sale::TABLE.partition.unwrap().method, PartitionMethod::List);
}
