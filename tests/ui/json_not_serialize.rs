use pg_bulk_ingest::BulkTable;

struct Attributes {
    #[allow(dead_code)]
    color: String,
}

#[derive(BulkTable)]
struct Product {
    id: i64,
    #[bulk(json)]
    attributes: Attributes,
    #[bulk(json)]
    extra: Option<Attributes>,
}

fn main() {}
