use pg_bulk_ingest::{BulkTable, ConflictKey, Generated};

// The primary key is filled by the database: rows can't be matched on it,
// and there is no other unique key.
#[derive(BulkTable)]
struct Event {
    #[bulk(primary_key, identity)]
    id: Generated<i64>,
    name: String,
}

fn run(tx: &mut postgres::Transaction<'_>, events: Vec<Event>) {
    let _ = ConflictKey::<Event>::primary_key();
    let _ = pg_bulk_ingest::upsert(tx, &events);
}

fn main() {}
