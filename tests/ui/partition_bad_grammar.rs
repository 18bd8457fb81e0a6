use pg_bulk_ingest::BulkTable;

#[derive(BulkTable)]
#[bulk(partition_by = "interval (day)")]
struct A {
    day: chrono::NaiveDate,
}

#[derive(BulkTable)]
#[bulk(partition_by = "range (day)")]
struct B {
    day: chrono::NaiveDate,
}

#[derive(BulkTable)]
#[bulk(partition_by = "range (day)", partition_interval = "fortnight")]
struct C {
    day: chrono::NaiveDate,
}

#[derive(BulkTable)]
#[bulk(partition_by = "hash (tenant)", default_partition)]
struct D {
    tenant: i32,
}

#[derive(BulkTable)]
#[bulk(partition_by = "list (region, tenant)", partitions = 4)]
struct E {
    region: String,
    tenant: i32,
}

#[derive(BulkTable)]
#[bulk(default_partition)]
struct F {
    tenant: i32,
}

fn main() {}
