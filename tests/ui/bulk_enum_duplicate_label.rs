use pg_bulk_ingest::BulkEnum;

#[derive(BulkEnum)]
enum Mood {
    SoSo,
    #[bulk(rename = "so_so")]
    Meh,
}

fn main() {}
