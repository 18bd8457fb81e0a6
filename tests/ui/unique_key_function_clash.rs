use pg_bulk_ingest::BulkTable;

#[derive(BulkTable)]
#[bulk(unique(a, b))]
struct Pair {
    #[bulk(primary_key)]
    id: i64,
    a: i32,
    b: i32,
    #[bulk(unique)]
    a_b: i32,
}

fn main() {}
