use pg_bulk_ingest::{BulkRows, BulkTable};

#[derive(BulkTable)]
struct Order {
    #[bulk(primary_key)]
    id: i64,
}

#[derive(BulkTable)]
struct AuditLine {
    text: String,
}

// Deriving is fine; upserting the mix is not, because `AuditLine` has no key.
#[derive(BulkRows)]
enum Row {
    Order(Order),
    Audit(AuditLine),
}

fn load(tx: &mut postgres::Transaction<'_>, rows: Vec<Row>) {
    let _ = pg_bulk_ingest::insert(tx, Vec::<Row>::new());
    let _ = pg_bulk_ingest::upsert(tx, rows);
}

fn main() {}
