//! `#[derive(BulkEnum)]`: a fieldless enum as a PostgreSQL enum type, each
//! variant one label.

use proc_macro2::TokenStream;
use quote::quote;
use syn::ext::IdentExt;
use syn::{Data, DeriveInput, Fields, LitStr};

use crate::attr::{check_name, qualified_name, snake_case};
use crate::ctxt::Ctxt;

pub fn bulk_enum(input: &DeriveInput) -> syn::Result<TokenStream> {
    let mut cx = Ctxt::default();
    let Data::Enum(data) = &input.data else {
        cx.error(
            &input.ident,
            "BulkEnum is derived for a fieldless enum: each variant is a label of the PostgreSQL enum type",
        );
        return cx.check().map(|()| TokenStream::new());
    };

    let mut schema: Option<LitStr> = None;
    let mut type_name: Option<LitStr> = None;
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("bulk")) {
        let result = attr.parse_nested_meta(|meta| {
            let slot = if meta.path.is_ident("schema") {
                &mut schema
            } else if meta.path.is_ident("type_name") {
                &mut type_name
            } else {
                let name = meta
                    .path
                    .get_ident()
                    .map_or_else(String::new, |i| i.to_string());
                return Err(meta.error(format!(
                    "unknown bulk enum attribute `{name}` (expected `schema` or `type_name`)"
                )));
            };
            let lit: LitStr = meta.value()?.parse()?;
            if slot.is_some() {
                let name = meta
                    .path
                    .get_ident()
                    .map_or_else(String::new, |i| i.to_string());
                cx.error(&meta.path, format!("duplicate bulk attribute `{name}`"));
            } else {
                *slot = Some(lit);
            }
            Ok(())
        });
        if let Err(e) = result {
            cx.push(e);
        }
    }
    for param in input.generics.params.iter() {
        cx.error(param, "BulkEnum can't be derived for a generic enum");
    }
    if data.variants.is_empty() {
        cx.error(
            &input.ident,
            "an enum type needs at least one label: the enum has no variant",
        );
    }

    let (schema_name, type_name_value) = qualified_name(
        &mut cx,
        schema.as_ref(),
        type_name.as_ref(),
        &input.ident,
        "type name",
    );

    let mut variants: Vec<(&syn::Ident, String)> = Vec::new();
    for variant in &data.variants {
        if !matches!(variant.fields, Fields::Unit) {
            cx.error(
                &variant.fields,
                "BulkEnum variants can't hold data: each variant is a label of the enum type",
            );
        }
        let mut rename: Option<LitStr> = None;
        for attr in variant.attrs.iter().filter(|a| a.path().is_ident("bulk")) {
            let result = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("rename") {
                    let lit: LitStr = meta.value()?.parse()?;
                    if rename.is_some() {
                        cx.error(&meta.path, "duplicate bulk attribute `rename`");
                    } else {
                        rename = Some(lit);
                    }
                    Ok(())
                } else {
                    let name = meta
                        .path
                        .get_ident()
                        .map_or_else(String::new, |i| i.to_string());
                    Err(meta.error(format!(
                        "unknown bulk variant attribute `{name}` (expected `rename`)"
                    )))
                }
            });
            if let Err(e) = result {
                cx.push(e);
            }
        }
        let label = rename.as_ref().map_or_else(
            || snake_case(&variant.ident.unraw().to_string()),
            LitStr::value,
        );
        match &rename {
            Some(lit) => check_name(&mut cx, lit, &label, "enum label"),
            None => check_name(&mut cx, &variant.ident, &label, "enum label"),
        }
        if variants.iter().any(|(_, l)| *l == label) {
            let message = format!("two variants are both the label `{label}`");
            match &rename {
                Some(lit) => cx.error(lit, message),
                None => cx.error(&variant.ident, message),
            }
        }
        variants.push((&variant.ident, label));
    }
    cx.check()?;

    let ident = &input.ident;
    let labels = variants.iter().map(|(_, l)| l);
    let arms = variants.iter().map(|(v, l)| quote!(Self::#v => #l));
    Ok(quote! {
        #[doc(hidden)]
        const _: () = {
            #[automatically_derived]
            impl ::pg_bulk_ingest::BulkEnum for #ident {
                const ENUM: &'static ::pg_bulk_ingest::EnumDef = &::pg_bulk_ingest::EnumDef::new(
                    #schema_name,
                    #type_name_value,
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
        };
    })
}
