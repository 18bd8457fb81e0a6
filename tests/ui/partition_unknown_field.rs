use pg_bulk_ingest::BulkTable;

#[derive(BulkTable)]
#[bulk(partition_by = "list (regoin)")]
struct Sale {
    #[bulk(primary_key)]
    id: i64,
    region: String,
}

#[derive(BulkTable)]
#[bulk(partition_by = "hash (id)", partitions = 4)]
struct Contact {
    #[bulk(primary_key, identity)]
    id: pg_bulk_ingest::Generated<i64>,
    email: String,
}

fn main() {}
