//! `#[derive(BulkTable)]` for [pg-bulk-ingest](https://docs.rs/pg-bulk-ingest).
//! Use it through the `pg-bulk-ingest` crate, which re-exports it and documents
//! its attributes.
//!
//! The derive works in three steps, each in its own module: [`attr`] parses the
//! `#[bulk(...)]` attributes into the model (collecting every error with its
//! span), [`sql_type`] parses `sql_type = "..."` strings, and [`expand`]
//! generates the table definition and the serializer. [`enums`] derives
//! `BulkEnum`, [`rows`] `BulkRows`.

mod attr;
mod ctxt;
mod enums;
mod expand;
mod rows;
mod sql_type;

use proc_macro::TokenStream;
use syn::{parse_macro_input, DeriveInput};

/// Derives `pg_bulk_ingest::BulkTable`; see the `pg-bulk-ingest` crate
/// documentation for the attributes.
#[proc_macro_derive(BulkTable, attributes(bulk))]
pub fn derive_bulk_table(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::bulk_table(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Derives `pg_bulk_ingest::BulkEnum` (and `Encode`) for a fieldless enum:
/// a PostgreSQL enum type whose labels are the variants.
#[proc_macro_derive(BulkEnum, attributes(bulk))]
pub fn derive_bulk_enum(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    enums::bulk_enum(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Derives `pg_bulk_ingest::BulkRows` for an enum whose variants each hold
/// the rows of one `BulkTable` type, so that one stream of rows can feed
/// several tables in one call.
#[proc_macro_derive(BulkRows, attributes(bulk))]
pub fn derive_bulk_rows(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    rows::bulk_rows(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
