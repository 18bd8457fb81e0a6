//! The model each derive generates code from: a `BulkTable` [`Container`] with
//! its [`Field`]s and [`Index`]es, a `BulkEnum` [`Enum`] with its
//! [`Variant`]s, a `BulkRows` [`Rows`] enum. Each keeps the syntax it came
//! from, for spans. Building it reports the input shapes a derive does not
//! take and the values that mean nothing (a name PostgreSQL would refuse, an
//! unknown `sql_type`); each element is then handed to [`check`] as soon as it
//! is built, so that the errors come in the order of the source.

use syn::ext::IdentExt;
use syn::{Data, DeriveInput, Fields, LitStr};

use super::attr;
use super::check;
use super::ctxt::Ctxt;
use super::name;
use super::sql_type::{self, SqlType};

/// A `BulkTable` struct: one table.
pub struct Container<'a> {
    pub original: &'a DeriveInput,
    pub schema: String,
    pub table: String,
    /// The columns, in order.
    pub fields: Vec<Field<'a>>,
    /// Indexes: from struct attributes `index(...)`/`unique(...)` and field
    /// attributes `index`/`unique`, in that order.
    pub indexes: Vec<Index>,
    /// `partition_by = "..."` and its companions, parsed.
    pub partition: Option<Partition>,
}

/// A partitioned table: `partition_by = "range (day)"` with
/// `partition_interval`, `"list (region)"`, or `"hash (tenant)"` with
/// `partitions = n`; and `default_partition`.
pub struct Partition {
    pub method: PartitionMethod,
    /// The key's fields as written (checked to exist by [`check::table`]),
    /// spanned at the `partition_by` literal.
    pub fields: Vec<syn::Ident>,
    /// The `partition_by` literal, for spans.
    pub lit: LitStr,
    /// `default_partition`, when written.
    pub default: Option<syn::Path>,
}

/// The method of a [`Partition`], with how its partitions are cut.
pub enum PartitionMethod {
    /// The interval's name: `Day`, `Week`, `Month` or `Year`.
    Range(&'static str),
    List,
    /// The number of partitions.
    Hash(u32),
}

/// Parses the partitioning attributes; errors go into `cx`.
fn partition(cx: &Ctxt, attrs: &attr::Container) -> Option<Partition> {
    let Some(lit) = &attrs.partition_by else {
        for (tokens, name) in [
            (
                attrs
                    .partition_interval
                    .as_ref()
                    .map(|l| l as &dyn quote::ToTokens),
                "partition_interval",
            ),
            (
                attrs.partitions.as_ref().map(|l| l as &dyn quote::ToTokens),
                "partitions",
            ),
            (
                attrs
                    .default_partition
                    .as_ref()
                    .map(|l| l as &dyn quote::ToTokens),
                "default_partition",
            ),
        ] {
            if let Some(tokens) = tokens {
                cx.error(
                    tokens,
                    format!("`{name}` is for a partitioned table: add `partition_by = \"...\"`"),
                );
            }
        }
        return None;
    };
    let parsed = lit.parse_with(|input: syn::parse::ParseStream| {
        let method = syn::Ident::parse_any(input)?;
        let content;
        syn::parenthesized!(content in input);
        let fields =
            syn::punctuated::Punctuated::<syn::Ident, syn::Token![,]>::parse_terminated_with(
                &content,
                syn::Ident::parse_any,
            )?;
        Ok((method, fields.into_iter().collect::<Vec<_>>()))
    });
    let usage = "`partition_by` is \"range (field)\", \"list (field)\" or \"hash (field, ...)\"";
    let Ok((method, fields)) = parsed else {
        cx.error(lit, usage);
        return None;
    };
    if fields.is_empty() {
        cx.error(lit, usage);
        return None;
    }
    let method = match method.to_string().to_ascii_lowercase().as_str() {
        "range" => {
            let Some(interval) = &attrs.partition_interval else {
                cx.error(
                    lit,
                    "a range partitioning needs `partition_interval = \"day\"` (or \"week\", \"month\", \"year\"): one partition per interval",
                );
                return None;
            };
            let unit = match interval.value().trim().to_ascii_lowercase().as_str() {
                "day" | "1 day" => "Day",
                "week" | "1 week" => "Week",
                "month" | "1 month" => "Month",
                "year" | "1 year" => "Year",
                _ => {
                    cx.error(
                        interval,
                        "`partition_interval` is \"day\", \"week\", \"month\" or \"year\"",
                    );
                    return None;
                }
            };
            PartitionMethod::Range(unit)
        }
        "list" => PartitionMethod::List,
        "hash" => {
            let Some(count) = &attrs.partitions else {
                cx.error(
                    lit,
                    "a hash partitioning needs `partitions = n`: how many partitions the rows are spread over",
                );
                return None;
            };
            match count.base10_parse::<u32>() {
                Ok(n @ 1..=1024) => PartitionMethod::Hash(n),
                _ => {
                    cx.error(count, "`partitions` is a number from 1 to 1024");
                    return None;
                }
            }
        }
        _ => {
            cx.error(lit, usage);
            return None;
        }
    };
    if let (Some(interval), false) = (
        &attrs.partition_interval,
        matches!(method, PartitionMethod::Range(_)),
    ) {
        cx.error(
            interval,
            "`partition_interval` is for `partition_by = \"range (...)\"`",
        );
    }
    if let (Some(count), false) = (
        &attrs.partitions,
        matches!(method, PartitionMethod::Hash(_)),
    ) {
        cx.error(count, "`partitions` is for `partition_by = \"hash (...)\"`");
    }
    if !matches!(method, PartitionMethod::Hash(_)) && fields.len() > 1 {
        cx.error(
            lit,
            "a range or list partitioning here has one column: \"range (field)\", \"list (field)\"",
        );
    }
    if let (Some(path), PartitionMethod::Hash(_)) = (&attrs.default_partition, &method) {
        cx.error(
            path,
            "a hash-partitioned table has no default partition (PostgreSQL refuses one)",
        );
    }
    // The fields take the literal's span: errors about them point there.
    let fields = fields
        .into_iter()
        .map(|mut f| {
            f.set_span(lit.span());
            f
        })
        .collect();
    Some(Partition {
        method,
        fields,
        lit: lit.clone(),
        default: attrs.default_partition.clone(),
    })
}

/// An index the definition declares.
pub struct Index {
    /// The fields, in the order of the index's columns: as written in
    /// `index(a, b)` (not checked to exist until [`check::table`]), or the
    /// field's own name for a field's `index`/`unique`.
    pub fields: Vec<syn::Ident>,
    pub unique: bool,
    /// `using = "gin"` (checked to be a plain name by [`check::table`]).
    pub method: Option<LitStr>,
}

impl Index {
    /// Whether the index is a unique key rows can be upserted on (a unique
    /// btree index): the derive generates its `ConflictKey` function.
    pub fn conflict_key(&self) -> bool {
        self.unique && self.method.as_ref().is_none_or(|m| m.value() == "btree")
    }

