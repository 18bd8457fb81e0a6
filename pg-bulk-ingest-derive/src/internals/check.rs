//! Checks that look at more than one attribute or element of the model:
//! attributes of a field that contradict each other, two fields with one
//! column, index fields that do not exist, two variants with one label or one
//! row type. Each error goes into the [`Ctxt`], at the attribute or element
//! that makes the contradiction.
//!
//! [`field`], [`label`] and [`row_type`] are run by [`ast`] on each element
//! as it is built; [`table`] on the whole `BulkTable` model.
//!
//! [`ast`]: super::ast

use proc_macro2::Span;
use quote::quote;

use super::ast::{Container, Field, Index, RowVariant, Variant};
use super::ctxt::Ctxt;

/// A field's attributes against each other; of two that conflict, the
/// second written is the error.
pub fn field(cx: &Ctxt, field: &Field<'_>) {
    let attrs = &field.attrs;
    let second = |a: &str, b: &str| -> Option<Span> {
        let first_of = |name: &str| attrs.written.iter().position(|(n, _)| n == name);
        let (i, j) = (first_of(a)?, first_of(b)?);
        Some(attrs.written[i.max(j)].1)
    };
    let conflict = |a: &str, b: &str, message: &str| {
        if let Some(span) = second(a, b) {
            cx.error_at(span, message);
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
    if let (Some(_), Some((parsed, _))) = (&attrs.json, &field.sql_type) {
        if !matches!(parsed.kind, "Json" | "Jsonb") || parsed.array {
            conflict(
                "json",
                "sql_type",
                "a `json` field is written as `jsonb` (the default) or `json`: `sql_type` can only be one of them",
            );
        }
    }
    // Columns the database fills: one way each, on a `Generated<T>` field.
    for (a, b) in [
        ("identity", "generated"),
        ("identity", "db_fills"),
        ("generated", "db_fills"),
    ] {
        conflict(
            a,
            b,
            "a column the database fills is filled one way: `identity`, `generated = \"...\"` or `default = \"...\", db_fills`",
        );
    }
    conflict(
        "generated",
        "default",
        "a generated column has no default: its expression fills it",
    );
    conflict(
        "identity",
        "default",
        "an identity column has no default: its sequence fills it",
    );
    for custom in ["json", "with"] {
        for fill in ["identity", "generated", "db_fills"] {
            conflict(
                custom,
                fill,
                "a column the database fills is never written: it takes no `json` or `with`",
            );
        }
    }
    if let Some(path) = &attrs.db_fills {
        if attrs.default.is_none() {
            cx.error(
                path,
                "`db_fills` needs the `default` that fills the column: `#[bulk(default = \"now()\", db_fills)]`",
            );
        }
    }
    match (&field.fill, field.generated_inner) {
        (Some(_), None) => {
            let span = ["identity", "generated", "db_fills"]
                .iter()
                .find_map(|w| attrs.written.iter().find(|(n, _)| n == w))
                .map_or_else(Span::call_site, |(_, span)| *span);
            cx.error_at(
                span,
                format!(
                    "the database fills column `{}`, so the struct never sends it: declare the field as `Generated<T>`",
                    field.column
                ),
            );
        }
        (None, Some(_)) => cx.error(
            field.ty,
            "a `Generated<T>` field is a column the database fills: say how, with `#[bulk(identity)]`, `#[bulk(generated = \"...\")]` or `#[bulk(default = \"...\", db_fills)]`",
        ),
        _ => {}
    }
    // A `with` field is nullable when written `Option<T>`; the other keys'
    // types are checked by the generated code (`!Encode::NULLABLE`).
    if let (Some(path), Some(_)) = (&attrs.primary_key, field.option_inner) {
        if attrs.json.is_none() && attrs.with.is_some() {
            cx.error(
                path,
                format!(
                    "column `{}`: a primary-key column can't be NULL, so its field can't be an Option",
                    field.column
                ),
            );
        }
    }
}

/// The whole table: no column twice, no unique key twice (each is a
/// [`ConflictKey`] function), each index on fields that exist and with a
/// method that is a plain name.
///
/// [`ConflictKey`]: https://docs.rs/pg-bulk-ingest/latest/pg_bulk_ingest/struct.ConflictKey.html
pub fn table(cx: &Ctxt, cont: &Container<'_>) {
    for (i, field) in cont.fields.iter().enumerate() {
        if cont.fields[..i].iter().any(|f| f.column == field.column) {
            cx.error(
                field.member,
                format!("two fields are both column `{}`", field.column),
            );
        }
    }
    for (i, index) in cont.indexes.iter().enumerate() {
        let twin = cont.indexes[..i]
            .iter()
            .find(|other| other.conflict_key() && other.function() == index.function());
        if let (true, Some(other)) = (index.conflict_key(), twin) {
            let first = index.fields.first().expect("an index has fields");
            let message = if Index::names(other) == Index::names(index) {
                format!(
                    "the unique key ({}) is declared twice",
                    Index::names(index).join(", ")
                )
            } else {
                format!(
                    "the unique keys ({}) and ({}) would both have the function `{}`: declare one of them",
                    Index::names(other).join(", "),
                    Index::names(index).join(", "),
                    index.function()
                )
            };
            cx.error(first, message);
        }
        for name in &index.fields {
            if cont.field_named(name).is_none() {
                cx.error(name, format!("no field `{name}` to index"));
            }
        }
        if let Some(lit) = &index.method {
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
        }
    }
}

/// A partitioned table (PostgreSQL docs, "Table Partitioning", section
/// "Limitations"): its key's fields exist, are sent, and are part of the
/// primary key and of every unique index; no identity column (PostgreSQL
/// takes one on a partitioned table only from 17).
pub fn partition(cx: &Ctxt, cont: &Container<'_>) {
    let Some(partition) = &cont.partition else {
        return;
    };
    let lit = &partition.lit;
    let mut columns = Vec::new();
    for name in &partition.fields {
        match cont.field_named(name) {
            None => cx.error(lit, format!("no field `{name}` to partition by")),
            Some(field) if field.fill.is_some() => cx.error(
                lit,
                format!(
                    "field `{name}` is filled by the database: a partition key is a column the struct sends"
                ),
            ),
            Some(field) => columns.push(field),
        }
    }
    let key: Vec<&Field<'_>> = cont.primary_key().collect();
    let missing = |fields: &[&Field<'_>]| -> Vec<String> {
        columns
            .iter()
            .filter(|c| !fields.iter().any(|f| f.member == c.member))
            .map(|c| c.member.to_string())
            .collect()
    };
    if let (Some(first), [_, ..]) = (key.first(), &missing(&key)[..]) {
        let path = first.attrs.primary_key.as_ref().expect("a key field");
        cx.error(
            path,
            format!(
                "the primary key must include the partition key ({}): PostgreSQL requires it of a partitioned table's unique keys",
                missing(&key).join(", ")
            ),
        );
    }
    for index in cont.indexes.iter().filter(|i| i.unique) {
        let fields: Vec<&Field<'_>> = index
            .fields
            .iter()
            .filter_map(|n| cont.field_named(n))
            .collect();
        let lacking = missing(&fields);
        if !lacking.is_empty() {
            let first = index.fields.first().expect("an index has fields");
            cx.error(
                first,
                format!(
                    "the unique key ({}) must include the partition key ({}): PostgreSQL requires it of a partitioned table's unique keys",
                    Index::names(index).join(", "),
                    lacking.join(", ")
                ),
            );
        }
    }
    for field in &cont.fields {
        if let Some((path, _)) = &field.attrs.identity {
            cx.error(
                path,
                "an identity column on a partitioned table needs PostgreSQL 17: use `default = \"nextval(...)\", db_fills` or no partitioning",
            );
        }
    }
}

/// An enum variant's label against those of the variants before it.
pub fn label(cx: &Ctxt, before: &[Variant<'_>], variant: &Variant<'_>) {
    if before.iter().any(|v| v.label == variant.label) {
        cx.error(
            variant.label_span(),
            format!("two variants are both the label `{}`", variant.label),
        );
    }
}

/// A `BulkRows` variant's row type against those of the variants before it
/// (compared as written).
pub fn row_type(cx: &Ctxt, before: &[RowVariant<'_>], variant: &RowVariant<'_>) {
    let ty = variant.ty;
    let written = quote!(#ty).to_string();
    if before.iter().any(|v| {
        let t = v.ty;
        quote!(#t).to_string() == written
    }) {
        cx.error(ty, "two variants hold the same row type");
    }
}
