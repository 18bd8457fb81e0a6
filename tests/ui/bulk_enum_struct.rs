use pg_bulk_ingest::BulkEnum;

#[derive(BulkEnum)]
struct Mood {
    happy: bool,
}

fn main() {}