    /// The fields' names, in order.
    pub fn names(&self) -> Vec<String> {
        self.fields.iter().map(ToString::to_string).collect()
    }

    /// The name of its `ConflictKey` function: `unique_` and the fields'
    /// names joined by `_` (`r#` prefixes dropped), spanned at the first
    /// field.
    pub fn function(&self) -> syn::Ident {
        let names: Vec<String> = self
            .fields
            .iter()
            .map(|f| f.to_string().trim_start_matches("r#").to_owned())
            .collect();
        let span = self
            .fields
            .first()
            .map_or_else(proc_macro2::Span::call_site, syn::Ident::span);
        syn::Ident::new(&format!("unique_{}", names.join("_")), span)
    }
}

/// A `BulkTable` field: one column.
pub struct Field<'a> {
    pub member: &'a syn::Ident,
    pub ty: &'a syn::Type,
    /// The column name: `rename`, else the field's name.
    pub column: String,
    /// The `sql_type` attribute, parsed, with its literal for spans.
    pub sql_type: Option<(SqlType, LitStr)>,
    /// `T` when the field's type is written `Option<T>`: for `json` and
    /// `with` fields, `None` is NULL and the column nullable.
    pub option_inner: Option<&'a syn::Type>,
    /// `T` when the field's type is written `Generated<T>`: a column the
    /// database fills, of `T`'s type.
    pub generated_inner: Option<&'a syn::Type>,
    /// How the database fills the column (`identity`, `generated`,
    /// `db_fills`), when one of them is written.
    pub fill: Option<Fill>,
    /// The attributes as written (`primary_key`, `json`, `with`, ...).
    pub attrs: attr::Field,
}

/// How the database fills a column, from the field's attributes.
pub enum Fill {
    Identity { by_default: bool },
    Generated(LitStr),
    Default,
}

impl Field<'_> {
    /// Whether the field is written by the derive's own means (`json`,
    /// `with`) rather than through its type's `Encode` implementation.
    pub fn custom(&self) -> bool {
        self.attrs.json.is_some() || self.attrs.with.is_some()
    }

    /// The type of the column's values: `T` of `Generated<T>`, else the
    /// field's type.
    pub fn value_ty(&self) -> &syn::Type {
        self.generated_inner.unwrap_or(self.ty)
    }
}

