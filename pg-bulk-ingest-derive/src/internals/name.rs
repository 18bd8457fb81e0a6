//! The names PostgreSQL is given: a Rust name's default in snake_case, a
//! table's or type's `(schema, name)`, and the checks against PostgreSQL's
//! limits.

use syn::ext::IdentExt;
use syn::LitStr;

use super::ctxt::Ctxt;

/// PostgreSQL's identifier limit (NAMEDATALEN - 1), in bytes.
const MAX_IDENT: usize = 63;

/// Checks a name PostgreSQL will be given: `what` says what it is (`"table name"`).
pub fn check(cx: &Ctxt, span: impl quote::ToTokens, name: &str, what: &str) {
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
pub fn qualified(
    cx: &Ctxt,
    schema: Option<&LitStr>,
    name: Option<&LitStr>,
    ident: &syn::Ident,
    what: &str,
) -> (String, String) {
    let schema_name = schema.map_or_else(|| "public".to_owned(), LitStr::value);
    let name_value = name.map_or_else(|| snake_case(&ident.unraw().to_string()), LitStr::value);
    if let Some(lit) = schema {
        check(cx, lit, &schema_name, "schema name");
    }
    match name {
        Some(lit) => check(cx, lit, &name_value, what),
        None => check(cx, ident, &name_value, what),
    }
    (schema_name, name_value)
}

/// `OrderLine` → `order_line`, `HTTPRequest` → `http_request`.
///
/// The names it gives are part of users' schemas, so they never change. It is
/// not `heck`'s `ToSnakeCase`, which gives other names for some inputs (see
/// the `not_heck` cases in the tests): `A1B2` → `a1b2`, `I18N` → `i18n`,
/// `ABCD1234EFGH` → `abcd1234efgh` (no word after a digit when the letter
/// before it is upper case), `Row२Line` → `row२_line` (a non-ASCII digit is a
/// word's end), `_Foo` → `foo`, `Foo_` → `foo`, `Foo__Bar` → `foo_bar`
/// (underscores trimmed and merged), `ΣΑΣ` → `σας` (a final sigma), `ǅemal` →
/// `ǆemal` (a title-case letter lower-cased).
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

    /// Today's names, pinned: a table, type or label named by default must
    /// keep its name.
    #[test]
    fn pinned() {
        let cases = [
            ("A", "a"),
            ("a", "a"),
            ("Ω", "ω"),
            ("ID", "id"),
            ("Id", "id"),
            ("ABC", "abc"),
            ("type", "type"),
            ("Type", "type"),
            ("IDs", "i_ds"),
            ("URLs", "ur_ls"),
            ("MyURL", "my_url"),
            ("ABCdef", "ab_cdef"),
            ("AbcDEF", "abc_def"),
            ("AbcDEFGhi", "abc_def_ghi"),
            ("IOError", "io_error"),
            ("PgType", "pg_type"),
            ("camelCase", "camel_case"),
            ("getHTTPResponseCode", "get_http_response_code"),
            ("XMLHttpRequest2", "xml_http_request2"),
            // Digits.
            ("X1", "x1"),
            ("x1", "x1"),
            ("V2", "v2"),
            ("A1b", "a1b"),
            ("a1B", "a1_b"),
            ("Order2", "order2"),
            ("Row2024", "row2024"),
            ("Sale2024", "sale2024"),
            ("V2Row", "v2_row"),
            ("S2024Row", "s2024_row"),
            ("Item1A", "item1_a"),
            ("Order2Line", "order2_line"),
            ("sale2024row", "sale2024row"),
            ("HTTP2Request", "http2_request"),
            ("Http2Request", "http2_request"),
            ("i18nText", "i18n_text"),
            ("UUIDv4", "uui_dv4"),
            // Underscores.
            ("A_1", "a_1"),
            ("Order_2", "order_2"),
            ("ROW_2024", "row_2024"),
            ("PG_TYPE", "pg_type"),
            ("Foo_Bar", "foo_bar"),
            ("foo_Bar", "foo_bar"),
            ("snake_Case_X", "snake_case_x"),
            ("Order_Line_Item", "order_line_item"),
            // Beyond ASCII.
            ("ÄpfelBaum", "äpfel_baum"),
            ("ÉtéÉtat", "été_état"),
            ("NaïveDate", "naïve_date"),
            ("Année2024", "année2024"),
            ("ΑΒΓ", "αβγ"),
            ("Straße", "straße"),
            ("ﬁle", "ﬁle"),
            ("Ǆemal", "ǆemal"),
            ("İstanbul", "i\u{307}stanbul"),
        ];
        for (name, snake) in cases {
            assert_eq!(snake_case(name), snake, "{name}");
        }
    }

    /// Where `heck::ToSnakeCase` (0.5) gives another name (in the comment):
    /// the reason this function stays.
    #[test]
    fn not_heck() {
        let cases = [
            ("A1B2", "a1_b2"),                 // heck: a1b2
            ("I18N", "i18_n"),                 // heck: i18n
            ("ABCD1234EFGH", "abcd1234_efgh"), // heck: abcd1234efgh
            ("Row२Line", "row२line"),          // heck: row२_line
            ("_Foo", "_foo"),                  // heck: foo
            ("__private", "__private"),        // heck: private
            ("Foo_", "foo_"),                  // heck: foo
            ("Foo__Bar", "foo__bar"),          // heck: foo_bar
            ("ΣΑΣ", "σασ"),                    // heck: σας
            ("ΣΑΣ_Row", "σασ_row"),            // heck: σας_row
            ("ǅemal", "ǅemal"),                // heck: ǆemal
        ];
        for (name, snake) in cases {
            assert_eq!(snake_case(name), snake, "{name}");
        }
    }

    /// Raw identifiers are named without their `r#`.
    #[test]
    fn raw_identifiers() {
        for (raw, name) in [
            ("r#type", "type"),
            ("r#Match", "match"),
            ("r#HTTPRequest", "http_request"),
        ] {
            let ident: syn::Ident = syn::parse_str(raw).unwrap();
            let cx = super::Ctxt::default();
            let qualified = super::qualified(&cx, None, None, &ident, "table name");
            cx.check().unwrap();
            assert_eq!(qualified, ("public".to_owned(), name.to_owned()), "{raw}");
        }
    }
}
