use pg_bulk_ingest::BulkTable;

#[derive(BulkTable)]
#[bulk(table = "a_table_name_that_is_far_too_long_for_postgresql_identifiers_xyz")]
struct Order {
    id: i64,
}

fn main() {}
