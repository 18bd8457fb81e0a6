//! The high watermark: how far an incremental load got, stored in the
//! comment of each table a call loads, as the Python original stores it
//! (`{"pg-bulk-ingest": {"high-watermark": <value>}}`), and read back by
//! [`high_watermark`]. The comment's JSON is handled here; the statement is
//! [`sql::comment_on_table`], the read [`catalog::read_comment`].

use std::fmt;

use postgres::GenericClient;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::catalog;
use crate::error::{Error, OnTable, Result};
use crate::ident::QualifiedName;
use crate::row::BulkRows;
use crate::sql;
use crate::table::TableDef;

/// The member of a table's comment that is the library's (and the Python
/// original's).
const KEY: &str = "pg-bulk-ingest";
/// The member of [`KEY`]'s object that holds the watermark.
const HIGH_WATERMARK: &str = "high-watermark";
/// Where a comment that is not a JSON object is kept, as it was written,
/// once a watermark is stored with it (PostgreSQL calls comments
/// descriptions: `pg_description`, `obj_description`).
const DESCRIPTION: &str = "description";

/// The high watermark stored with `T`'s tables, as the last call with
/// [`Ingest::high_watermark`](crate::Ingest::high_watermark) committed it
/// (or the Python original stored it); `None` when none is stored. See
/// [Incremental loads](crate#incremental-loads).
///
/// Each table's comment is read: a JSON object whose member
/// `"pg-bulk-ingest"` is an object with a member `"high-watermark"` holds
/// one. A JSON string comes back as the string, any other JSON value as its
/// JSON text as written (`42`, `{"id": 7}`); `null` is no watermark (as the
/// Python original reads it). A table that doesn't exist, has no comment, a
/// comment that isn't such JSON, or no watermark in it, holds none.
///
/// For a [`BulkRows`] type of several tables, the tables that hold a
/// watermark must agree and their watermark is returned; tables that hold
/// none are passed over: a table added to the enum after the last load, and
/// the tables but the first of a load by the Python original, which stores
/// the watermark in its first table only. `None` when no table holds one.
///
/// `client` may be a [`postgres::Client`] or a transaction (a transaction
/// sees the watermark a call stored in it before it commits). Reads the
/// catalog only, and takes no lock.
///
/// ```no_run
/// # use pg_bulk_ingest::{BulkTable, Ingest};
/// #[derive(BulkTable)]
/// struct Order { #[bulk(primary_key)] id: i64, updated: String }
///
/// # fn fetch_since(_: Option<&str>) -> (Vec<Order>, String) { unimplemented!() }
/// # fn run(client: &mut postgres::Client) -> Result<(), Box<dyn std::error::Error>> {
/// let since = pg_bulk_ingest::high_watermark::<Order>(client)?;
/// let (orders, until) = fetch_since(since.as_deref());
/// let mut tx = client.transaction()?;
/// Ingest::new().high_watermark(until).upsert(&mut tx, &orders)?;
/// tx.commit()?;
/// # Ok(()) }
/// ```
///
/// # Errors
/// [`Error::WatermarksDiffer`] when two tables hold different watermarks
/// (a table was loaded on its own with another one); [`Error::Postgres`]
/// when the catalog can't be read.
pub fn high_watermark<T: BulkRows>(client: &mut impl GenericClient) -> Result<Option<String>> {
    let mut found: Vec<(String, String)> = Vec::new();
    for def in T::TABLES {
        let name = def.name().to_string();
        let comment = catalog::read_comment(client, def.schema, def.table).on(&name)?;
        if let Some(value) = comment.as_deref().and_then(stored) {
            found.push((name, value));
        }
    }
    let Some((_, first)) = found.first() else {
        return Ok(None);
    };
    if found.iter().all(|(_, value)| value == first) {
        return Ok(Some(first.clone()));
    }
    Err(Error::WatermarksDiffer { watermarks: found })
}

