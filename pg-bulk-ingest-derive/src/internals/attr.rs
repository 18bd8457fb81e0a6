//! The `#[bulk(...)]` attribute grammar, for every place it is written: on a
//! `BulkTable` struct and its fields, on a `BulkEnum` enum and its variants
//! (and nowhere on a `BulkRows` enum). Grammar only: each value as written,
//! with its syntax for spans; what the values mean is [`ast`]'s, how they
//! combine is [`check`]'s.
//!
//! [`ast`]: super::ast
//! [`check`]: super::check

use proc_macro2::Span;
use syn::meta::ParseNestedMeta;
use syn::spanned::Spanned;
use syn::{Attribute, LitStr, Token};

use super::ctxt::Ctxt;

/// The one attribute namespace of the three derives.
const BULK: &str = "bulk";

/// The `#[bulk(...)]` attributes among `attrs`.
fn bulk_attrs(attrs: &[Attribute]) -> impl Iterator<Item = &Attribute> {
    attrs.iter().filter(|a| a.path().is_ident(BULK))
}

/// Where a `#[bulk(...)]` attribute is written; each place has its own words.
#[derive(Clone, Copy)]
enum Place {
    Struct,
    Field,
    Enum,
    Variant,
}

impl Place {
    fn noun(self) -> &'static str {
        match self {
            Place::Struct => "struct",
            Place::Field => "field",
            Place::Enum => "enum",
            Place::Variant => "variant",
        }
    }

    /// The words the place takes, as the "unknown attribute" error lists them.
    fn words(self) -> &'static [&'static str] {
        match self {
            Place::Struct => &[
                "schema",
                "table",
                "index(...)",
                "unique(...)",
                "partition_by",
                "partition_interval",
                "partitions",
                "default_partition",
            ],
            Place::Field => &[
                "primary_key",
                "rename",
                "sql_type",
                "json",
                "with",
                "index",
                "unique",
                "default",
                "rename_from",
                "identity",
                "generated",
                "db_fills",
            ],
            Place::Enum => &["schema", "type_name"],
            Place::Variant => &["rename"],
        }
    }
}

/// Runs `item` on each item of each `#[bulk(...)]` attribute in `attrs`; an
/// item's error is recorded and ends its attribute (the next one is still read).
fn parse_each(
    cx: &Ctxt,
    attrs: &[Attribute],
    mut item: impl FnMut(&ParseNestedMeta) -> syn::Result<()>,
) {
    for attr in bulk_attrs(attrs) {
        if let Err(e) = attr.parse_nested_meta(|meta| item(&meta)) {
            cx.push(e);
        }
    }
}

/// "unknown bulk field attribute `x` (expected `a`, `b` or `c`)", at the word.
fn unknown(meta: &ParseNestedMeta, place: Place) -> syn::Error {
    let name = meta
        .path
        .get_ident()
        .map_or_else(String::new, |i| i.to_string());
    let words: Vec<String> = place.words().iter().map(|w| format!("`{w}`")).collect();
    let expected = match words.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, init)) => format!("{} or {last}", init.join(", ")),
        None => String::new(),
    };
    meta.error(format!(
        "unknown bulk {} attribute `{name}` (expected {expected})",
        place.noun()
    ))
}

/// An attribute that is given at most once: a second one is a "duplicate
/// attribute" error at the second, and the first value stays.
struct Attr<'c, T> {
    cx: &'c Ctxt,
    name: &'static str,
    value: Option<T>,
}

impl<'c, T> Attr<'c, T> {
    fn none(cx: &'c Ctxt, name: &'static str) -> Self {
        Attr {
            cx,
            name,
            value: None,
        }
    }

    fn set(&mut self, path: &syn::Path, value: T) {
        if self.value.is_some() {
            self.cx
                .error(path, format!("duplicate bulk attribute `{}`", self.name));
        } else {
            self.value = Some(value);
        }
    }

    fn get(self) -> Option<T> {
        self.value
    }
}

impl Attr<'_, LitStr> {
    /// `name = "..."`: the string is read first, then set.
    fn set_string(&mut self, meta: &ParseNestedMeta) -> syn::Result<()> {
        let lit: LitStr = meta.value()?.parse()?;
        self.set(&meta.path, lit);
        Ok(())
    }
}

