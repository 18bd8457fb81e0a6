use pg_bulk_ingest::{BulkTable, Ingest};

#[derive(BulkTable)]
#[bulk(unique(tenant, email))]
struct Contact {
    #[bulk(primary_key)]
    id: i64,
    tenant: i32,
    email: String,
    name: String,
}

fn run(tx: &mut postgres::Transaction<'_>, rows: Vec<Contact>) {
    // `name` is not declared unique: there is no key function for it.
    let _ = Ingest::new().conflict_key(Contact::unique_name()).upsert(tx, &rows);
}

fn main() {}