/// The watermark a table's comment holds (see [`high_watermark`]).
pub(crate) fn stored(comment: &str) -> Option<String> {
    let value = Members::parse(comment)?
        .get(KEY)
        .and_then(Members::parse)?
        .get(HIGH_WATERMARK)?
        .to_owned();
    match serde_json::from_str::<Option<String>>(&value) {
        Ok(Some(text)) => Some(text),
        Ok(None) => None,
        Err(_) => Some(value),
    }
}

/// `comment` with the high watermark set to `value` (a JSON string): every
/// other member kept as it was written and where it was, the library's
/// member added at the end when it is missing. A comment that isn't a JSON
/// object (text a person wrote) is kept whole as the string member
/// `"description"`.
pub(crate) fn with_watermark(comment: Option<&str>, value: &str) -> String {
    let mut outer = match comment {
        None => Members::default(),
        Some(text) => Members::parse(text)
            .unwrap_or_else(|| Members(vec![(DESCRIPTION.to_owned(), json_string(text))])),
    };
    let mut ours = outer.get(KEY).and_then(Members::parse).unwrap_or_default();
    ours.set(HIGH_WATERMARK, json_string(value));
    outer.set(KEY, ours.to_string());
    outer.to_string()
}

/// Stores `value` in the comment of `def`'s schema's table `table` (the
/// live table, or the new table of a swap): the comment is read again and
/// set with [`with_watermark`].
pub(crate) fn store(
    tx: &mut impl GenericClient,
    def: &TableDef,
    table: &str,
    value: &str,
) -> Result<(), postgres::Error> {
    let comment = catalog::read_comment(tx, def.schema, table)?;
    let statement = sql::comment_on_table(
        &QualifiedName::new(def.schema, table),
        &with_watermark(comment.as_deref(), value),
    );
    log::debug!("{statement}");
    tx.batch_execute(&statement)
}

fn json_string(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}

/// A JSON object's members in the order written, each value as its JSON
/// text as written (numbers, nested objects and their spacing kept).
#[derive(Debug, Default, PartialEq)]
struct Members(Vec<(String, String)>);

impl Members {
    /// `text` as an object; `None` when it isn't one (or isn't JSON).
    fn parse(text: &str) -> Option<Members> {
        serde_json::from_str(text).ok()
    }

    /// The value of member `key` (the last, if it repeats, as JSON parsers
    /// read it).
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Sets member `key` (each of them, if it repeats) to `json`, or adds it
    /// at the end.
    fn set(&mut self, key: &str, json: String) {
        let mut found = false;
        for (k, v) in &mut self.0 {
            if k == key {
                v.clone_from(&json);
                found = true;
            }
        }
        if !found {
            self.0.push((key.to_owned(), json));
        }
    }
}

/// The object, members separated as the Python original separates them
/// (`", "` and `": "`).
impl fmt::Display for Members {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, (key, value)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}: {value}", json_string(key))?;
        }
        f.write_str("}")
    }
}