impl<'a> Container<'a> {
    /// The model, or `None` when the input is not a struct with named fields.
    pub fn from_ast(cx: &Ctxt, input: &'a DeriveInput) -> Option<Container<'a>> {
        let attrs = attr::Container::from_ast(cx, &input.attrs);
        let partition = partition(cx, &attrs);

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

        let (schema, table) = name::qualified(
            cx,
            attrs.schema.as_ref(),
            attrs.table.as_ref(),
            &input.ident,
            "table name",
        );

        let fields: Vec<Field<'a>> = fields
            .iter()
            .map(|f| {
                let field = Field::from_ast(cx, f);
                check::field(cx, &field);
                field
            })
            .collect();

        let struct_indexes = attrs.indexes.into_iter().map(|index| Index {
            fields: index.fields,
            unique: index.unique,
            method: index.method,
        });
        let field_indexes = fields.iter().flat_map(|f| {
            let flags = [(&f.attrs.index, false), (&f.attrs.unique, true)];
            flags
                .into_iter()
                .filter(|(flag, _)| flag.is_some())
                .map(|(_, unique)| Index {
                    fields: vec![f.member.clone()],
                    unique,
                    method: None,
                })
        });
        let indexes = struct_indexes.chain(field_indexes).collect();

        Some(Container {
            original: input,
            schema,
            table,
            fields,
            indexes,
            partition,
        })
    }

    /// The fields of the primary key, in order.
    pub fn primary_key(&self) -> impl Iterator<Item = &Field<'a>> {
        self.fields.iter().filter(|f| f.attrs.primary_key.is_some())
    }

    /// The field named `name` (`r#type` and `type` are the same name).
    pub fn field_named(&self, name: &syn::Ident) -> Option<&Field<'a>> {
        self.fields
            .iter()
            .find(|f| f.member.unraw() == name.unraw())
    }
}

