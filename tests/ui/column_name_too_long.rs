use pg_bulk_ingest::BulkTable;

#[derive(BulkTable)]
struct Order {
    id: i64,
    #[bulk(rename = "a_column_name_that_is_far_too_long_for_postgresql_identifiers_xy")]
    customer: String,
}

fn main() {}
