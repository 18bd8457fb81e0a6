// Every supported type, with and without `sql_type`, in PostgreSQL's various
// spellings; a composite key in field order.
use pg_bulk_ingest::BulkTable;

#[derive(BulkTable)]
#[bulk(schema = "s", table = "t")]
struct AllTypes {
    #[bulk(primary_key)]
    b: bool,
    #[bulk(primary_key)]
    i2: i16,
    i4: i32,
    #[bulk(sql_type = "int8")]
    i8: i64,
    f4: f32,
    #[bulk(sql_type = "double precision")]
    f8: f64,
    t: String,
    #[bulk(sql_type = "Character  Varying (10)")]
    vc: String,
    bytes: Vec<u8>,
    n: rust_decimal::Decimal,
    #[bulk(sql_type = "decimal(12,2)")]
    n2: Option<rust_decimal::Decimal>,
    d: chrono::NaiveDate,
    #[bulk(sql_type = "time(3)")]
    tm: chrono::NaiveTime,
    #[bulk(sql_type = "timestamp(0) without time zone")]
    ts: chrono::NaiveDateTime,
    #[bulk(sql_type = "timestamp(6) with time zone")]
    tz: chrono::DateTime<chrono::Utc>,
}

fn main() {
    let t = &AllTypes::TABLE;
    let types: Vec<String> = t.columns.iter().map(|c| c.sql_type.to_string()).collect();
    assert_eq!(
        types,
        [
            "boolean",
            "smallint",
            "integer",
            "bigint",
            "real",
            "double precision",
            "text",
            "character varying(10)",
            "bytea",
            "numeric",
            "numeric(12,2)",
            "date",
            "time(3) without time zone",
            "timestamp(0) without time zone",
            "timestamp(6) with time zone",
        ]
    );
    assert_eq!(t.primary_key, ["b", "i2"]);
}
