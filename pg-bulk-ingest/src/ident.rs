//! Quoting of identifiers and literals. Every name that reaches SQL text goes
//! through [`Ident`] or [`QualifiedName`]; nothing a user wrote is pasted into
//! a statement unquoted.

use std::fmt;

/// An identifier; `Display` writes it double-quoted, with `"` doubled.
///
/// ```
/// use pg_bulk_ingest::Ident;
/// assert_eq!(Ident("Order \"lines\"").to_string(), r#""Order ""lines""""#);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ident<'a>(pub &'a str);

impl fmt::Display for Ident<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        for (i, part) in self.0.split('"').enumerate() {
            if i > 0 {
                f.write_str("\"\"")?;
            }
            f.write_str(part)?;
        }
        f.write_str("\"")
    }
}

/// `schema.name`; `Display` writes both parts quoted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QualifiedName<'a> {
    /// The schema.
    pub schema: &'a str,
    /// The object's name.
    pub name: &'a str,
}

impl<'a> QualifiedName<'a> {
    /// `schema.name`.
    pub const fn new(schema: &'a str, name: &'a str) -> Self {
        QualifiedName { schema, name }
    }
}

impl fmt::Display for QualifiedName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", Ident(self.schema), Ident(self.name))
    }
}

/// A string literal; `Display` writes it single-quoted with `'` doubled, and
/// as `E'...'` with backslashes doubled when it holds one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Literal<'a>(pub &'a str);

impl fmt::Display for Literal<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // An E'' literal reads the same whatever standard_conforming_strings is.
        if self.0.contains('\\') {
            f.write_str("E")?;
        }
        f.write_str("'")?;
        for c in self.0.chars() {
            match c {
                '\'' => f.write_str("''")?,
                '\\' => f.write_str("\\\\")?,
                c => write!(f, "{c}")?,
            }
        }
        f.write_str("'")
    }
}

/// A comma-separated list of quoted identifiers.
pub(crate) struct IdentList<'a, I>(pub I)
where
    I: Iterator<Item = &'a str> + Clone;

impl<'a, I> fmt::Display for IdentList<'a, I>
where
    I: Iterator<Item = &'a str> + Clone,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, name) in self.0.clone().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}", Ident(name))?;
        }
        Ok(())
    }
}

/// A name the library makes up for an object of its own: `base` and
/// `suffix` when they fit in PostgreSQL's 63 bytes (`orders_pkey`); when they
/// don't, `base` is cut (at a character boundary) and a hash of `identity`
/// (what the name stands for, whole) goes before the suffix, so that two
/// objects whose names agree in their first 63 bytes still get two names.
pub(crate) fn invented(base: &str, suffix: &str, identity: &str) -> String {
    if base.len() + suffix.len() <= 63 {
        return format!("{base}{suffix}");
    }
    limited(base, &format!("_{:08x}{suffix}", fnv1a(identity)))
}

/// FNV-1a over the bytes of `text`: stable across releases and platforms, as
/// names made from it must be.
pub(crate) fn fnv1a(text: &str) -> u32 {
    text.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// Shortens `name` to PostgreSQL's 63-byte identifier limit at a character
/// boundary, keeping `suffix` whole: `limited("orders", "_pkey")`.
pub(crate) fn limited(base: &str, suffix: &str) -> String {
    const MAX: usize = 63;
    let mut end = MAX.saturating_sub(suffix.len()).min(base.len());
    while !base.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{}", &base[..end], suffix)
}

/// The name PostgreSQL gives an object of two names and a label when it
/// chooses one itself, e.g. `orders_id_not_null`: `name1_name2_label`, the
/// longer of the two names cut a byte at a time (at a character boundary) until
/// the whole fits in 63 bytes. The rule of `makeObjectName` in PostgreSQL's
/// `src/backend/commands/indexcmds.c`.
pub(crate) fn object_name(name1: &str, name2: &str, label: &str) -> String {
    const MAX: usize = 63;
    let avail = MAX.saturating_sub(label.len() + 2);
    let (mut n1, mut n2) = (name1.len(), name2.len());
    while n1 + n2 > avail {
        if n1 > n2 {
            n1 -= 1;
        } else {
            n2 -= 1;
        }
    }
    let clip = |s: &str, mut end: usize| {
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        end
    };
    let (n1, n2) = (clip(name1, n1), clip(name2, n2));
    format!("{}_{}_{label}", &name1[..n1], &name2[..n2])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invented_names_fit_and_stay_distinct() {
        assert_eq!(invented("orders", "_pkey", "orders"), "orders_pkey");
        let a = format!("{}a", "x".repeat(70));
        let b = format!("{}b", "x".repeat(70));
        let (na, nb) = (invented(&a, "_pkey", &a), invented(&b, "_pkey", &b));
        assert!(
            na.len() <= 63 && nb.len() <= 63 && na.ends_with("_pkey"),
            "{na}"
        );
        assert_ne!(na, nb);
        let multibyte = "é".repeat(40);
        assert!(invented(&multibyte, "_x", &multibyte).len() <= 63);
    }

    #[test]
    fn object_names_are_cut_like_postgresql_cuts_them() {
        assert_eq!(
            object_name("orders", "id", "not_null"),
            "orders_id_not_null"
        );
        let long = "t".repeat(70);
        let name = object_name(&long, "id", "not_null");
        assert_eq!(name.len(), 63);
        assert!(name.ends_with("_id_not_null"));
        let name = object_name(&"a".repeat(40), &"b".repeat(40), "not_null");
        assert_eq!(
            name,
            format!("{}_{}_not_null", "a".repeat(27), "b".repeat(26))
        );
        // Multi-byte characters are never split.
        let name = object_name(&"é".repeat(40), "c", "not_null");
        assert!(name.len() <= 63 && name.ends_with("_c_not_null"), "{name}");
    }

    #[test]
    fn quotes_and_doubles() {
        assert_eq!(Ident("a").to_string(), "\"a\"");
        assert_eq!(Ident("a\"b").to_string(), "\"a\"\"b\"");
        assert_eq!(Ident("").to_string(), "\"\"");
        assert_eq!(
            QualifiedName::new("my.schema", "T 1").to_string(),
            "\"my.schema\".\"T 1\""
        );
        assert_eq!(Literal("it's").to_string(), "'it''s'");
        assert_eq!(Literal(r"a\b'").to_string(), r"E'a\\b'''");
        assert_eq!(
            IdentList(["a", "b\""].into_iter()).to_string(),
            "\"a\", \"b\"\"\""
        );
    }

    #[test]
    fn limits_at_char_boundaries() {
        assert_eq!(limited("orders", "_pkey"), "orders_pkey");
        let long = "é".repeat(40); // 80 bytes
        let name = limited(&long, "_pkey");
        assert!(name.len() <= 63, "{}", name.len());
        assert!(name.ends_with("_pkey"));
    }
}
