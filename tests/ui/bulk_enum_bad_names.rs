use pg_bulk_ingest::BulkEnum;

#[derive(BulkEnum)]
#[bulk(type_name = "")]
enum Mood {
    #[bulk(rename = "a_label_that_is_much_longer_than_the_sixty_three_bytes_postgres_allows")]
    Happy,
    #[bulk(rename = "nul\0")]
    Sad,
}

fn main() {}
