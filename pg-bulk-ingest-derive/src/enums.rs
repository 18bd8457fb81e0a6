//! `#[derive(BulkEnum)]` code generation: a fieldless enum as a PostgreSQL
//! enum type, each variant one label, written through `Encode`.

use proc_macro2::TokenStream;
use quote::quote;
use syn::DeriveInput;

use crate::dummy;
use crate::internals::ast::Enum;
use crate::internals::Ctxt;

pub fn expand(input: &DeriveInput) -> syn::Result<TokenStream> {
    let cx = Ctxt::default();
    let model = Enum::from_ast(&cx, input);
    cx.check()?;
    let model = model.expect("no errors means an enum");
    Ok(generate(&model))
}

fn generate(model: &Enum<'_>) -> TokenStream {
    let ident = &model.original.ident;
    let schema = &model.schema;
    let type_name = &model.type_name;
    let labels = model.variants.iter().map(|v| &v.label);
    let arms = model.variants.iter().map(|v| {
        let (variant, label) = (v.ident, &v.label);
        quote!(Self::#variant => #label)
    });
    dummy::wrap_in_const(quote! {
        #[automatically_derived]
        impl ::pg_bulk_ingest::BulkEnum for #ident {
            const ENUM: &'static ::pg_bulk_ingest::EnumDef = &::pg_bulk_ingest::EnumDef::new(
                #schema,
                #type_name,
                &[#(#labels),*],
            );

            #[inline]
            fn label(&self) -> &'static str {
                match self {
                    #(#arms,)*
                }
            }
        }

        #[automatically_derived]
        impl ::pg_bulk_ingest::Encode for #ident {
            const SQL_TYPE: ::pg_bulk_ingest::SqlType = ::pg_bulk_ingest::SqlType::of_enum(
                <Self as ::pg_bulk_ingest::BulkEnum>::ENUM,
            );
            const ACCEPTS: &'static [::pg_bulk_ingest::TypeKind] = &[
                ::pg_bulk_ingest::TypeKind::Enum,
                ::pg_bulk_ingest::TypeKind::Text,
                ::pg_bulk_ingest::TypeKind::Varchar,
            ];

            #[inline]
            fn encode(
                &self,
                ty: &::pg_bulk_ingest::SqlType,
                out: &mut ::std::vec::Vec<u8>,
            ) -> ::core::result::Result<(), ::pg_bulk_ingest::EncodeError> {
                ::pg_bulk_ingest::__private::encode_label(
                    <Self as ::pg_bulk_ingest::BulkEnum>::label(self),
                    ty,
                    out,
                )
            }
        }
    })
}
