//! `serde_json::Value` as `jsonb` (the default) or `json` (feature
//! `serde_json`).
//!
//! `jsonb` is sent as the version byte `1` followed by the JSON text, `json`
//! as the text alone. PostgreSQL keeps a `json` value's text as it was sent,
//! so it gets `serde_json`'s compact form. A `jsonb` value is parsed by the
//! server; it is sent in the form PostgreSQL itself prints (`{"a": 1, "b":
//! [1, 2]}`, keys ordered by length and then bytes, numbers without exponent),
//! so the bytes are the ones the server sends back.
//!
//! PostgreSQL rejects the character U+0000 in `jsonb` strings and keys
//! ("unsupported Unicode escape sequence"): such values are rejected here. A
//! `json` column accepts it (as the escape `\u0000`), so `json` does too.
//!
//! `#[bulk(json)]` fields (any `T: serde::Serialize`) are serialized by
//! `serde_json` straight into the COPY buffer, in its compact form, for both
//! types: `json` keeps that text; `jsonb` is parsed by the server, so the value
//! stored is the same as for the `serde_json::Value` of the field (numbers are
//! parsed from the same shortest-round-trip text, the last of duplicate keys
//! wins in both), without building the `Value`.

use std::io::Write;

use serde_json::{Map, Number, Value};

use super::{Encode, EncodeError};
use crate::types::{SqlType, TypeKind};

/// The version byte of the binary `jsonb` format.
const JSONB_VERSION: u8 = 1;

impl Encode for Value {
    const SQL_TYPE: SqlType = SqlType::new(TypeKind::Jsonb);
    const ACCEPTS: &'static [TypeKind] = &[TypeKind::Jsonb, TypeKind::Json];

    fn encode(&self, ty: &SqlType, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        if ty.kind() == TypeKind::Json {
            // Writing into a Vec can't fail, and a Value always serializes.
            serde_json::to_writer(&mut *out, self)
                .map_err(|e| EncodeError::new(format!("JSON serialization failed: {e}")))?;
            return Ok(());
        }
        out.push(JSONB_VERSION);
        write_jsonb(self, out)
    }
}

/// A value written as JSON by `#[bulk(json)]`: every `serde::Serialize`
/// type. Not public API.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` can't be written as JSON: it does not implement `serde::Serialize`",
    label = "`#[bulk(json)]` needs `serde::Serialize`",
    note = "derive `serde::Serialize` for it, or implement it"
)]
pub trait JsonSerialize {
    /// Appends the value as a `jsonb` (`1`, then the text) or `json` (the
    /// text) column takes it in binary COPY.
    fn encode_json(&self, ty: &SqlType, out: &mut Vec<u8>) -> Result<(), EncodeError>;
}

impl<T: serde::Serialize + ?Sized> JsonSerialize for T {
    fn encode_json(&self, ty: &SqlType, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let start = out.len();
        let jsonb = ty.kind() != TypeKind::Json;
        if jsonb {
            out.push(JSONB_VERSION);
        }
        let text = out.len();
        if let Err(e) = serde_json::to_writer(&mut *out, self) {
            out.truncate(start);
            return Err(EncodeError::new(format!("JSON serialization failed: {e}")));
        }
        if jsonb && has_nul_escape(&out[text..]) {
            out.truncate(start);
            return Err(EncodeError::new(
                "jsonb cannot contain the character U+0000 (\\u0000); a json column can",
            ));
        }
        Ok(())
    }
}

/// Whether JSON text (as `serde_json` writes it) holds the escape `\u0000`.
/// Outside strings JSON has no backslash, and inside them every backslash
/// starts an escape, so escapes are found by skipping from one to the next.
fn has_nul_escape(text: &[u8]) -> bool {
    let mut i = 0;
    while let Some(at) = text[i..].iter().position(|&b| b == b'\\') {
        let escape = i + at;
        if text.get(escape + 1) == Some(&b'u') {
            if text.get(escape + 2..escape + 6) == Some(b"0000") {
                return true;
            }
            i = escape + 6;
        } else {
            i = escape + 2;
        }
        if i >= text.len() {
            return false;
        }
    }
    false
}

/// Writes `value` the way PostgreSQL's `jsonb_out` prints it.
fn write_jsonb(value: &Value, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => write_number(n, out),
        Value::String(s) => write_string(s, out)?,
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(b", ");
                }
                write_jsonb(item, out)?;
            }
            out.push(b']');
        }
        Value::Object(map) => write_object(map, out)?,
    }
    Ok(())
}

