//! How a column's values reach a new type: exactly without a rewrite, exactly
//! with one, or not always (PostgreSQL's documentation, "ALTER TABLE": a
//! type change that is binary coercible rewrites nothing).

use crate::catalog::LiveColumn;
use crate::types::{SqlType, TypeKind};

/// How a column's values get to a new type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cast {
    /// The stored bytes stay valid: a catalog-only change.
    BinaryCoercible,
    /// Every value converts exactly, but the table is rewritten.
    Lossless,
    /// Some values may not convert (narrowing, or no exact conversion).
    Lossy,
}

/// [`classify_cast`] for a live column, which may be of an enum type: every
/// label converts to `text` exactly; a conversion to an enum type is lossy
/// (a value must be one of its labels).
pub(crate) fn classify_column(live: &LiveColumn, to: &SqlType) -> Cast {
    if to.kind() == TypeKind::Enum {
        Cast::Lossy
    } else if live.is_enum {
        if to.kind() == TypeKind::Text && !to.is_array() {
            Cast::Lossless
        } else {
            Cast::Lossy
        }
    } else {
        classify_cast(&live.sql_type, to)
    }
}

/// Whether every value of a live column of type `from` (as `format_type`
/// spells it) converts exactly to `to`, and whether that needs a rewrite.
pub(crate) fn classify_cast(from: &str, to: &SqlType) -> Cast {
    use TypeKind::*;
    match (from.strip_suffix("[]"), to.is_array()) {
        // Arrays of the same element type: as their elements.
        (Some(element), true) => {
            return match classify_cast(element, &to.element()) {
                Cast::BinaryCoercible => Cast::BinaryCoercible,
                _ => Cast::Lossy,
            }
        }
        (None, false) => {}
        (Some(_), false) if to.kind() == Text => return Cast::Lossless,
        _ => return Cast::Lossy,
    }
    let Some((kind, p, s)) = parse_format_type(from) else {
        return Cast::Lossy;
    };
    let (tk, tp, ts) = (to.kind(), to.precision(), to.scale());
    let wider = |from: Option<u32>, to: Option<u32>| match (from, to) {
        (_, None) => true,
        (None, Some(_)) => false,
        (Some(a), Some(b)) => b >= a,
    };
    match (kind, tk) {
        (Varchar, Varchar) if wider(p, tp) => Cast::BinaryCoercible,
        (Varchar | Text, Text) => Cast::BinaryCoercible,
        (Text, Varchar) if tp.is_none() => Cast::BinaryCoercible,
        (Char, Char) if wider(p, tp) => Cast::Lossless,
        (Int2, Int4 | Int8) | (Int4, Int8) => Cast::Lossless,
        (Int2 | Int4 | Int8, Numeric) if tp.is_none() => Cast::Lossless,
        (Int2 | Int4, Float8) | (Int2, Float4) | (Float4, Float8) => Cast::Lossless,
        (Numeric, Numeric) => match (p, s, tp, ts) {
            (_, _, None, _) => Cast::BinaryCoercible,
            (None, _, Some(_), _) => Cast::Lossy,
            (Some(p), s, Some(tp), ts) => {
                let (s, ts) = (s.unwrap_or(0), ts.unwrap_or(0));
                if ts == s && tp >= p {
                    Cast::BinaryCoercible
                } else if ts >= s && tp - ts >= p - s {
                    Cast::Lossless
                } else {
                    Cast::Lossy
                }
            }
        },
        (Time, Time) | (Timestamp, Timestamp) | (Timestamptz, Timestamptz) if wider(p, tp) => {
            Cast::BinaryCoercible
        }
        (Date, Timestamp) => Cast::Lossless,
        (_, Text) => Cast::Lossless,
        _ => Cast::Lossy,
    }
}

/// Parses what `format_type` gives for the types the library writes:
/// `(kind, precision or length, scale)`.
fn parse_format_type(text: &str) -> Option<(TypeKind, Option<u32>, Option<u32>)> {
    use TypeKind::*;
    let (head, zone) = if let Some(h) = text.strip_suffix(" with time zone") {
        (h, Some(true))
    } else if let Some(h) = text.strip_suffix(" without time zone") {
        (h, Some(false))
    } else {
        (text, None)
    };
    let (name, mods) = match head.find('(') {
        Some(i) => (&head[..i], head[i + 1..].strip_suffix(')')?),
        None => (head, ""),
    };
    let mut nums = mods
        .split(',')
        .filter(|m| !m.is_empty())
        .map(|m| m.trim().parse::<u32>());
    let p = nums.next().transpose().ok()?;
    let s = nums.next().transpose().ok()?;
    let kind = match (name, zone) {
        ("boolean", _) => Bool,
        ("smallint", _) => Int2,
        ("integer", _) => Int4,
        ("bigint", _) => Int8,
        ("real", _) => Float4,
        ("double precision", _) => Float8,
        ("numeric", _) => Numeric,
        ("text", _) => Text,
        ("character varying", _) => Varchar,
        ("character" | "bpchar", _) => Char,
        ("bytea", _) => Bytea,
        ("date", _) => Date,
        ("time", Some(false)) => Time,
        ("timestamp", Some(false)) => Timestamp,
        ("timestamp", Some(true)) => Timestamptz,
        _ => return None,
    };
    Some((kind, p, s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn casts_are_classified() {
        let v = |n| SqlType::new(TypeKind::Varchar).with_length(n);
        assert_eq!(
            classify_cast("character varying(10)", &v(20)),
            Cast::BinaryCoercible
        );
        assert_eq!(classify_cast("character varying(20)", &v(10)), Cast::Lossy);
        assert_eq!(
            classify_cast("character varying", &SqlType::new(TypeKind::Text)),
            Cast::BinaryCoercible
        );
        assert_eq!(
            classify_cast("integer", &SqlType::new(TypeKind::Int8)),
            Cast::Lossless
        );
        assert_eq!(
            classify_cast("bigint", &SqlType::new(TypeKind::Int4)),
            Cast::Lossy
        );
        let n = |p, s| SqlType::new(TypeKind::Numeric).with_precision_scale(p, s);
        assert_eq!(
            classify_cast("numeric(10,2)", &n(12, 2)),
            Cast::BinaryCoercible
        );
        assert_eq!(classify_cast("numeric(10,2)", &n(12, 3)), Cast::Lossless);
        assert_eq!(classify_cast("numeric(10,2)", &n(10, 3)), Cast::Lossy);
        assert_eq!(
            classify_cast(
                "timestamp(3) without time zone",
                &SqlType::new(TypeKind::Timestamp)
            ),
            Cast::BinaryCoercible
        );
        assert_eq!(
            classify_cast("bytea", &SqlType::new(TypeKind::Int4)),
            Cast::Lossy
        );
        let int4 = SqlType::new(TypeKind::Int4);
        assert_eq!(classify_cast("smallint", &int4.array()), Cast::Lossy);
        assert_eq!(classify_cast("smallint[]", &int4), Cast::Lossy);
        assert_eq!(
            classify_cast("character varying(3)[]", &v(5).array()),
            Cast::BinaryCoercible
        );
        assert_eq!(
            classify_cast("character varying(5)[]", &v(3).array()),
            Cast::Lossy
        );
        assert_eq!(
            classify_cast("integer[]", &SqlType::new(TypeKind::Text)),
            Cast::Lossless
        );
    }
}