impl Attr<'_, syn::Path> {
    /// A flag such as `primary_key`, written without a value; its path is
    /// kept for spans.
    fn set_flag(&mut self, meta: &ParseNestedMeta) -> syn::Result<()> {
        if !meta.input.is_empty() && !meta.input.peek(Token![,]) {
            let name = self.name;
            return Err(meta.error(format!("`{name}` takes no value: write `#[bulk({name})]`")));
        }
        self.set(&meta.path, meta.path.clone());
        Ok(())
    }
}

/// The attributes of a `BulkTable` struct.
pub struct Container {
    /// `schema = "..."`.
    pub schema: Option<LitStr>,
    /// `table = "..."`.
    pub table: Option<LitStr>,
    /// `index(a, b, using = "gin")` and `unique(...)`, in the order written.
    pub indexes: Vec<IndexAttr>,
    /// `partition_by = "range (day)"`, not yet parsed.
    pub partition_by: Option<LitStr>,
    /// `partition_interval = "month"`.
    pub partition_interval: Option<LitStr>,
    /// `partitions = 8` (hash).
    pub partitions: Option<syn::LitInt>,
    /// `default_partition`.
    pub default_partition: Option<syn::Path>,
}

/// A struct-level `index(a, b, using = "gin")` or `unique(...)`.
pub struct IndexAttr {
    /// The field names, as written.
    pub fields: Vec<syn::Ident>,
    pub unique: bool,
    /// `using = "..."`.
    pub method: Option<LitStr>,
}

impl Container {
    pub fn from_ast(cx: &Ctxt, attrs: &[Attribute]) -> Container {
        let mut schema = Attr::none(cx, "schema");
        let mut table = Attr::none(cx, "table");
        let mut indexes = Vec::new();
        let mut partition_by = Attr::none(cx, "partition_by");
        let mut partition_interval = Attr::none(cx, "partition_interval");
        let mut partitions = Attr::none(cx, "partitions");
        let mut default_partition = Attr::none(cx, "default_partition");
        parse_each(cx, attrs, |meta| {
            if meta.path.is_ident("schema") {
                schema.set_string(meta)?;
            } else if meta.path.is_ident("table") {
                table.set_string(meta)?;
            } else if meta.path.is_ident("partition_by") {
                partition_by.set_string(meta)?;
            } else if meta.path.is_ident("partition_interval") {
                partition_interval.set_string(meta)?;
            } else if meta.path.is_ident("partitions") {
                let lit: syn::LitInt = meta.value()?.parse()?;
                partitions.set(&meta.path, lit);
            } else if meta.path.is_ident("default_partition") {
                default_partition.set_flag(meta)?;
            } else if meta.path.is_ident("index") || meta.path.is_ident("unique") {
                indexes.push(IndexAttr::parse(meta)?);
            } else {
                return Err(unknown(meta, Place::Struct));
            }
            Ok(())
        });
        Container {
            schema: schema.get(),
            table: table.get(),
            indexes,
            partition_by: partition_by.get(),
            partition_interval: partition_interval.get(),
            partitions: partitions.get(),
            default_partition: default_partition.get(),
        }
    }
}

impl IndexAttr {
    fn parse(meta: &ParseNestedMeta) -> syn::Result<IndexAttr> {
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
        Ok(index)
    }
}

/// The attributes of a `BulkTable` field.
pub struct Field {
    /// `rename = "..."`: the column name.
    pub rename: Option<LitStr>,
    /// `sql_type = "..."`, not yet parsed.
    pub sql_type: Option<LitStr>,
    /// The flags, each with its path for spans.
    pub primary_key: Option<syn::Path>,
    pub index: Option<syn::Path>,
    pub unique: Option<syn::Path>,
    pub json: Option<syn::Path>,
    /// `default = "<sql expression>"`.
    pub default: Option<LitStr>,
    /// `rename_from = "old"`.
    pub rename_from: Option<LitStr>,
    /// `with = path` or `with = "path"`.
    pub with: Option<syn::Path>,
    /// `identity` (`ALWAYS`), or `identity = "always"` / `"by default"`:
    /// the path, and whether it is `BY DEFAULT`.
    pub identity: Option<(syn::Path, bool)>,
    /// `generated = "<sql expression>"`.
    pub generated: Option<LitStr>,
    /// `db_fills`: the column's `default` fills every new row.
    pub db_fills: Option<syn::Path>,
    /// Every word written, valid or not, with its span, in the order written:
    /// of two attributes that conflict, the second is the error.
    pub written: Vec<(String, Span)>,
}

