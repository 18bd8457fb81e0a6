use pg_bulk_ingest::{BulkTable, Generated};

#[derive(BulkTable)]
struct Contact {
    #[bulk(primary_key)]
    id: i64,
    email: String,
    #[bulk(generated = "lower(email)", default = "''", db_fills)]
    email_lower: Generated<String>,
    #[bulk(db_fills)]
    created: Generated<i64>,
    #[bulk(identity = "sometimes")]
    n: Generated<i64>,
}

fn main() {}
