//! The `#[bulk(...)]` attribute grammar and the model it produces: a container
//! with its fields, each keeping the syntax it came from for error spans.

use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields, LitStr};

use crate::ctxt::Ctxt;
use crate::sql_type::{self, SqlType};

/// PostgreSQL's identifier limit (NAMEDATALEN - 1), in bytes.
const MAX_IDENT: usize = 63;

pub struct Container<'a> {
    pub input: &'a DeriveInput,
    pub schema: String,
    pub table: String,
    pub fields: Vec<Field<'a>>,
    /// Indexes: from struct attributes `index(...)`/`unique(...)` and field
    /// attributes `index`/`unique`, in that order.
    pub indexes: Vec<Index>,
}

/// An index the definition declares.
pub struct Index {
    /// Column names.
    pub columns: Vec<String>,
    pub unique: bool,
    /// `using = "gin"`, checked to be a plain name.
    pub method: Option<String>,
}

/// A struct-level `index(a, b, using = "gin")` before its field names are
/// resolved to columns.
struct IndexAttr {
    fields: Vec<syn::Ident>,
    unique: bool,
    method: Option<LitStr>,
}

pub struct Field<'a> {
    pub member: &'a syn::Ident,
    pub ty: &'a syn::Type,
    pub column: String,
    /// The `sql_type` attribute, parsed, with its literal for spans.
    pub sql_type: Option<(SqlType, LitStr)>,
    /// The `primary_key` path, for spans.
    pub primary_key: Option<syn::Path>,
    /// `index` / `unique` on the field.
    pub index: Option<syn::Path>,
    pub unique: Option<syn::Path>,
    /// `default = "<sql expression>"`.
    pub default: Option<LitStr>,
    /// `rename_from = "old"`.
    pub rename_from: Option<LitStr>,
    /// `json`: written with `serde_json` as `jsonb` (or `json`).
    pub json: Option<syn::Path>,
    /// `with = path`: written by `path::encode`, typed `path::SQL_TYPE`.
    pub with: Option<syn::Path>,
    /// `T` when the field's type is written `Option<T>`: for `json` and
    /// `with` fields, `None` is NULL and the column nullable.
    pub option_inner: Option<&'a syn::Type>,
}

impl Field<'_> {
    /// Whether the field is written by the derive's own means (`json`,
    /// `with`) rather than through its type's `Encode` implementation.
    pub fn custom(&self) -> bool {
        self.json.is_some() || self.with.is_some()
    }
}

/// Sets `slot` once; a second value is a "duplicate attribute" error.
fn set_once<T>(cx: &mut Ctxt, slot: &mut Option<T>, value: T, path: &syn::Path, name: &str) {
    if slot.is_some() {
        cx.error(path, format!("duplicate bulk attribute `{name}`"));
    } else {
        *slot = Some(value);
    }
}

impl<'a> Container<'a> {
    pub fn from_ast(cx: &mut Ctxt, input: &'a DeriveInput) -> Option<Container<'a>> {
        let mut schema: Option<LitStr> = None;
        let mut table: Option<LitStr> = None;
        let mut index_attrs: Vec<IndexAttr> = Vec::new();
        for attr in input.attrs.iter().filter(|a| a.path().is_ident("bulk")) {
            let result = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("schema") {
                    let lit: LitStr = meta.value()?.parse()?;
                    set_once(cx, &mut schema, lit, &meta.path, "schema");
                } else if meta.path.is_ident("table") {
                    let lit: LitStr = meta.value()?.parse()?;
                    set_once(cx, &mut table, lit, &meta.path, "table");
                } else if meta.path.is_ident("index") || meta.path.is_ident("unique") {
                    let mut index = IndexAttr {
                        fields: Vec::new(),
                        unique: meta.path.is_ident("unique"),
                        method: None,
                    };
                    meta.parse_nested_meta(|inner| {
                        if inner.path.is_ident("using") {
                            let lit: LitStr = inner.value()?.parse()?;
                            if index.method.replace(lit).is_some() {
                                return Err(inner.error("duplicate `using`"));
                            }
                        } else if let Some(ident) = inner.path.get_ident() {
                            index.fields.push(ident.clone());
                        } else {
                            return Err(inner.error("expected a field name or `using = \"...\"`"));
                        }
                        Ok(())
                    })?;
                    if index.fields.is_empty() {
                        return Err(meta.error("an index needs at least one field: `index(a, b)`"));
                    }
                    index_attrs.push(index);
                } else {
                    let name = meta
                        .path
                        .get_ident()
                        .map_or_else(String::new, |i| i.to_string());
                    return Err(meta.error(format!(
                        "unknown bulk struct attribute `{name}` (expected `schema`, `table`, `index(...)` or `unique(...)`)"
                    )));
                }
                Ok(())
            });
            if let Err(e) = result {
                cx.push(e);
            }
        }