impl Field {
    pub fn from_ast(cx: &Ctxt, attrs: &[Attribute]) -> Field {
        let mut rename = Attr::none(cx, "rename");
        let mut sql_type = Attr::none(cx, "sql_type");
        let mut primary_key = Attr::none(cx, "primary_key");
        let mut index = Attr::none(cx, "index");
        let mut unique = Attr::none(cx, "unique");
        let mut json = Attr::none(cx, "json");
        let mut default = Attr::none(cx, "default");
        let mut rename_from = Attr::none(cx, "rename_from");
        let mut with = Attr::none(cx, "with");
        let mut identity = Attr::none(cx, "identity");
        let mut generated = Attr::none(cx, "generated");
        let mut db_fills = Attr::none(cx, "db_fills");
        let mut written = Vec::new();
        parse_each(cx, attrs, |meta| {
            if let Some(ident) = meta.path.get_ident() {
                written.push((ident.to_string(), meta.path.span()));
            }
            for flag in [
                &mut primary_key,
                &mut index,
                &mut unique,
                &mut json,
                &mut db_fills,
            ] {
                if meta.path.is_ident(flag.name) {
                    return flag.set_flag(meta);
                }
            }
            if meta.path.is_ident("identity") {
                let by_default = if meta.input.is_empty() || meta.input.peek(Token![,]) {
                    false
                } else {
                    let lit: LitStr = meta.value()?.parse()?;
                    match lit.value().as_str() {
                        "always" => false,
                        "by default" => true,
                        _ => {
                            return Err(syn::Error::new(
                                lit.span(),
                                "`identity` is \"always\" (the default) or \"by default\"",
                            ))
                        }
                    }
                };
                identity.set(&meta.path, (meta.path.clone(), by_default));
            } else if meta.path.is_ident("generated") {
                generated.set_string(meta)?;
            } else if meta.path.is_ident("default") {
                default.set_string(meta)?;
            } else if meta.path.is_ident("rename_from") {
                rename_from.set_string(meta)?;
            } else if meta.path.is_ident("rename") {
                rename.set_string(meta)?;
            } else if meta.path.is_ident("sql_type") {
                sql_type.set_string(meta)?;
            } else if meta.path.is_ident("with") {
                let value = meta.value()?;
                let path: syn::Path = if value.peek(LitStr) {
                    value.parse::<LitStr>()?.parse()?
                } else {
                    value.parse()?
                };
                with.set(&meta.path, path);
            } else {
                return Err(unknown(meta, Place::Field));
            }
            Ok(())
        });
        Field {
            rename: rename.get(),
            sql_type: sql_type.get(),
            primary_key: primary_key.get(),
            index: index.get(),
            unique: unique.get(),
            json: json.get(),
            default: default.get(),
            rename_from: rename_from.get(),
            with: with.get(),
            identity: identity.get(),
            generated: generated.get(),
            db_fills: db_fills.get(),
            written,
        }
    }
}

/// The attributes of a `BulkEnum` enum.
pub struct Enum {
    /// `schema = "..."`.
    pub schema: Option<LitStr>,
    /// `type_name = "..."`.
    pub type_name: Option<LitStr>,
}

impl Enum {
    pub fn from_ast(cx: &Ctxt, attrs: &[Attribute]) -> Enum {
        let mut schema = Attr::none(cx, "schema");
        let mut type_name = Attr::none(cx, "type_name");
        parse_each(cx, attrs, |meta| {
            if meta.path.is_ident("schema") {
                schema.set_string(meta)
            } else if meta.path.is_ident("type_name") {
                type_name.set_string(meta)
            } else {
                Err(unknown(meta, Place::Enum))
            }
        });
        Enum {
            schema: schema.get(),
            type_name: type_name.get(),
        }
    }
}

/// The attributes of a `BulkEnum` variant.
pub struct Variant {
    /// `rename = "..."`: the label.
    pub rename: Option<LitStr>,
}

impl Variant {
    pub fn from_ast(cx: &Ctxt, attrs: &[Attribute]) -> Variant {
        let mut rename = Attr::none(cx, "rename");
        parse_each(cx, attrs, |meta| {
            if meta.path.is_ident("rename") {
                rename.set_string(meta)
            } else {
                Err(unknown(meta, Place::Variant))
            }
        });
        Variant {
            rename: rename.get(),
        }
    }
}

/// A `BulkRows` enum takes no `#[bulk(...)]` attribute: each one is an error.
pub fn none_on_rows(cx: &Ctxt, attrs: &[Attribute]) {
    for attr in bulk_attrs(attrs) {
        cx.error(attr, "BulkRows takes no `bulk` attributes");
    }
}