/// `jsonb` orders an object's keys by length, then bytewise.
fn write_object(map: &Map<String, Value>, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    entries.sort_unstable_by(|a, b| {
        a.0.len()
            .cmp(&b.0.len())
            .then_with(|| a.0.as_bytes().cmp(b.0.as_bytes()))
    });
    out.push(b'{');
    for (i, (key, value)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b", ");
        }
        write_string(key, out)?;
        out.extend_from_slice(b": ");
        write_jsonb(value, out)?;
    }
    out.push(b'}');
    Ok(())
}

/// A JSON string; `serde_json` escapes exactly what `jsonb_out` escapes
/// (`"`, `\`, and the control characters, as `\b \f \n \r \t` or `\u00xx`).
fn write_string(s: &str, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    if s.contains('\0') {
        return Err(EncodeError::new(
            "jsonb cannot contain the character U+0000 (\\u0000); a json column can",
        )
        .with_value(crate::encode::shorten(s, 40)));
    }
    serde_json::to_writer(&mut *out, s)
        .map_err(|e| EncodeError::new(format!("JSON serialization failed: {e}")))
}

/// A number as `numeric_out` prints it: `serde_json`'s text, with an exponent
/// expanded into plain digits (`1e-7` → `0.0000001`, `1e21` →
/// `1000000000000000000000`) and no sign on zero.
fn write_number(n: &Number, out: &mut Vec<u8>) {
    let start = out.len();
    // Writing into a Vec can't fail.
    let _ = write!(out, "{n}");
    let text = &out[start..];
    let needs_work = text.iter().any(|&b| b == b'e' || b == b'E')
        || (text[0] == b'-' && text[1..].iter().all(|&b| b == b'0' || b == b'.'));
    if !needs_work {
        return;
    }
    if let Some(plain) = plain_decimal(std::str::from_utf8(text).unwrap_or_default()) {
        out.truncate(start);
        out.extend_from_slice(plain.as_bytes());
    }
}

