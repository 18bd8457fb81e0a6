// A user newtype implementing `Encode` can be a column, a key, nullable, and
// take an `sql_type` among the types it accepts.
use pg_bulk_ingest::{BulkTable, Encode, EncodeError, SqlType, TypeKind};

struct Sku(String);

impl Encode for Sku {
    const SQL_TYPE: SqlType = SqlType::new(TypeKind::Varchar).with_length(16);
    const ACCEPTS: &'static [TypeKind] = <str as Encode>::ACCEPTS;
    fn encode(&self, ty: &SqlType, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        self.0.encode(ty, out)
    }
}

#[derive(BulkTable)]
struct Stock {
    #[bulk(primary_key)]
    sku: Sku,
    #[bulk(sql_type = "text")]
    replaced_by: Option<Sku>,
    quantity: i32,
}

#[allow(dead_code)]
fn load(tx: &mut postgres::Transaction<'_>, rows: Vec<Stock>) {
    let _ = pg_bulk_ingest::Ingest::new().upsert(tx, rows);
}

fn main() {
    let t = &Stock::TABLE;
    assert_eq!(t.columns[0].sql_type.to_string(), "character varying(16)");
    assert!(!t.columns[0].nullable);
    assert_eq!(t.columns[1].sql_type.to_string(), "text");
    assert!(t.columns[1].nullable);
    assert_eq!(t.columns[2].sql_type.to_string(), "integer");
    assert_eq!(t.primary_key, ["sku"]);
}
