use pg_bulk_ingest::BulkEnum;

#[derive(BulkEnum)]
enum Mood {
    Happy,
    Other(String),
    Sad { why: String },
}

fn main() {}
