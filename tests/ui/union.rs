use pg_bulk_ingest::BulkTable;

#[derive(BulkTable)]
union Bits {
    int: i32,
    float: f32,
}

fn main() {}
