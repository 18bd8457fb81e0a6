//! Parsing `sql_type = "..."` into a type kind and its modifiers, accepting
//! PostgreSQL's spellings (`varchar(32)`, `character varying(32)`, `int8`,
//! `timestamp(3) with time zone`, `timestamptz(3)`, `text[]`, ...).

use proc_macro2::TokenStream;
use quote::{format_ident, quote, ToTokens};

/// A parsed column type.
#[derive(Debug, PartialEq, Eq)]
pub struct SqlType {
    /// Name of the `pg_bulk_ingest::TypeKind` variant.
    pub kind: &'static str,
    pub modifiers: Modifiers,
    /// A one-dimensional array of the type (`T[]`).
    pub array: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Modifiers {
    None,
    Length(u32),
    Precision(u32),
    PrecisionScale(u32, u32),
}

impl ToTokens for SqlType {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        let kind = format_ident!("{}", self.kind);
        let base = quote!(::pg_bulk_ingest::SqlType::new(::pg_bulk_ingest::TypeKind::#kind));
        let ty = match self.modifiers {
            Modifiers::None => base,
            Modifiers::Length(n) => quote!(#base.with_length(#n)),
            Modifiers::Precision(p) => quote!(#base.with_precision(#p)),
            Modifiers::PrecisionScale(p, s) => quote!(#base.with_precision_scale(#p, #s)),
        };
        tokens.extend(if self.array { quote!(#ty.array()) } else { ty });
    }
}

/// Parses a type name; the error is a message for the user.
pub fn parse(text: &str) -> Result<SqlType, String> {
    let norm = text
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_lowercase();
    if let Some(element) = norm.strip_prefix('_') {
        return Err(format!("`{text}`: write an array type as `{element}[]`"));
    }
    // `T[]`, also spelled `T []`.
    let (norm, array) = match norm.strip_suffix("[]").or_else(|| norm.strip_suffix("[ ]")) {
        Some(element) => (element.trim_end().to_owned(), true),
        None => (norm, false),
    };
    if norm.contains('[') || norm.contains(']') {
        return Err(format!(
            "`{text}`: only one-dimensional arrays without a size are supported, as `type[]`"
        ));
    }
    // Split "name (args) suffix".
    let (name, args, suffix) = match norm.find('(') {
        Some(open) => {
            let close = norm[open..]
                .find(')')
                .map(|c| open + c)
                .ok_or_else(|| format!("unbalanced parenthesis in `{text}`"))?;
            (
                norm[..open].trim(),
                Some(&norm[open + 1..close]),
                norm[close + 1..].trim(),
            )
        }
        None => (norm.as_str(), None, ""),
    };
    let (name, zone) = split_zone(name, suffix)?;
    let args: Vec<u32> = match args {
        None => Vec::new(),
        Some(args) => args
            .split(',')
            .map(|a| {
                a.trim()
                    .parse()
                    .map_err(|_| format!("`{}` is not a valid type modifier", a.trim()))
            })
            .collect::<Result<_, _>>()?,
    };
    let kind = match name {
        "bool" | "boolean" => "Bool",
        "smallint" | "int2" => "Int2",
        "integer" | "int" | "int4" => "Int4",
        "bigint" | "int8" => "Int8",
        "real" | "float4" => "Float4",
        "double precision" | "float8" => "Float8",
        "numeric" | "decimal" => "Numeric",
        "text" => "Text",
        "varchar" | "character varying" => "Varchar",
        "char" | "character" | "bpchar" => "Char",
        "bytea" => "Bytea",
        "date" => "Date",
        "time" => "Time",
        "timestamp" => "Timestamp",
        "timestamptz" => "Timestamptz",
        "interval" => "Interval",
        "uuid" => "Uuid",
        "json" => "Json",
        "jsonb" => "Jsonb",
        "inet" => "Inet",
        _ => return Err(format!("unsupported SQL type `{text}`")),
    };
    let kind = match (kind, zone) {
        (_, None) => kind,
        ("Timestamp", Some(false)) => "Timestamp",
        ("Timestamp", Some(true)) => "Timestamptz",
        ("Time", Some(false)) => "Time",
        ("Time", Some(true)) => return Err("`time with time zone` is not supported".into()),
        _ => return Err(format!("unsupported SQL type `{text}`")),
    };
    let modifiers = match (kind, args.as_slice()) {
        (_, []) => Modifiers::None,
        ("Varchar" | "Char", [n]) => {
            check(*n, 1, 10_485_760, "length")?;
            Modifiers::Length(*n)
        }
        ("Time" | "Timestamp" | "Timestamptz", [p]) => {
            check(*p, 0, 6, "precision")?;
            Modifiers::Precision(*p)
        }
        ("Numeric", [p]) => {
            check(*p, 1, 1000, "precision")?;
            Modifiers::PrecisionScale(*p, 0)
        }
        ("Numeric", [p, s]) => {
            check(*p, 1, 1000, "precision")?;
            check(*s, 0, *p, "scale")?;
            Modifiers::PrecisionScale(*p, *s)
        }
        _ => return Err(format!("`{text}`: wrong number of type modifiers")),
    };
    Ok(SqlType {
        kind,
        modifiers,
        array,
    })
}

/// Separates `with time zone` / `without time zone` from the name or suffix.
fn split_zone<'a>(name: &'a str, suffix: &'a str) -> Result<(&'a str, Option<bool>), String> {
    let rest = if suffix.is_empty() { name } else { suffix };
    for (tail, with) in [(" with time zone", true), (" without time zone", false)] {
        let bare = tail.trim_start();
        if suffix.is_empty() {
            if let Some(base) = rest.strip_suffix(tail) {
                return Ok((base, Some(with)));
            }
        } else if suffix == bare {
            return Ok((name, Some(with)));
        }
    }
    if suffix.is_empty() {
        Ok((name, None))
    } else {
        Err(format!("unexpected `{suffix}` after the type modifiers"))
    }
}

fn check(value: u32, min: u32, max: u32, what: &str) -> Result<(), String> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(format!("{what} {value} is out of range ({min} to {max})"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> (&'static str, Modifiers) {
        let t = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert!(!t.array, "{text}");
        (t.kind, t.modifiers)
    }

    fn array(text: &str) -> (&'static str, Modifiers) {
        let t = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert!(t.array, "{text}");
        (t.kind, t.modifiers)
    }

    #[test]
    fn spellings() {
        assert_eq!(ok("varchar(32)"), ("Varchar", Modifiers::Length(32)));
        assert_eq!(
            ok("Character  Varying (32)"),
            ("Varchar", Modifiers::Length(32))
        );
        assert_eq!(
            ok("numeric(12,2)"),
            ("Numeric", Modifiers::PrecisionScale(12, 2))
        );
        assert_eq!(
            ok("decimal(5)"),
            ("Numeric", Modifiers::PrecisionScale(5, 0))
        );
        assert_eq!(ok("timestamp(3)"), ("Timestamp", Modifiers::Precision(3)));
        assert_eq!(
            ok("timestamp(3) with time zone"),
            ("Timestamptz", Modifiers::Precision(3))
        );
        assert_eq!(
            ok("timestamp without time zone"),
            ("Timestamp", Modifiers::None)
        );
        assert_eq!(ok("timestamptz"), ("Timestamptz", Modifiers::None));
        assert_eq!(ok("double precision"), ("Float8", Modifiers::None));
        assert_eq!(ok("int"), ("Int4", Modifiers::None));
        assert_eq!(ok("uuid"), ("Uuid", Modifiers::None));
        assert_eq!(ok("JSON"), ("Json", Modifiers::None));
        assert_eq!(ok("jsonb"), ("Jsonb", Modifiers::None));
        assert_eq!(ok("inet"), ("Inet", Modifiers::None));
        assert_eq!(ok("interval"), ("Interval", Modifiers::None));
    }

    #[test]
    fn arrays() {
        assert_eq!(array("int[]"), ("Int4", Modifiers::None));
        assert_eq!(array("text []"), ("Text", Modifiers::None));
        assert_eq!(array("varchar(32)[]"), ("Varchar", Modifiers::Length(32)));
        assert_eq!(
            array("timestamp(3) without time zone[]"),
            ("Timestamp", Modifiers::Precision(3))
        );
        assert_eq!(
            array("numeric(20, 0)[]"),
            ("Numeric", Modifiers::PrecisionScale(20, 0))
        );
        assert!(parse("int[][]").is_err());
        assert!(parse("int[3]").is_err());
        assert!(parse("_int4").is_err());
        assert!(parse("[]").is_err());
    }

    #[test]
    fn rejections() {
        assert!(parse("varchar(0)").is_err());
        assert!(parse("numeric(5,6)").is_err());
        assert!(parse("timestamp(7)").is_err());
        assert!(parse("integer(3)").is_err());
        assert!(parse("geometry").is_err());
        assert!(parse("time with time zone").is_err());
        assert!(parse("varchar(3").is_err());
        assert!(parse("varchar(x)").is_err());
    }
}
