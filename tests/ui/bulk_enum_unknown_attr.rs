use pg_bulk_ingest::BulkEnum;

#[derive(BulkEnum)]
#[bulk(schema = "s", table = "mood")]
enum Mood {
    Happy,
    #[bulk(primary_key)]
    Sad,
}

fn main() {}
