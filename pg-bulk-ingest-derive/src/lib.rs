//! `#[derive(BulkTable)]` for [pg-bulk-ingest](https://docs.rs/pg-bulk-ingest).
//! Use it through the `pg-bulk-ingest` crate, which re-exports it and documents
//! its attributes.
//!
//! This file holds the entry points only. Each derive reads its input in the
//! stages of `internals` (attribute grammar, model, checks; every error
//! collected with its span), then generates code: `table` for `BulkTable`,
//! `enums` for `BulkEnum`, `rows` for `BulkRows`. Each entry point calls an
//! inner function on `proc_macro2` tokens, so that expansions can be tested
//! (`tests`).

mod as_row;
mod dummy;
mod enums;
mod internals;
mod rows;
mod table;
#[cfg(test)]
mod tests;

use proc_macro::TokenStream;
use syn::DeriveInput;

/// Derives `pg_bulk_ingest::BulkTable`; see the `pg-bulk-ingest` crate
/// documentation for the attributes.
#[proc_macro_derive(BulkTable, attributes(bulk))]
pub fn derive_bulk_table(input: TokenStream) -> TokenStream {
    derive_bulk_table_inner(input.into()).into()
}

/// Derives `pg_bulk_ingest::BulkEnum` (and `Encode`) for a fieldless enum:
/// a PostgreSQL enum type whose labels are the variants.
#[proc_macro_derive(BulkEnum, attributes(bulk))]
pub fn derive_bulk_enum(input: TokenStream) -> TokenStream {
    derive_bulk_enum_inner(input.into()).into()
}

/// Derives `pg_bulk_ingest::BulkRows` for an enum whose variants each hold
/// the rows of one `BulkTable` type, so that one stream of rows can feed
/// several tables in one call.
#[proc_macro_derive(BulkRows, attributes(bulk))]
pub fn derive_bulk_rows(input: TokenStream) -> TokenStream {
    derive_bulk_rows_inner(input.into()).into()
}

fn derive_bulk_table_inner(input: proc_macro2::TokenStream) -> proc_macro2::TokenStream {
    expand_with(input, table::expand)
}

fn derive_bulk_enum_inner(input: proc_macro2::TokenStream) -> proc_macro2::TokenStream {
    expand_with(input, enums::expand)
}

fn derive_bulk_rows_inner(input: proc_macro2::TokenStream) -> proc_macro2::TokenStream {
    expand_with(input, rows::expand)
}

/// Parses the item and expands it; errors become `compile_error!`s.
fn expand_with(
    input: proc_macro2::TokenStream,
    expand: fn(&DeriveInput) -> syn::Result<proc_macro2::TokenStream>,
) -> proc_macro2::TokenStream {
    syn::parse2::<DeriveInput>(input)
        .and_then(|input| expand(&input))
        .unwrap_or_else(syn::Error::into_compile_error)
}