        let fields = match &input.data {
            Data::Struct(data) => match &data.fields {
                Fields::Named(named) => &named.named,
                Fields::Unnamed(_) | Fields::Unit => {
                    cx.error(
                        &input.ident,
                        "BulkTable needs a struct with named fields: each field is a column",
                    );
                    return None;
                }
            },
            Data::Enum(e) => {
                cx.error(
                    e.enum_token,
                    "BulkTable can't be derived for an enum: derive it for a struct with named fields",
                );
                return None;
            }
            Data::Union(u) => {
                cx.error(
                    u.union_token,
                    "BulkTable can't be derived for a union: derive it for a struct with named fields",
                );
                return None;
            }
        };
        for param in input.generics.type_params() {
            cx.error(
                param,
                "BulkTable can't be derived for a generic struct: every column needs a concrete type",
            );
        }
        for param in input.generics.const_params() {
            cx.error(
                param,
                "BulkTable can't be derived for a struct with const generics",
            );
        }
        if fields.is_empty() {
            cx.error(&input.ident, "a table needs at least one column");
        }

        let (schema_name, table_name) = qualified_name(
            cx,
            schema.as_ref(),
            table.as_ref(),
            &input.ident,
            "table name",
        );

        let fields: Vec<Field<'a>> = fields.iter().map(|f| Field::from_ast(cx, f)).collect();
        for (i, field) in fields.iter().enumerate() {
            if fields[..i].iter().any(|f| f.column == field.column) {
                cx.error(
                    field.member,
                    format!("two fields are both column `{}`", field.column),
                );
            }
        }
        let mut indexes = Vec::new();
        for attr in &index_attrs {
            let mut columns = Vec::new();
            for name in &attr.fields {
                match fields.iter().find(|f| f.member.unraw() == name.unraw()) {
                    Some(f) => columns.push(f.column.clone()),
                    None => cx.error(name, format!("no field `{name}` to index")),
                }
            }
            let method = attr.method.as_ref().map(|lit| {
                let m = lit.value();
                if m.is_empty()
                    || !m
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
                {
                    cx.error(
                        lit,
                        "an index method is a plain name such as \"btree\", \"gin\" or \"gist\"",
                    );
                }
                m
            });
            indexes.push(Index {
                columns,
                unique: attr.unique,
                method,
            });
        }
        for f in &fields {
            for (flag, unique) in [(&f.index, false), (&f.unique, true)] {
                if flag.is_some() {
                    indexes.push(Index {
                        columns: vec![f.column.clone()],
                        unique,
                        method: None,
                    });
                }
            }
        }
        Some(Container {
            input,
            schema: schema_name,
            table: table_name,
            fields,
            indexes,
        })
    }

    pub fn primary_key(&self) -> impl Iterator<Item = &Field<'a>> {
        self.fields.iter().filter(|f| f.primary_key.is_some())
    }
}

