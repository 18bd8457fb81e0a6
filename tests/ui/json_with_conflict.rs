use pg_bulk_ingest::BulkTable;

mod codec {
    use pg_bulk_ingest::{EncodeError, SqlType, TypeKind};
    pub const SQL_TYPE: SqlType = SqlType::new(TypeKind::Text);
    pub fn encode(_: &Vec<String>, _: &SqlType, _: &mut Vec<u8>) -> Result<(), EncodeError> {
        Ok(())
    }
}

#[derive(BulkTable)]
struct Product {
    id: i64,
    #[bulk(with = codec, json)]
    tags: Vec<String>,
    #[bulk(json)]
    #[bulk(with = codec)]
    more: Vec<String>,
}

fn main() {}