/// `[-]digits[.digits][e[+-]digits]` without exponent, with the scale
/// PostgreSQL's `numeric_in` gives it (digits after the point minus the
/// exponent, at least 0). `None` for an exponent beyond any `f64` (the text
/// is then sent as it is; the server parses it).
fn plain_decimal(text: &str) -> Option<String> {
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(at) => (&unsigned[..at], unsigned[at + 1..].parse::<i64>().ok()?),
        None => (unsigned, 0),
    };
    if !(-400..=400).contains(&exponent) {
        return None;
    }
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits: Vec<u8> = int.bytes().chain(frac.bytes()).collect();
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    // Position of the decimal point in `digits`.
    let point = int.len() as i64 + exponent;
    let scale = (frac.len() as i64 - exponent).max(0) as usize;

    let mut int_part = String::new();
    for i in 0..point.max(0) {
        int_part.push(digits.get(i as usize).map_or('0', |&d| d as char));
    }
    let int_part = int_part.trim_start_matches('0');
    let mut s = String::with_capacity(int_part.len() + scale + 3);
    if negative && digits.iter().any(|&d| d != b'0') {
        s.push('-');
    }
    s.push_str(if int_part.is_empty() { "0" } else { int_part });
    if scale > 0 {
        s.push('.');
        for i in 0..scale as i64 {
            let at = point + i;
            let digit = if at < 0 {
                b'0'
            } else {
                digits.get(at as usize).copied().unwrap_or(b'0')
            };
            s.push(digit as char);
        }
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn jsonb(v: &Value) -> Result<String, EncodeError> {
        let mut out = Vec::new();
        v.encode(&Value::SQL_TYPE, &mut out)?;
        assert_eq!(out[0], 1);
        Ok(String::from_utf8(out[1..].to_vec()).unwrap())
    }

    #[test]
    fn prints_like_jsonb_out() {
        assert_eq!(
            jsonb(&json!({"b": 1, "aa": [1, 2, {"x": null}], "a": 1.5})).unwrap(),
            r#"{"a": 1.5, "b": 1, "aa": [1, 2, {"x": null}]}"#
        );
        assert_eq!(jsonb(&json!([])).unwrap(), "[]");
        assert_eq!(jsonb(&json!({})).unwrap(), "{}");
        assert_eq!(
            jsonb(&json!("a\"\\\n\u{1f}\u{7f}é")).unwrap(),
            "\"a\\\"\\\\\\n\\u001f\u{7f}é\""
        );
        assert_eq!(jsonb(&json!(-0.0)).unwrap(), "0.0");
        assert_eq!(jsonb(&json!(1e-7)).unwrap(), "0.0000001");
        assert_eq!(jsonb(&json!(1.5e-7)).unwrap(), "0.00000015");
        assert_eq!(jsonb(&json!(1e21)).unwrap(), "1000000000000000000000");
        assert_eq!(jsonb(&json!(-1.25e3)).unwrap(), "-1250.0");
        assert_eq!(jsonb(&json!(u64::MAX)).unwrap(), "18446744073709551615");
    }

    #[test]
    fn plain_decimals() {
        assert_eq!(plain_decimal("1.5e300").unwrap().len(), 301);
        assert_eq!(plain_decimal("-0").unwrap(), "0");
        assert_eq!(plain_decimal("-0.000").unwrap(), "0.000");
        assert_eq!(plain_decimal("12.5E+1").unwrap(), "125");
        assert_eq!(plain_decimal("12.5e-1").unwrap(), "1.25");
        assert_eq!(plain_decimal("5e-324").unwrap().len(), 326);
        assert_eq!(plain_decimal("1e100000"), None);
    }

    fn serialized<T: serde::Serialize + ?Sized>(
        v: &T,
        kind: TypeKind,
    ) -> Result<Vec<u8>, EncodeError> {
        let mut out = vec![9];
        let r = v.encode_json(&SqlType::new(kind), &mut out);
        // Nothing is left behind on error.
        if r.is_err() {
            assert_eq!(out, [9]);
        }
        r.map(|()| out[1..].to_vec())
    }

    #[test]
    fn serialize_straight_into_the_buffer() {
        use std::collections::BTreeMap;
        let v = BTreeMap::from([("b", vec![1.5, 1e21]), ("a", vec![])]);
        assert_eq!(
            serialized(&v, TypeKind::Jsonb).unwrap(),
            b"\x01{\"a\":[],\"b\":[1.5,1e+21]}"
        );
        assert_eq!(
            serialized(&v, TypeKind::Json).unwrap(),
            b"{\"a\":[],\"b\":[1.5,1e+21]}"
        );
        // A map whose keys are not strings can't be JSON.
        let e = serialized(&BTreeMap::from([((1, 2), 3)]), TypeKind::Jsonb).unwrap_err();
        assert!(
            e.reason()
                .starts_with("JSON serialization failed: key must be a string"),
            "{e}"
        );
    }

    #[test]
    fn nul_escapes_are_found_exactly() {
        assert!(has_nul_escape(br#"["a\u0000"]"#));
        assert!(has_nul_escape(br#"{"\u0000":1}"#));
        assert!(!has_nul_escape(br#"["a\\u0000"]"#));
        assert!(has_nul_escape(br#"["a\\\u0000"]"#));
        assert!(has_nul_escape(br#"["\n\u00000"]"#));
        assert!(!has_nul_escape(br#"["\u0001\n"]"#));
        assert!(!has_nul_escape(br#"["\""]"#));
        let e = serialized(&["x", "a\u{0}"], TypeKind::Jsonb).unwrap_err();
        assert!(e.reason().contains("U+0000"), "{e}");
        assert_eq!(
            serialized(&["a\u{0}"], TypeKind::Json).unwrap(),
            br#"["a\u0000"]"#
        );
        assert_eq!(
            serialized(&"\\u0000", TypeKind::Jsonb).unwrap(),
            b"\x01\"\\\\u0000\""
        );
    }

    #[test]
    fn nul_only_in_json() {
        let v = json!({"k": ["a\u{0}b"]});
        let e = jsonb(&v).unwrap_err();
        assert!(e.reason().contains("U+0000"), "{e}");
        let e = jsonb(&json!({"\u{0}": 1})).unwrap_err();
        assert!(e.reason().contains("U+0000"), "{e}");
        let mut out = Vec::new();
        v.encode(&SqlType::new(TypeKind::Json), &mut out).unwrap();
        assert_eq!(out, br#"{"k":["a\u0000b"]}"#);
    }
}
