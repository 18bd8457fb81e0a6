use pg_bulk_ingest::BulkTable;

#[derive(BulkTable)]
struct Order {
    id: i64,
    #[bulk(sql_type = "numeric(5,6)")]
    amount: rust_decimal::Decimal,
}

fn main() {}
