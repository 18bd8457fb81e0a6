//! `#[derive(BulkRows)]`: an enum whose variants each hold the rows of one
//! `BulkTable`, so that one stream can feed several tables.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{Data, DeriveInput, Fields};

use crate::ctxt::Ctxt;

pub fn bulk_rows(input: &DeriveInput) -> syn::Result<TokenStream> {
    let mut cx = Ctxt::default();
    let Data::Enum(data) = &input.data else {
        cx.error(
            &input.ident,
            "BulkRows is derived for an enum whose variants each hold one BulkTable row type, \
             e.g. `enum Row { Order(Order), Line(OrderLine) }`",
        );
        return cx.check().map(|()| TokenStream::new());
    };
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("bulk")) {
        cx.error(attr, "BulkRows takes no `bulk` attributes");
    }
    if data.variants.is_empty() {
        cx.error(&input.ident, "BulkRows needs at least one variant");
    }
    for param in input.generics.type_params() {
        cx.error(param, "BulkRows can't be derived for a generic enum");
    }
    let mut variants: Vec<(&syn::Ident, &syn::Type)> = Vec::new();
    for variant in &data.variants {
        match &variant.fields {
            Fields::Unnamed(fields) if fields.unnamed.len() == 1 => {
                let ty = &fields.unnamed[0].ty;
                let same = |t: &&syn::Type| quote!(#t).to_string() == quote!(#ty).to_string();
                if variants.iter().any(|(_, t)| same(t)) {
                    cx.error(ty, "two variants hold the same row type");
                }
                variants.push((&variant.ident, ty));
            }
            _ => cx.error(
                variant,
                "each BulkRows variant holds exactly one value, a BulkTable row: `Order(Order)`",
            ),
        }
    }
    cx.check()?;

    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let tables = variants
        .iter()
        .map(|(_, ty)| quote!(&<#ty as ::pg_bulk_ingest::BulkTable>::TABLE));
    let indexes = variants
        .iter()
        .enumerate()
        .map(|(i, (v, _))| quote!(Self::#v(_) => #i));
    let writes = variants
        .iter()
        .map(|(v, ty)| quote!(Self::#v(row) => <#ty as ::pg_bulk_ingest::BulkTable>::write_fields(row, w)));
    // `for<'__k>` keeps the bounds from being checked where the enum is
    // defined: an enum with a keyless table is fine until it is upserted.
    let keys = variants
        .iter()
        .map(|(_, ty)| quote!(for<'__k> #ty: ::pg_bulk_ingest::HasPrimaryKey));
    let as_row = crate::expand::as_row_impls(input);
    let mut key_where = input.generics.clone().make_where_clause().clone();
    key_where
        .predicates
        .extend(keys.map(|k| -> syn::WherePredicate { syn::parse_quote!(#k) }));

    Ok(quote! {
        #[doc(hidden)]
        const _: () = {
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
            impl #impl_generics ::pg_bulk_ingest::HasPrimaryKey for #ident #ty_generics #key_where {}

            #as_row
        };
    })
}
