//! `#[derive(BulkTable)]` code generation: the `BulkTable` impl (table
//! definition as a constant, the serializer writing each field through static
//! dispatch), `AsRow` for `T` and `&T`, `HasPrimaryKey` when there is a key,
//! `HasUniqueKey` and one `ConflictKey` function per unique key,
//! and compile-time checks of `sql_type` and keys, each spanned at the
//! attribute it checks.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::visit_mut::VisitMut;
use syn::{DeriveInput, Lifetime};

use crate::internals::ast::{Container, Fill, Index, PartitionMethod};
use crate::internals::{check, Ctxt};
use crate::{as_row, dummy};

pub fn expand(input: &DeriveInput) -> syn::Result<TokenStream> {
    let cx = Ctxt::default();
    let container = Container::from_ast(&cx, input);
    if let Some(container) = &container {
        check::table(&cx, container);
        check::partition(&cx, container);
    }
    cx.check()?;
    let container = container.expect("no errors means a container");
    Ok(generate(&container))
}

fn generate(cont: &Container<'_>) -> TokenStream {
    let ident = &cont.original.ident;
    let (impl_generics, ty_generics, where_clause) = cont.original.generics.split_for_impl();
    let schema = &cont.schema;
    let table = &cont.table;

    let columns = cont.fields.iter().map(|f| {
        let ty = f.value_ty();
        let name = &f.column;
        let sql_type = match (&f.sql_type, &f.attrs.with, &f.attrs.json) {
            (Some((parsed, _)), _, _) => quote!(#parsed),
            (None, Some(path), _) => {
                quote_spanned!(path_span(path)=> #path::SQL_TYPE)
            }
            (None, None, Some(_)) => {
                quote!(::pg_bulk_ingest::SqlType::new(
                    ::pg_bulk_ingest::TypeKind::Jsonb
                ))
            }
            (None, None, None) => quote!(<#ty as ::pg_bulk_ingest::Encode>::SQL_TYPE),
        };
        // `json` and `with` fields: nullable when written `Option<T>`.
        let nullable = if f.custom() {
            let nullable = f.option_inner.is_some();
            quote!(#nullable)
        } else {
            quote!(<#ty as ::pg_bulk_ingest::Encode>::NULLABLE)
        };
        let default = f
            .attrs
            .default
            .as_ref()
            .map(|lit| quote!(.with_default(#lit)));
        let rename_from = f
            .attrs
            .rename_from
            .as_ref()
            .map(|lit| quote!(.renamed_from(#lit)));
        let filled = f.fill.as_ref().map(|fill| {
            let how = match fill {
                Fill::Identity { by_default: false } => quote!(IdentityAlways),
                Fill::Identity { by_default: true } => quote!(IdentityByDefault),
                Fill::Generated(expr) => quote!(Generated(#expr)),
                Fill::Default => quote!(Default),
            };
            quote!(.filled_by(::pg_bulk_ingest::Filled::#how))
        });
        quote! {
            ::pg_bulk_ingest::ColumnDef::new(
                #name,
                #sql_type,
                #nullable,
            )
            #default
            #rename_from
            #filled
        }
    });
    let key = cont.primary_key().map(|f| &f.column);
    let partition = cont.partition.as_ref().map(|p| {
        let method = match p.method {
            PartitionMethod::Range(unit) => {
                let unit = syn::Ident::new(unit, Span::call_site());
                quote!(Range(::pg_bulk_ingest::PartitionInterval::#unit))
            }
            PartitionMethod::List => quote!(List),
            PartitionMethod::Hash(n) => quote!(Hash(#n)),
        };
        let columns = p.fields.iter().map(|name| {
            &cont
                .field_named(name)
                .expect("checked: the partition key's fields exist")
                .column
        });
        let default = p.default.as_ref().map(|_| quote!(.with_default()));
        quote! {
            .partitioned_by(
                ::pg_bulk_ingest::PartitionDef::new(
                    ::pg_bulk_ingest::PartitionMethod::#method,
                    &[#(#columns),*],
                )
                #default
            )
        }
    });
    let indexes = cont.indexes.iter().map(|index| {
        let columns = index.fields.iter().map(|name| {
            let field = cont.field_named(name);
            &field.expect("checked: an index's fields exist").column
        });
        let unique = index.unique;
        let method = index.method.as_ref().map(|lit| {
            let m = lit.value();
            quote!(.using(#m))
        });
        quote!(::pg_bulk_ingest::IndexDef::new(&[#(#columns),*], #unique) #method)
    });

    // Columns the database fills are never written; their placeholders are
    // touched, so that a `Generated<T>` field nobody reads is not reported as
    // dead code.
    let touches = cont.fields.iter().filter(|f| f.fill.is_some()).map(|f| {
        let member = f.member;
        quote!(let _ = &self.#member;)
    });
    let writes = cont.fields.iter().enumerate().filter(|(_, f)| f.fill.is_none()).map(|(i, f)| {
        let member = f.member;
        if f.custom() {
            // `json`: the `Serialize` bound is reported at the type; `with`:
            // the function's signature at the path.
            let (value, ty) = match f.option_inner {
                Some(inner) => (quote!(::core::option::Option::as_ref(&self.#member)), inner),
                None => (quote!(::core::option::Option::Some(&self.#member)), f.ty),
            };
            let encode = match &f.attrs.with {
                Some(path) => quote_spanned!(path_span(path)=> #path::encode),
                None => {
                    let span = syn::spanned::Spanned::span(ty);
                    quote_spanned!(span=> <#ty as ::pg_bulk_ingest::__private::JsonSerialize>::encode_json)
                }
            };
            return quote_spanned! {f.member.span()=>
                w.field_with(
                    #i,
                    &<Self as ::pg_bulk_ingest::BulkTable>::TABLE.columns[#i].sql_type,
                    #value,
                    #encode,
                )?;
            };
        }
        // The table constant already reports a type without `Encode` at the
        // type; this call's own report of it points at the field's name.
        quote_spanned! {f.member.span()=>
            w.field(
                #i,
                &<Self as ::pg_bulk_ingest::BulkTable>::TABLE.columns[#i].sql_type,
                &self.#member,
            )?;
        }
    });

    let checks = cont.fields.iter().map(|f| {
        let ty = static_lifetimes(f.value_ty());
        let mut out = TokenStream::new();
        if f.custom() {
            // Checked by the derive itself: `json` takes only json/jsonb, and
            // `with` no `sql_type`; a key of either is never an Option.
            return out;
        }
        if let Some((parsed, lit)) = &f.sql_type {
            let kind = syn::Ident::new(parsed.kind, Span::call_site());
            let message = format!(
                "column `{}`: sql_type \"{}\" is not a type `{}` can be written as",
                f.column,
                lit.value(),
                display_type(f.ty)
            );
            out.extend(quote_spanned! {lit.span()=>
                const _: () = ::core::assert!(
                    ::pg_bulk_ingest::__private::accepts(
                        <#ty as ::pg_bulk_ingest::Encode>::ACCEPTS,
                        ::pg_bulk_ingest::TypeKind::#kind,
                    ),
                    "{}",
                    #message,
                );
            });
            let array = parsed.array;
            let message = if array {
                format!(
                    "column `{}`: sql_type \"{}\" is an array type, but `{}` is not an array (use a `Vec<T>`)",
                    f.column,
                    lit.value(),
                    display_type(f.ty)
                )
            } else {
                format!(
                    "column `{}`: sql_type \"{}\" is not an array type, but `{}` is written as an array (add `[]`)",
                    f.column,
                    lit.value(),
                    display_type(f.ty)
                )
            };
            out.extend(quote_spanned! {lit.span()=>
                const _: () = ::core::assert!(
                    <#ty as ::pg_bulk_ingest::Encode>::ARRAY == #array,
                    "{}",
                    #message,
                );
            });
        } else {
            // Evaluated for its own check: an array of arrays is an error.
            let span = syn::spanned::Spanned::span(f.ty);
            out.extend(quote_spanned! {span=>
                const _: bool = <#ty as ::pg_bulk_ingest::Encode>::ARRAY;
            });
        }
        if let Some(path) = &f.attrs.primary_key {
            let message = format!(
                "column `{}`: a primary-key column can't be NULL, so its field can't be an Option",
                f.column
            );
            out.extend(quote_spanned! {path_span(path)=>
                const _: () = ::core::assert!(
                    !<#ty as ::pg_bulk_ingest::Encode>::NULLABLE,
                    "{}",
                    #message,
                );
            });
        }
        out
    });

    // A key the database fills can't match input rows: it is no conflict
    // key (an identity primary key is upserted through a unique key).
    let sent = |name: &syn::Ident| cont.field_named(name).is_some_and(|f| f.fill.is_none());
    let sendable_key =
        cont.primary_key().next().is_some() && cont.primary_key().all(|f| f.fill.is_none());
    let has_key = sendable_key.then(|| {
        quote! {
            #[automatically_derived]
            impl #impl_generics ::pg_bulk_ingest::HasPrimaryKey for #ident #ty_generics #where_clause {}
        }
    });
    let unique_keys: Vec<&Index> = cont
        .indexes
        .iter()
        .filter(|i| i.conflict_key() && i.fields.iter().all(sent))
        .collect();
    let has_unique_key = (has_key.is_some() || !unique_keys.is_empty()).then(|| {
        quote! {
            #[automatically_derived]
            impl #impl_generics ::pg_bulk_ingest::HasUniqueKey for #ident #ty_generics #where_clause {}
        }
    });
    let vis = &cont.original.vis;
    let key_functions = unique_keys.iter().map(|index| {
        let function = index.function();
        let columns = index.fields.iter().map(|name| {
            &cont
                .field_named(name)
                .expect("checked: an index's fields exist")
                .column
        });
        let doc = format!(
            "The unique key ({}): rows of an upsert given it \
             ([`Ingest::conflict_key`](::pg_bulk_ingest::Ingest::conflict_key)) match on it.",
            index.names().join(", ")
        );
        quote! {
            #[doc = #doc]
            #[allow(dead_code, clippy::self_named_constructors)]
            #vis fn #function() -> ::pg_bulk_ingest::ConflictKey<Self> {
                ::pg_bulk_ingest::ConflictKey::__new(&[#(#columns),*])
            }
        }
    });
    let key_functions = (!unique_keys.is_empty()).then(|| {
        quote! {
            #[automatically_derived]
            impl #impl_generics #ident #ty_generics #where_clause {
                #(#key_functions)*
            }
        }
    });

    let as_row = as_row::impls(cont.original);

    dummy::wrap_in_const(quote! {
        #[automatically_derived]
        impl #impl_generics ::pg_bulk_ingest::BulkTable for #ident #ty_generics #where_clause {
            const TABLE: ::pg_bulk_ingest::TableDef = ::pg_bulk_ingest::TableDef::new(
                #schema,
                #table,
                &[#(#columns),*],
                &[#(#key),*],
            )
            .with_indexes(&[#(#indexes),*])
            #partition;

            #[inline]
            fn write_fields(
                &self,
                w: &mut ::pg_bulk_ingest::RowWriter<'_>,
            ) -> ::core::result::Result<(), ::pg_bulk_ingest::FieldError> {
                #(#touches)*
                #(#writes)*
                ::core::result::Result::Ok(())
            }
        }

        #as_row

        #has_key

        #has_unique_key

        #key_functions

        #(#checks)*
    })
}

/// The type as the user wrote it, with rustfmt-like spacing.
fn display_type(ty: &syn::Type) -> String {
    quote!(#ty)
        .to_string()
        .replace(" < ", "<")
        .replace(" >", ">")
        .replace("& ", "&")
        .replace(" :: ", "::")
        .replace(" ,", ",")
}

fn path_span(path: &syn::Path) -> Span {
    syn::spanned::Spanned::span(path)
}

/// The type with every lifetime replaced by `'static`, for checks that live
/// outside the impl (where the struct's lifetimes are not in scope).
fn static_lifetimes(ty: &syn::Type) -> syn::Type {
    struct Static;
    impl VisitMut for Static {
        fn visit_lifetime_mut(&mut self, lifetime: &mut Lifetime) {
            *lifetime = Lifetime::new("'static", lifetime.span());
        }
        fn visit_type_reference_mut(&mut self, r: &mut syn::TypeReference) {
            if r.lifetime.is_none() {
                r.lifetime = Some(Lifetime::new("'static", Span::call_site()));
            }
            syn::visit_mut::visit_type_reference_mut(self, r);
        }
    }
    let mut ty = ty.clone();
    Static.visit_type_mut(&mut ty);
    ty
}