impl<'a> Field<'a> {
    fn from_ast(cx: &Ctxt, field: &'a syn::Field) -> Field<'a> {
        let member = field.ident.as_ref().expect("named field");
        let attrs = attr::Field::from_ast(cx, &field.attrs);
        let column = attrs
            .rename
            .as_ref()
            .map_or_else(|| member.unraw().to_string(), LitStr::value);
        match &attrs.rename {
            Some(lit) => name::check(cx, lit, &column, "column name"),
            None => name::check(cx, member, &column, "column name"),
        }
        let sql_type =
            attrs
                .sql_type
                .as_ref()
                .and_then(|lit| match sql_type::parse(&lit.value()) {
                    Ok(parsed) => Some((parsed, lit.clone())),
                    Err(message) => {
                        cx.error(lit, message);
                        None
                    }
                });
        if let Some(lit) = &attrs.rename_from {
            name::check(cx, lit, &lit.value(), "rename_from column name");
        }
        if let Some(lit) = &attrs.default {
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
        if let Some(lit) = &attrs.generated {
            let expr = lit.value();
            if expr.trim().is_empty()
                || expr.contains(';')
                || expr.contains("--")
                || expr.contains("/*")
            {
                cx.error(
                    lit,
                    "`generated` is one SQL expression over the row's columns, e.g. \"lower(email)\"",
                );
            }
        }
        let fill = match (&attrs.identity, &attrs.generated, &attrs.db_fills) {
            (Some((_, by_default)), _, _) => Some(Fill::Identity {
                by_default: *by_default,
            }),
            (None, Some(expr), _) => Some(Fill::Generated(expr.clone())),
            (None, None, Some(_)) => Some(Fill::Default),
            (None, None, None) => None,
        };
        Field {
            member,
            ty: &field.ty,
            column,
            sql_type,
            option_inner: option_inner(&field.ty),
            generated_inner: wrapped_in(&field.ty, "Generated"),
            fill,
            attrs,
        }
    }
}

/// `T` of a type written `<name><T>` (with any path before it).
fn wrapped_in<'t>(ty: &'t syn::Type, name: &str) -> Option<&'t syn::Type> {
    match ty {
        syn::Type::Group(g) => wrapped_in(&g.elem, name),
        syn::Type::Paren(p) => wrapped_in(&p.elem, name),
        syn::Type::Path(p) if p.qself.is_none() => {
            let segment = p.path.segments.last()?;
            if segment.ident != name {
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

/// `T` of a type written `Option<T>` (also `std::option::Option<T>`).
fn option_inner(ty: &syn::Type) -> Option<&syn::Type> {
    wrapped_in(ty, "Option")
}

/// A `BulkEnum` enum: a PostgreSQL enum type.
pub struct Enum<'a> {
    pub original: &'a DeriveInput,
    pub schema: String,
    pub type_name: String,
    /// The labels, in order.
    pub variants: Vec<Variant<'a>>,
}

/// A `BulkEnum` variant: one label.
pub struct Variant<'a> {
    pub ident: &'a syn::Ident,
    /// `rename`, else the variant's name in snake_case.
    pub label: String,
    /// The `rename` literal, for spans.
    pub rename: Option<LitStr>,
}

impl Variant<'_> {
    /// Where an error about the label points: the `rename`, else the variant.
    pub fn label_span(&self) -> &dyn quote::ToTokens {
        match &self.rename {
            Some(lit) => lit,
            None => self.ident,
        }
    }
}

impl<'a> Enum<'a> {
    /// The model, or `None` when the input is not an enum.
    pub fn from_ast(cx: &Ctxt, input: &'a DeriveInput) -> Option<Enum<'a>> {
        let Data::Enum(data) = &input.data else {
            cx.error(
                &input.ident,
                "BulkEnum is derived for a fieldless enum: each variant is a label of the PostgreSQL enum type",
            );
            return None;
        };
        let attrs = attr::Enum::from_ast(cx, &input.attrs);
        for param in input.generics.params.iter() {
            cx.error(param, "BulkEnum can't be derived for a generic enum");
        }
        if data.variants.is_empty() {
            cx.error(
                &input.ident,
                "an enum type needs at least one label: the enum has no variant",
            );
        }
        let (schema, type_name) = name::qualified(
            cx,
            attrs.schema.as_ref(),
            attrs.type_name.as_ref(),
            &input.ident,
            "type name",
        );

        let mut variants: Vec<Variant<'a>> = Vec::new();
        for variant in &data.variants {
            if !matches!(variant.fields, Fields::Unit) {
                cx.error(
                    &variant.fields,
                    "BulkEnum variants can't hold data: each variant is a label of the enum type",
                );
            }
            let rename = attr::Variant::from_ast(cx, &variant.attrs).rename;
            let label = rename.as_ref().map_or_else(
                || name::snake_case(&variant.ident.unraw().to_string()),
                LitStr::value,
            );
            let variant = Variant {
                ident: &variant.ident,
                label,
                rename,
            };
            name::check(cx, variant.label_span(), &variant.label, "enum label");
            check::label(cx, &variants, &variant);
            variants.push(variant);
        }
        Some(Enum {
            original: input,
            schema,
            type_name,
            variants,
        })
    }
}

/// A `BulkRows` enum: each variant holds the rows of one `BulkTable`.
pub struct Rows<'a> {
    pub original: &'a DeriveInput,
    /// The variants, in order: each one's table is the one at its index.
    pub variants: Vec<RowVariant<'a>>,
}

/// A `BulkRows` variant, `Order(Order)`.
pub struct RowVariant<'a> {
    pub ident: &'a syn::Ident,
    /// The row type it holds.
    pub ty: &'a syn::Type,
}

impl<'a> Rows<'a> {
    /// The model, or `None` when the input is not an enum.
    pub fn from_ast(cx: &Ctxt, input: &'a DeriveInput) -> Option<Rows<'a>> {
        let Data::Enum(data) = &input.data else {
            cx.error(
                &input.ident,
                "BulkRows is derived for an enum whose variants each hold one BulkTable row type, \
                 e.g. `enum Row { Order(Order), Line(OrderLine) }`",
            );
            return None;
        };
        attr::none_on_rows(cx, &input.attrs);
        if data.variants.is_empty() {
            cx.error(&input.ident, "BulkRows needs at least one variant");
        }
        for param in input.generics.type_params() {
            cx.error(param, "BulkRows can't be derived for a generic enum");
        }
        let mut variants: Vec<RowVariant<'a>> = Vec::new();
        for variant in &data.variants {
            match &variant.fields {
                Fields::Unnamed(fields) if fields.unnamed.len() == 1 => {
                    let variant = RowVariant {
                        ident: &variant.ident,
                        ty: &fields.unnamed[0].ty,
                    };
                    check::row_type(cx, &variants, &variant);
                    variants.push(variant);
                }
                _ => cx.error(
                    variant,
                    "each BulkRows variant holds exactly one value, a BulkTable row: `Order(Order)`",
                ),
            }
        }
        Some(Rows {
            original: input,
            variants,
        })
    }
}
