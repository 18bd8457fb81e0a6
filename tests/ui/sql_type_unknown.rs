use pg_bulk_ingest::BulkTable;

#[derive(BulkTable)]
struct Place {
    id: i64,
    #[bulk(sql_type = "geometry")]
    shape: Vec<u8>,
}

fn main() {}
