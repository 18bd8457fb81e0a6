use pg_bulk_ingest::BulkTable;

// Every mistake is reported at once, each at its own place.
#[derive(BulkTable)]
#[bulk(tabel = "orders")]
struct Order {
    #[bulk(primary_key, primary_key)]
    id: i64,
    #[bulk(sql_type = "varchar(0)")]
    customer: String,
    #[bulk(rename = "id")]
    other_id: i64,
}

fn main() {}
