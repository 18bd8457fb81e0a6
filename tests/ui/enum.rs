use pg_bulk_ingest::BulkTable;

#[derive(BulkTable)]
enum Event {
    Click { x: i32, y: i32 },
    Key { code: i32 },
}

fn main() {}
