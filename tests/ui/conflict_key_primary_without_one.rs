use pg_bulk_ingest::{BulkTable, ConflictKey};

#[derive(BulkTable)]
struct Tag {
    #[bulk(unique)]
    slug: String,
}

fn main() {
    let _ = ConflictKey::<Tag>::primary_key();
}
