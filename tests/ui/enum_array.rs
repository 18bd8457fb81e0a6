use pg_bulk_ingest::{BulkEnum, BulkTable};

#[derive(BulkEnum)]
enum Mood {
    Happy,
    Sad,
}

#[derive(BulkTable)]
struct Diary {
    id: i64,
    moods: Vec<Mood>,
}

fn main() {}
