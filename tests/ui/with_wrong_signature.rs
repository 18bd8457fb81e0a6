use pg_bulk_ingest::BulkTable;

mod codec {
    use pg_bulk_ingest::{EncodeError, SqlType, TypeKind};
    pub const SQL_TYPE: SqlType = SqlType::new(TypeKind::Text);
    pub fn encode(_: &String, _: &SqlType, _: &mut Vec<u8>) -> Result<(), EncodeError> {
        Ok(())
    }
}

mod no_sql_type {
    use pg_bulk_ingest::{EncodeError, SqlType};
    pub fn encode(_: &std::path::PathBuf, _: &SqlType, _: &mut Vec<u8>) -> Result<(), EncodeError> {
        Ok(())
    }
}

#[derive(BulkTable)]
struct File {
    id: i64,
    #[bulk(with = codec)]
    path: std::path::PathBuf,
    #[bulk(with = no_sql_type)]
    other: std::path::PathBuf,
}

fn main() {}