impl<'a> Field<'a> {
    fn from_ast(cx: &mut Ctxt, field: &'a syn::Field) -> Field<'a> {
        let member = field.ident.as_ref().expect("named field");
        let mut rename: Option<LitStr> = None;
        let mut sql_type: Option<LitStr> = None;
        let mut primary_key: Option<syn::Path> = None;
        let mut index: Option<syn::Path> = None;
        let mut unique: Option<syn::Path> = None;
        let mut default: Option<LitStr> = None;
        let mut rename_from: Option<LitStr> = None;
        let mut json: Option<syn::Path> = None;
        let mut with: Option<syn::Path> = None;
        // Every attribute with its span, in the order written: of two that
        // conflict, the second is the error.
        let mut order: Vec<(String, Span)> = Vec::new();
        for attr in field.attrs.iter().filter(|a| a.path().is_ident("bulk")) {
            let result = attr.parse_nested_meta(|meta| {
                if let Some(ident) = meta.path.get_ident() {
                    order.push((ident.to_string(), meta.path.span()));
                }
                let flags: [(&str, &mut Option<syn::Path>); 4] = [
                    ("primary_key", &mut primary_key),
                    ("index", &mut index),
                    ("unique", &mut unique),
                    ("json", &mut json),
                ];
                for (name, slot) in flags {
                    if meta.path.is_ident(name) {
                        if !meta.input.is_empty() && !meta.input.peek(syn::Token![,]) {
                            return Err(meta.error(format!(
                                "`{name}` takes no value: write `#[bulk({name})]`"
                            )));
                        }
                        set_once(cx, slot, meta.path.clone(), &meta.path, name);
                        return Ok(());
                    }
                }
                if meta.path.is_ident("default") {
                    let lit: LitStr = meta.value()?.parse()?;
                    set_once(cx, &mut default, lit, &meta.path, "default");
                } else if meta.path.is_ident("rename_from") {
                    let lit: LitStr = meta.value()?.parse()?;
                    set_once(cx, &mut rename_from, lit, &meta.path, "rename_from");
                } else if meta.path.is_ident("rename") {
                    let lit: LitStr = meta.value()?.parse()?;
                    set_once(cx, &mut rename, lit, &meta.path, "rename");
                } else if meta.path.is_ident("sql_type") {
                    let lit: LitStr = meta.value()?.parse()?;
                    set_once(cx, &mut sql_type, lit, &meta.path, "sql_type");
                } else if meta.path.is_ident("with") {
                    let value = meta.value()?;
                    // `with = path` or `with = "path"`.
                    let path: syn::Path = if value.peek(LitStr) {
                        value.parse::<LitStr>()?.parse()?
                    } else {
                        value.parse()?
                    };
                    set_once(cx, &mut with, path, &meta.path, "with");
                } else {
                    let name = meta.path.get_ident().map_or_else(String::new, |i| i.to_string());
                    return Err(meta.error(format!(
                        "unknown bulk field attribute `{name}` (expected `primary_key`, `rename`, `sql_type`, `json`, `with`, `index`, `unique`, `default` or `rename_from`)"
                    )));
                }
                Ok(())
            });
            if let Err(e) = result {
                cx.push(e);
            }
        }
        let column = rename
            .as_ref()
            .map_or_else(|| member.unraw().to_string(), LitStr::value);
        match &rename {
            Some(lit) => check_name(cx, lit, &column, "column name"),
            None => check_name(cx, member, &column, "column name"),
        }
        let sql_type = sql_type.and_then(|lit| match sql_type::parse(&lit.value()) {
            Ok(parsed) => Some((parsed, lit)),
            Err(message) => {
                cx.error(&lit, message);
                None
            }
        });
        if let Some(lit) = &rename_from {
            check_name(cx, lit, &lit.value(), "rename_from column name");
        }
        if let Some(lit) = &default {
            let expr = lit.value();
            if expr.trim().is_empty()
                || expr.contains(';')
                || expr.contains("--")
                || expr.contains("/*")
            {
                cx.error(
                    lit,
                    "`default` is one SQL expression, e.g. \"0\" or \"now()\"",
                );
            }
        }
        let option_inner = option_inner(&field.ty);
        // Conflicts, reported at the second of the two attributes.
        let second = |a: &str, b: &str| -> Option<Span> {
            let first_of = |name: &str| order.iter().position(|(n, _)| n == name);
            let (i, j) = (first_of(a)?, first_of(b)?);
            Some(order[i.max(j)].1)
        };
        let mut conflict = |a: &str, b: &str, message: &str| {
            if let Some(span) = second(a, b) {
                cx.push(syn::Error::new(span, message));
            }
        };
        conflict(
            "json",
            "with",
            "`json` and `with` both say how the field is written: use one of them",
        );
        conflict(
            "json",
            "primary_key",
            "a `json` field can't be (part of) the primary key: json has no equality, and a jsonb key is rarely what you want",
        );
        conflict(
            "with",
            "sql_type",
            "a `with` field's column type is `path::SQL_TYPE`: set it there instead of `sql_type`",
        );
        if let (Some(_), Some((parsed, _))) = (&json, &sql_type) {
            if !matches!(parsed.kind, "Json" | "Jsonb") || parsed.array {
                conflict(
                    "json",
                    "sql_type",
                    "a `json` field is written as `jsonb` (the default) or `json`: `sql_type` can only be one of them",
                );
            }
        }
        if let (Some(path), Some(_)) = (&primary_key, option_inner) {
            if json.is_none() && with.is_some() {
                cx.error(
                    path,
                    format!(
                        "column `{column}`: a primary-key column can't be NULL, so its field can't be an Option"
                    ),
                );
            }
        }
        Field {
            member,
            ty: &field.ty,
            column,
            sql_type,
            primary_key,
            index,
            unique,
            default,
            rename_from,
            json,
            with,
            option_inner,
        }
    }
}

/// `T` of a type written `Option<T>` (also `std::option::Option<T>`).
fn option_inner(ty: &syn::Type) -> Option<&syn::Type> {
    match ty {
        syn::Type::Group(g) => option_inner(&g.elem),
        syn::Type::Paren(p) => option_inner(&p.elem),
        syn::Type::Path(p) if p.qself.is_none() => {
            let segment = p.path.segments.last()?;
            if segment.ident != "Option" {
                return None;
            }
            let syn::PathArguments::AngleBracketed(args) = &segment.arguments else {
                return None;
            };
            match args.args.iter().collect::<Vec<_>>()[..] {
                [syn::GenericArgument::Type(inner)] => Some(inner),
                _ => None,
            }
        }
        _ => None,
    }
}

/// Checks a name PostgreSQL will be given: `what` says what it is (`"table name"`).
pub fn check_name(cx: &mut Ctxt, span: impl quote::ToTokens, name: &str, what: &str) {
    if name.is_empty() {
        cx.error(span, format!("the {what} is empty"));
    } else if name.len() > MAX_IDENT {
        cx.error(
            span,
            format!(
                "the {what} `{name}` is {} bytes long; PostgreSQL's limit is {MAX_IDENT}",
                name.len()
            ),
        );
    } else if name.contains('\0') {
        cx.error(span, format!("the {what} contains a NUL character"));
    }
}

/// The `(schema, name)` of a table or type: the attributes' values, else
/// `public` and the Rust name in snake_case; each checked as a name.
pub fn qualified_name(
    cx: &mut Ctxt,
    schema: Option<&LitStr>,
    name: Option<&LitStr>,
    ident: &syn::Ident,
    what: &str,
) -> (String, String) {
    let schema_name = schema.map_or_else(|| "public".to_owned(), LitStr::value);
    let name_value = name.map_or_else(|| snake_case(&ident.unraw().to_string()), LitStr::value);
    if let Some(lit) = schema {
        check_name(cx, lit, &schema_name, "schema name");
    }
    match name {
        Some(lit) => check_name(cx, lit, &name_value, what),
        None => check_name(cx, ident, &name_value, what),
    }
    (schema_name, name_value)
}

/// `OrderLine` → `order_line`, `HTTPRequest` → `http_request`.
pub fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() {
            let prev = i.checked_sub(1).map(|p| chars[p]);
            let next = chars.get(i + 1);
            let boundary = match prev {
                None | Some('_') => false,
                Some(p) if p.is_lowercase() || p.is_ascii_digit() => true,
                Some(p) => p.is_uppercase() && next.is_some_and(|n| n.is_lowercase()),
            };
            if boundary {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::snake_case;

    #[test]
    fn snake_cases() {
        assert_eq!(snake_case("Order"), "order");
        assert_eq!(snake_case("OrderLine"), "order_line");
        assert_eq!(snake_case("HTTPRequest"), "http_request");
        assert_eq!(snake_case("Sale2024Row"), "sale2024_row");
        assert_eq!(snake_case("already_snake"), "already_snake");
    }
}
