use pg_bulk_ingest::BulkTable;

#[derive(BulkTable)]
struct Blob<'a> {
    id: i64,
    #[bulk(sql_type = "text")]
    data: &'a [u8],
}

fn main() {}
