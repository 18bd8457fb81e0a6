//! `#[derive(BulkRows)]` code generation: an enum whose variants each hold the
//! rows of one `BulkTable`, so that one stream can feed several tables.

use proc_macro2::TokenStream;
use quote::quote;
use syn::DeriveInput;

use crate::internals::ast::Rows;
use crate::internals::Ctxt;
use crate::{as_row, dummy};

pub fn expand(input: &DeriveInput) -> syn::Result<TokenStream> {
    let cx = Ctxt::default();
    let rows = Rows::from_ast(&cx, input);
    cx.check()?;
    let rows = rows.expect("no errors means an enum");
    Ok(generate(&rows))
}

fn generate(rows: &Rows<'_>) -> TokenStream {
    let input = rows.original;
    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let tables = rows.variants.iter().map(|v| {
        let ty = v.ty;
        quote!(&<#ty as ::pg_bulk_ingest::BulkTable>::TABLE)
    });
    let indexes = rows.variants.iter().enumerate().map(|(i, v)| {
        let variant = v.ident;
        quote!(Self::#variant(_) => #i)
    });
    let writes = rows.variants.iter().map(|v| {
        let (variant, ty) = (v.ident, v.ty);
        quote!(Self::#variant(row) => <#ty as ::pg_bulk_ingest::BulkTable>::write_fields(row, w))
    });
    // `for<'__k>` keeps the bounds from being checked where the enum is
    // defined: an enum with a keyless table is fine until it is upserted.
    let bounded = |bound: TokenStream| {
        let mut clause = input.generics.clone().make_where_clause().clone();
        clause
            .predicates
            .extend(rows.variants.iter().map(|v| -> syn::WherePredicate {
                let ty = v.ty;
                syn::parse_quote!(for<'__k> #ty: #bound)
            }));
        clause
    };
    let key_where = bounded(quote!(::pg_bulk_ingest::HasPrimaryKey));
    let unique_where = bounded(quote!(::pg_bulk_ingest::HasUniqueKey));
    let as_row = as_row::impls(input);

    dummy::wrap_in_const(quote! {
        #[automatically_derived]
        impl #impl_generics ::pg_bulk_ingest::BulkRows for #ident #ty_generics #where_clause {
            const TABLES: &'static [&'static ::pg_bulk_ingest::TableDef] = &[#(#tables),*];

            #[inline]
            fn table_index(&self) -> usize {
                match self {
                    #(#indexes,)*
                }
            }

            #[inline]
            fn write_fields(
                &self,
                w: &mut ::pg_bulk_ingest::RowWriter<'_>,
            ) -> ::core::result::Result<(), ::pg_bulk_ingest::FieldError> {
                match self {
                    #(#writes,)*
                }
            }
        }

        #[automatically_derived]
        impl #impl_generics ::pg_bulk_ingest::HasUniqueKey for #ident #ty_generics #unique_where {}

        #[automatically_derived]
        impl #impl_generics ::pg_bulk_ingest::HasPrimaryKey for #ident #ty_generics #key_where {}

        #as_row
    })
}
