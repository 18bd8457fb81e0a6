//! What `#[derive(BulkEnum)]`, `json` and `with` generate.

use std::collections::BTreeMap;

use pg_bulk_ingest::{BulkEnum, BulkTable, Encode, EncodeError, EnumDef, SqlType, TypeKind};

#[derive(BulkEnum)]
enum HttpMethod {
    Get,
    #[bulk(rename = "POST")]
    Post,
    r#Delete,
}

#[derive(BulkEnum)]
#[bulk(schema = "audit", type_name = "Level")]
enum Level {
    Info,
    Warn,
}

mod upper {
    use pg_bulk_ingest::{Encode, EncodeError, SqlType, TypeKind};
    pub const SQL_TYPE: SqlType = SqlType::new(TypeKind::Varchar).with_length(8);
    pub fn encode(value: &String, ty: &SqlType, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        value.to_uppercase().as_str().encode(ty, out)
    }
}

#[derive(BulkTable)]
struct Request<'a> {
    #[bulk(primary_key)]
    method: HttpMethod,
    level: Option<Level>,
    #[bulk(json)]
    headers: BTreeMap<&'a str, Vec<&'a str>>,
    #[bulk(json, sql_type = "json")]
    body: Option<&'a [u8]>,
    #[bulk(primary_key, with = upper)]
    host: String,
    #[bulk(with = upper)]
    proxy: std::option::Option<String>,
}

fn encoded<E: Encode + ?Sized>(value: &E, ty: SqlType) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::new();
    value.encode(&ty, &mut out)?;
    Ok(out)
}

fn main() {
    const METHOD: &EnumDef = <HttpMethod as BulkEnum>::ENUM;
    assert_eq!((METHOD.schema, METHOD.name), ("public", "http_method"));
    assert_eq!(METHOD.labels, ["get", "POST", "delete"]);
    assert_eq!(HttpMethod::Post.label(), "POST");
    assert_eq!(<Level as BulkEnum>::ENUM.name().to_string(), r#""audit"."Level""#);

    let columns = Request::TABLE.columns;
    let shown: Vec<(String, bool)> = columns
        .iter()
        .map(|c| (c.sql_type.to_string(), c.nullable))
        .collect();
    assert_eq!(
        shown,
        [
            (r#""public"."http_method""#.to_owned(), false),
            (r#""audit"."Level""#.to_owned(), true),
            ("jsonb".to_owned(), false),
            ("json".to_owned(), true),
            ("character varying(8)".to_owned(), false),
            ("character varying(8)".to_owned(), true),
        ]
    );
    assert_eq!(columns[0].sql_type.kind(), TypeKind::Enum);
    assert_eq!(columns[0].sql_type.enum_def(), Some(METHOD));
    assert_eq!(Request::TABLE.primary_key, ["method", "host"]);
    assert_eq!(
        Request::TABLE.enums(),
        [METHOD, <Level as BulkEnum>::ENUM]
    );

    // The label, as the type's binary input takes it, or as text.
    let ty = <HttpMethod as Encode>::SQL_TYPE;
    assert_eq!(encoded(&HttpMethod::r#Delete, ty).unwrap(), b"delete");
    let short = SqlType::new(TypeKind::Varchar).with_length(3);
    assert_eq!(encoded(&HttpMethod::Get, short).unwrap(), b"get");
    assert!(encoded(&HttpMethod::r#Delete, short).is_err());
    assert!(<Option<Level> as Encode>::NULLABLE);
}