impl<'de> Deserialize<'de> for Members {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Object;
        impl<'de> Visitor<'de> for Object {
            type Value = Members;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members, A::Error> {
                let mut members = Vec::new();
                while let Some((key, value)) = map.next_entry::<String, Box<RawValue>>()? {
                    members.push((key, value.get().to_owned()));
                }
                Ok(Members(members))
            }
        }
        deserializer.deserialize_map(Object)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_the_python_original_writes() {
        let python = r#"{"pg-bulk-ingest": {"high-watermark": "2024-01-01"}, "owner": "x"}"#;
        assert_eq!(stored(python).as_deref(), Some("2024-01-01"));
        assert_eq!(
            stored(r#"{"pg-bulk-ingest": {"high-watermark": 42}}"#).as_deref(),
            Some("42")
        );
        assert_eq!(
            stored(r#"{"pg-bulk-ingest":{"high-watermark":{"id": 7, "at": [1,2]}}}"#).as_deref(),
            Some(r#"{"id": 7, "at": [1,2]}"#)
        );
        assert_eq!(
            stored(r#"{"pg-bulk-ingest": {"high-watermark": "caf\u00e9 \"x\""}}"#).as_deref(),
            Some("café \"x\"")
        );
        assert_eq!(
            stored(r#"{"pg-bulk-ingest": {"high-watermark": null}}"#),
            None
        );
        for none in [
            "daily rates",
            "",
            "42",
            "[1, 2]",
            r#""pg-bulk-ingest""#,
            r#"{"pg-bulk-ingest": "x"}"#,
            r#"{"pg-bulk-ingest": {}}"#,
            r#"{"owner": "x"}"#,
            r#"{"pg-bulk-ingest": {"high-watermark": 1}"#,
        ] {
            assert_eq!(stored(none), None, "{none}");
        }
        // A repeated member reads as JSON parsers read it: the last one.
        assert_eq!(
            stored(r#"{"pg-bulk-ingest": {"high-watermark": "1", "high-watermark": "2"}}"#)
                .as_deref(),
            Some("2")
        );
    }

    #[test]
    fn writes_what_the_python_original_writes() {
        assert_eq!(
            with_watermark(None, "2026-11-30T06:00:00Z"),
            r#"{"pg-bulk-ingest": {"high-watermark": "2026-11-30T06:00:00Z"}}"#
        );
        assert_eq!(
            with_watermark(None, "it's \"quoted\" \\ é\n"),
            r#"{"pg-bulk-ingest": {"high-watermark": "it's \"quoted\" \\ é\n"}}"#
        );
        for value in ["", "a", "é \u{0} \"", "null", "42"] {
            assert_eq!(stored(&with_watermark(None, value)).as_deref(), Some(value));
        }
    }

    #[test]
    fn keeps_every_other_member_as_written() {
        let comment = r#" {"owner": "x", "n": 1.50e3, "pg-bulk-ingest": {"high-watermark": 42, "by": "python"}, "big": 123456789012345678901234567890 } "#;
        assert_eq!(
            with_watermark(Some(comment), "43"),
            r#"{"owner": "x", "n": 1.50e3, "pg-bulk-ingest": {"high-watermark": "43", "by": "python"}, "big": 123456789012345678901234567890}"#
        );
        assert_eq!(
            with_watermark(Some(r#"{"owner": {"team":"a"}}"#), "1"),
            r#"{"owner": {"team":"a"}, "pg-bulk-ingest": {"high-watermark": "1"}}"#
        );
        // Not an object where the library's member should be: it is the
        // library's member, and becomes one.
        assert_eq!(
            with_watermark(Some(r#"{"pg-bulk-ingest": [1]}"#), "1"),
            r#"{"pg-bulk-ingest": {"high-watermark": "1"}}"#
        );
    }

    #[test]
    fn text_a_person_wrote_is_kept_whole_as_the_description() {
        for text in [
            "Orders from the shop; it's \\ fine",
            "line one\nline two\t\"quoted\"",
            "42",
            "[1, 2]",
            r#""a JSON string""#,
            r#"{"not": "closed""#,
        ] {
            let comment = with_watermark(Some(text), "7");
            let members = Members::parse(&comment).expect("an object");
            let description: String =
                serde_json::from_str(members.get(DESCRIPTION).unwrap()).unwrap();
            assert_eq!(description, text);
            assert_eq!(stored(&comment).as_deref(), Some("7"));
            // And it stays so when the next watermark is stored.
            assert_eq!(
                with_watermark(Some(&comment), "8"),
                comment.replace(r#""high-watermark": "7""#, r#""high-watermark": "8""#)
            );
        }
        assert_eq!(
            with_watermark(Some("daily rates"), "1"),
            r#"{"description": "daily rates", "pg-bulk-ingest": {"high-watermark": "1"}}"#
        );
    }
}
