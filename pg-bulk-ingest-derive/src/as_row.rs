//! `AsRow` for `T` and `&T`, generated for `BulkTable` structs and `BulkRows`
//! enums alike, so that iterators of rows and of references to rows can be
//! loaded.

use proc_macro2::TokenStream;
use quote::quote;
use syn::DeriveInput;

pub fn impls(input: &DeriveInput) -> TokenStream {
    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let mut ref_generics = input.generics.clone();
    ref_generics.params.insert(0, syn::parse_quote!('__row));
    let (ref_impl_generics, _, _) = ref_generics.split_for_impl();
    quote! {
        #[automatically_derived]
        impl #impl_generics ::pg_bulk_ingest::AsRow for #ident #ty_generics #where_clause {
            type Row = Self;
            #[inline]
            fn as_row(&self) -> &Self {
                self
            }
        }

        #[automatically_derived]
        impl #ref_impl_generics ::pg_bulk_ingest::AsRow for &'__row #ident #ty_generics #where_clause {
            type Row = #ident #ty_generics;
            #[inline]
            fn as_row(&self) -> &#ident #ty_generics {
                self
            }
        }
    }
}
