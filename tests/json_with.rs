//! `#[bulk(json)]` (any `serde::Serialize` type as `jsonb` or `json`) and
//! `#[bulk(with = path)]` (a foreign type written by a module's functions):
//! round trips through insert and upsert, NULLs for `Option` fields,
//! serialization and encoding errors reported with row and column.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use pg_bulk_ingest::{BulkTable, Encode, EncodeError, Error, SqlType, TypeKind};
use postgres::{Client, GenericClient};
use serde::{Serialize, Serializer};
use serde_json::{json, Value};

fn connect(prefix: &str) -> (pg_bulk_ingest_testkit::TestDb, Client) {
    let db = pg_bulk_ingest_testkit::server().create_database(prefix);
    let client = db.connect();
    (db, client)
}

fn insert<T>(client: &mut Client, rows: Vec<T>) -> pg_bulk_ingest::Result<pg_bulk_ingest::Report>
where
    T: BulkTable + pg_bulk_ingest::AsRow,
{
    let mut tx = client.transaction().unwrap();
    let report = pg_bulk_ingest::insert(&mut tx, rows)?;
    tx.commit().unwrap();
    Ok(report)
}

/// `(format_type, not null)` of every column of `table`, in order.
fn columns(client: &mut impl GenericClient, table: &str) -> Vec<(String, bool)> {
    client
        .query(
            "SELECT format_type(atttypid, atttypmod), attnotnull FROM pg_attribute \
             WHERE attrelid = $1::text::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
            &[&table],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

fn table_oid(client: &mut impl GenericClient, table: &str) -> Option<u32> {
    client
        .query_one("SELECT to_regclass($1)::oid", &[&table])
        .unwrap()
        .get(0)
}

// ---------------------------------------------------------------------------
// json

#[derive(Serialize, Debug, Clone, PartialEq)]
struct Address {
    street: String,
    zip: Option<u32>,
    tags: Vec<String>,
    #[serde(rename = "geo")]
    location: (f64, f64),
    kind: Kind,
}

#[derive(Serialize, Debug, Clone, Copy, PartialEq)]
#[serde(rename_all = "lowercase")]
enum Kind {
    Home,
    Work,
}

#[derive(BulkTable, Debug, Clone, PartialEq)]
#[bulk(schema = "j", table = "person")]
struct Person {
    #[bulk(primary_key)]
    id: i64,
    #[bulk(json)]
    address: Address,
    #[bulk(json, sql_type = "json")]
    raw: BTreeMap<String, Vec<i64>>,
    #[bulk(json)]
    second: Option<Address>,
    #[bulk(json, sql_type = "JSONB")]
    big: u128,
    #[bulk(json, sql_type = "json")]
    maybe_raw: Option<Vec<Option<String>>>,
}

fn person(id: i64) -> Person {
    let address = |street: &str| Address {
        street: street.to_owned(),
        zip: (id % 2 == 0).then_some(10_000 + id as u32),
        tags: vec!["a\"b\\c\n\u{1f}é\u{7f}".to_owned(), format!("t{id}")],
        location: (0.1 * id as f64, -1e-7),
        kind: if id % 3 == 0 { Kind::Home } else { Kind::Work },
    };
    Person {
        id,
        address: address(&format!("{id} Main St")),
        raw: BTreeMap::from([("zz".to_owned(), vec![id, -id]), ("a".to_owned(), vec![])]),
        second: (id % 2 == 1).then(|| address("Second St")),
        // Beyond u64: a `serde_json::Value` can't hold it.
        big: u128::MAX - id as u128,
        maybe_raw: (id % 3 != 0).then(|| vec![None, Some(format!("x{id}"))]),
    }
}

/// Checks the stored values of `expected` against what PostgreSQL makes of
/// serde_json's own text: `jsonb` equal to its parse, `json` the text itself.
fn check_people(client: &mut impl GenericClient, expected: &[Person]) {
    let stored: Vec<i64> = client
        .query("SELECT id FROM j.person ORDER BY id", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(stored, expected.iter().map(|p| p.id).collect::<Vec<_>>());
    for p in expected {
        let text = |v: &dyn erased::Ser| v.text();
        let row = client
            .query_one(
                "SELECT address = $2::text::jsonb, raw::text, second IS NULL, \
                        second = $3::text::jsonb, big::text, maybe_raw::text, \
                        address -> 'geo' = '[0.1, -0.0000001]'::jsonb OR $1::int8 <> 1 \
                 FROM j.person WHERE id = $1",
                &[
                    &p.id,
                    &text(&p.address),
                    &p.second.as_ref().map(|s| text(s)),
                ],
            )
            .unwrap();
        assert!(row.get::<_, bool>(0), "address of {}", p.id);
        assert_eq!(row.get::<_, String>(1), text(&p.raw), "raw of {}", p.id);
        assert_eq!(row.get::<_, bool>(2), p.second.is_none());
        assert_eq!(
            row.get::<_, Option<bool>>(3),
            p.second.as_ref().map(|_| true)
        );
        assert_eq!(row.get::<_, String>(4), p.big.to_string());
        assert_eq!(
            row.get::<_, Option<String>>(5),
            p.maybe_raw.as_ref().map(|m| text(m))
        );
        assert!(row.get::<_, bool>(6), "geo of {}", p.id);
    }
}

/// serde_json's compact text of any `Serialize` value, behind `dyn`.
mod erased {
    pub trait Ser {
        fn text(&self) -> String;
    }
    impl<T: serde::Serialize> Ser for T {
        fn text(&self) -> String {
            serde_json::to_string(self).unwrap()
        }
    }
}

#[test]
fn json_fields_round_trip() {
    let (_db, mut client) = connect("json_with_round_trip");
    let people: Vec<Person> = (0..6).map(person).collect();
    let report = insert(&mut client, people.clone()).unwrap();
    assert!(report.tables[0].created);
    assert_eq!(
        columns(&mut client, "j.person"),
        [
            ("bigint".to_owned(), true),
            ("jsonb".to_owned(), true),
            ("json".to_owned(), true),
            ("jsonb".to_owned(), false),
            ("jsonb".to_owned(), true),
            ("json".to_owned(), false),
        ]
    );
    check_people(&mut client, &people);
    // The jsonb is the one of the field's `serde_json::Value`.
    let same: bool = client
        .query_one(
            "SELECT address = $1 FROM j.person WHERE id = 4",
            &[&serde_json::to_value(&people[4].address).unwrap()],
        )
        .unwrap()
        .get(0);
    assert!(same);
    let back: Value = client
        .query_one("SELECT address FROM j.person WHERE id = 3", &[])
        .unwrap()
        .get(0);
    assert_eq!(
        back,
        json!({
            "street": "3 Main St",
            "zip": null,
            "tags": ["a\"b\\c\n\u{1f}é\u{7f}", "t3"],
            "geo": [0.30000000000000004, -1e-7],
            "kind": "home",
        })
    );
    // A re-run changes nothing.
    let oid = table_oid(&mut client, "j.person");
    let plan = pg_bulk_ingest::plan::<Person>(&mut client, pg_bulk_ingest::Mode::Insert).unwrap();
    assert!(plan.to_string().contains("nothing to change"), "{plan}");
    insert(&mut client, (6..8).map(person).collect()).unwrap();
    assert_eq!(table_oid(&mut client, "j.person"), oid);
    check_people(&mut client, &(0..8).map(person).collect::<Vec<_>>());
}

#[test]
fn json_fields_upsert_skips_unchanged_rows() {
    let (_db, mut client) = connect("json_with_upsert");
    let mut people: Vec<Person> = (0..4).map(person).collect();
    let mut tx = client.transaction().unwrap();
    pg_bulk_ingest::upsert(&mut tx, &people).unwrap();
    tx.commit().unwrap();

    let mut tx = client.transaction().unwrap();
    let report = pg_bulk_ingest::upsert(&mut tx, &people).unwrap();
    tx.commit().unwrap();
    assert_eq!(
        report.tables[0].written, 0,
        "the same values are not rewritten"
    );

    people[1].address.tags.push("new".into());
    people[2].second = Some(people[2].address.clone()); // NULL -> a value
    people[3].second = None; // a value -> NULL
    people[3].maybe_raw = Some(Vec::new());
    let mut tx = client.transaction().unwrap();
    let report = pg_bulk_ingest::upsert(&mut tx, &people).unwrap();
    tx.commit().unwrap();
    assert_eq!(report.tables[0].written, 3);
    check_people(&mut client, &people);
}

/// A `Serialize` implementation that fails.
struct Fails;

impl Serialize for Fails {
    fn serialize<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom(
            "this value refuses to be serialized",
        ))
    }
}

#[derive(BulkTable)]
#[bulk(schema = "j", table = "bad")]
struct Bad {
    id: i64,
    #[bulk(json)]
    by_pair: BTreeMap<(i32, i32), i32>,
    #[bulk(json, sql_type = "json")]
    fails: Option<Fails>,
    #[bulk(json)]
    text: String,
}

#[test]
fn json_errors_name_the_row_the_column_and_the_reason() {
    let (_db, mut client) = connect("json_with_errors");
    let ok = |id| Bad {
        id,
        by_pair: BTreeMap::new(),
        fails: None,
        text: "fine".into(),
    };
    let cases: Vec<(Bad, &str, &str)> = vec![
        (
            Bad {
                by_pair: BTreeMap::from([((1, 2), 3)]),
                ..ok(1)
            },
            "by_pair",
            "JSON serialization failed: key must be a string",
        ),
        (
            Bad {
                fails: Some(Fails),
                ..ok(1)
            },
            "fails",
            "JSON serialization failed: this value refuses to be serialized",
        ),
        (
            Bad {
                text: "a\u{0}b".into(),
                ..ok(1)
            },
            "text",
            "jsonb cannot contain the character U+0000",
        ),
    ];
    for (bad, column, reason) in cases {
        let err = insert(&mut client, vec![ok(0), bad, ok(2)]).unwrap_err();
        match &err {
            Error::InvalidValue {
                row,
                column: c,
                reason: r,
                ..
            } => {
                assert_eq!((*row, c.as_str()), (1, column), "{err}");
                assert!(r.starts_with(reason), "{r}");
            }
            other => panic!("expected InvalidValue, got {other:?}"),
        }
        assert_eq!(table_oid(&mut client, "j.bad"), None);
    }
    // The empty map, NULL and a plain string are fine; a json column keeps
    // U+0000 as its escape.
    #[derive(BulkTable)]
    #[bulk(schema = "j", table = "nul")]
    struct Nul {
        #[bulk(json, sql_type = "json")]
        text: String,
    }
    insert(&mut client, vec![ok(0), ok(1)]).unwrap();
    insert(
        &mut client,
        vec![Nul {
            text: "a\u{0}b".into(),
        }],
    )
    .unwrap();
    let stored: String = client
        .query_one("SELECT text::text FROM j.nul", &[])
        .unwrap()
        .get(0);
    assert_eq!(stored, r#""a\u0000b""#);
}

// ---------------------------------------------------------------------------
// with

/// `PathBuf` as text, through `str`'s own checks.
mod path_text {
    use pg_bulk_ingest::{Encode, EncodeError, SqlType, TypeKind};
    use std::path::PathBuf;

    pub const SQL_TYPE: SqlType = SqlType::new(TypeKind::Text);

    pub fn encode(value: &PathBuf, ty: &SqlType, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let text = value
            .to_str()
            .ok_or_else(|| EncodeError::new("the path is not UTF-8").with_value(value))?;
        text.encode(ty, out)
    }
}

/// A pair as a two-element `integer[]`.
mod pair_array {
    use pg_bulk_ingest::{Encode, EncodeError, SqlType, TypeKind};

    pub const SQL_TYPE: SqlType = SqlType::new(TypeKind::Int4).array();

    pub fn encode(value: &(i32, i32), ty: &SqlType, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        [value.0, value.1][..].encode(ty, out)
    }
}

/// Anything `Display` as `varchar(24)`: a generic `encode`.
mod display_text {
    use pg_bulk_ingest::{Encode, EncodeError, SqlType, TypeKind};

    pub const SQL_TYPE: SqlType = SqlType::new(TypeKind::Varchar).with_length(24);

    pub fn encode<T: std::fmt::Display>(
        value: &T,
        ty: &SqlType,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        value.to_string().as_str().encode(ty, out)
    }
}

/// A type (not a module) as the `with` path: a duration in whole
/// milliseconds, as `bigint`.
struct Millis;

impl Millis {
    const SQL_TYPE: SqlType = SqlType::new(TypeKind::Int8);

    fn encode(value: &Duration, ty: &SqlType, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        if !value.subsec_nanos().is_multiple_of(1_000_000) {
            return Err(EncodeError::new("not a whole number of milliseconds").with_value(value));
        }
        i64::try_from(value.as_millis())
            .map_err(|_| EncodeError::new("too long for bigint milliseconds"))?
            .encode(ty, out)
    }
}

#[derive(BulkTable, Debug, Clone, PartialEq)]
#[bulk(schema = "w", table = "file")]
struct File {
    #[bulk(primary_key, with = path_text)]
    path: PathBuf,
    #[bulk(with = "path_text")]
    target: Option<PathBuf>,
    #[bulk(with = pair_array)]
    size: (i32, i32),
    #[bulk(with = display_text)]
    peer: SocketAddr,
    #[bulk(with = Millis, rename = "age_ms")]
    age: Duration,
}

fn file(n: u16) -> File {
    File {
        path: PathBuf::from(format!("/srv/f{n}")),
        target: n
            .is_multiple_of(2)
            .then(|| PathBuf::from(format!("../t{n}"))),
        size: (i32::from(n), -i32::from(n)),
        peer: SocketAddr::from(([10, 0, 0, n as u8], 8000 + n)),
        age: Duration::from_millis(u64::from(n) * 1500),
    }
}

fn read_files(client: &mut impl GenericClient) -> Vec<File> {
    client
        .query(
            "SELECT path, target, size, peer, age_ms FROM w.file ORDER BY path",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| {
            let size: Vec<i32> = r.get(2);
            File {
                path: PathBuf::from(r.get::<_, String>(0)),
                target: r.get::<_, Option<String>>(1).map(PathBuf::from),
                size: (size[0], size[1]),
                peer: r.get::<_, String>(3).parse().unwrap(),
                age: Duration::from_millis(r.get::<_, i64>(4) as u64),
            }
        })
        .collect()
}

#[test]
fn with_fields_round_trip() {
    let (_db, mut client) = connect("json_with_with");
    assert_eq!(File::TABLE.columns[4].name, "age_ms");
    let files: Vec<File> = (1..5).map(file).collect();
    insert(&mut client, files.clone()).unwrap();
    assert_eq!(
        columns(&mut client, "w.file"),
        [
            ("text".to_owned(), true),
            ("text".to_owned(), false),
            ("integer[]".to_owned(), true),
            ("character varying(24)".to_owned(), true),
            ("bigint".to_owned(), true),
        ]
    );
    let key: String = client
        .query_one(
            "SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = 'w.file'::regclass AND indisprimary",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(key.ends_with("(path)"), "{key}");
    assert_eq!(read_files(&mut client), files);

    // Upsert by the `with` key; a re-run changes nothing.
    let oid = table_oid(&mut client, "w.file");
    let mut changed = files.clone();
    changed[0].target = Some(PathBuf::from("elsewhere"));
    changed[1].target = None;
    changed.push(file(9));
    let mut tx = client.transaction().unwrap();
    let report = pg_bulk_ingest::upsert(&mut tx, &changed).unwrap();
    tx.commit().unwrap();
    assert_eq!(report.tables[0].written, 3);
    assert_eq!(table_oid(&mut client, "w.file"), oid);
    assert_eq!(read_files(&mut client), changed);
}

#[test]
fn with_errors_name_the_row_and_the_column() {
    let (_db, mut client) = connect("json_with_with_errors");
    let mut late = file(3);
    late.age = Duration::from_micros(1500);
    let mut wide = file(4);
    wide.peer = "[2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff]:65535"
        .parse()
        .unwrap();
    let mut cases = vec![
        (late, "age_ms", "not a whole number of milliseconds"),
        (wide, "peer", "value too long for character varying(24)"),
    ];
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let mut not_utf8 = file(5);
        not_utf8.target = Some(PathBuf::from(std::ffi::OsStr::from_bytes(b"\xff")));
        cases.push((not_utf8, "target", "the path is not UTF-8"));
    }
    for (bad, column, reason) in cases {
        let err = insert(&mut client, vec![file(1), file(2), bad]).unwrap_err();
        assert_eq!((err.row(), err.column()), (Some(2), Some(column)), "{err}");
        assert!(err.to_string().contains(reason), "{err}");
        assert_eq!(table_oid(&mut client, "w.file"), None);
    }
}
