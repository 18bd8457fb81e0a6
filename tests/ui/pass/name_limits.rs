// Names of exactly 63 bytes (PostgreSQL's limit) are accepted, whether ASCII
// or multi-byte.
use pg_bulk_ingest::BulkTable;

#[derive(BulkTable)]
#[bulk(
    schema = "a_schema_name_that_is_exactly_sixty_three_bytes_long_0123456789",
    table = "a_table_name_that_is_exactly_sixty_three_bytes_long_01234567890"
)]
struct Limits {
    #[bulk(rename = "éééééééééééééééééééééééééééééééx")]
    wide: i64,
}

fn main() {
    let t = &Limits::TABLE;
    assert_eq!(t.schema.len(), 63);
    assert_eq!(t.table.len(), 63);
    assert_eq!(t.columns[0].name.len(), 63);
}
