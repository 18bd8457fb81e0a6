//! Expansion snapshots: the code each derive generates for a few
//! representative inputs, pretty-printed, as `diesel_derives/src/tests/mod.rs`
//! does. A changed snapshot is a change of the generated code: review it as
//! such. Write new or changed snapshots with
//! `INSTA_UPDATE=always cargo test -p pg-bulk-ingest-derive`, then review
//! `git diff`; a plain run (and CI) only compares.

use proc_macro2::TokenStream;
use quote::quote;

/// Expands `input` with `derive` and pretty-prints the result.
fn expand(input: TokenStream, derive: fn(TokenStream) -> TokenStream) -> String {
    let output = derive(input);
    let file: syn::File = syn::parse2(output).expect("the expansion parses as Rust items");
    prettyplease::unparse(&file)
}

#[test]
fn table_simple() {
    let input = quote! {
        #[bulk(schema = "sales")]
        struct Order {
            #[bulk(primary_key)]
            id: i64,
            #[bulk(sql_type = "varchar(64)")]
            customer: String,
            #[bulk(sql_type = "numeric(12, 2)")]
            total: rust_decimal::Decimal,
            shipped_at: Option<chrono::DateTime<chrono::Utc>>,
        }
    };
    insta::assert_snapshot!(expand(input, crate::derive_bulk_table_inner));
}

#[test]
fn table_partitioned() {
    let input = quote! {
        #[bulk(schema = "metrics", partition_by = "range (day)", partition_interval = "month", default_partition)]
        struct Reading {
            #[bulk(primary_key)]
            sensor: i32,
            #[bulk(primary_key)]
            day: chrono::NaiveDate,
            value: f64,
        }
    };
    insta::assert_snapshot!(expand(input, crate::derive_bulk_table_inner));
}

#[test]
fn table_attributes() {
    let input = quote! {
        #[bulk(table = "order_lines", index(order_id, position), unique(sku, using = "btree"))]
        struct OrderLine<'a> {
            #[bulk(primary_key)]
            order_id: i64,
            #[bulk(primary_key)]
            position: i32,
            #[bulk(index, rename = "article")]
            sku: &'a str,
            #[bulk(unique, sql_type = "text[]")]
            tags: Vec<String>,
            #[bulk(default = "now()", rename_from = "created")]
            created_at: chrono::DateTime<chrono::Utc>,
            #[bulk(json)]
            attributes: Option<serde_json::Value>,
            #[bulk(json, sql_type = "json")]
            raw: Vec<u8>,
            #[bulk(with = money::cents)]
            price: Money,
            #[bulk(with = "money::cents")]
            discount: Option<Money>,
            r#type: i16,
        }
    };
    insta::assert_snapshot!(expand(input, crate::derive_bulk_table_inner));
}

#[test]
fn rows() {
    let input = quote! {
        enum Row<'a> {
            Order(Order),
            Line(OrderLine<'a>),
        }
    };
    insta::assert_snapshot!(expand(input, crate::derive_bulk_rows_inner));
}

#[test]
fn enum_type() {
    let input = quote! {
        #[bulk(schema = "sales", type_name = "order_status")]
        enum Status {
            Pending,
            #[bulk(rename = "in transit")]
            InTransit,
            HTTPError,
            r#Return,
        }
    };
    insta::assert_snapshot!(expand(input, crate::derive_bulk_enum_inner));
}

/// Every mistake at once, in the order of the source.
#[test]
fn errors() {
    let input = quote! {
        #[bulk(index(nope), tabel = "orders")]
        struct Order {
            #[bulk(primary_key, primary_key)]
            id: i64,
            #[bulk(sql_type = "varchar(0)")]
            customer: String,
            #[bulk(json, with = codec)]
            body: Vec<u8>,
            #[bulk(rename = "id")]
            other_id: i64,
        }
    };
    insta::assert_snapshot!(expand(input, crate::derive_bulk_table_inner));
}
