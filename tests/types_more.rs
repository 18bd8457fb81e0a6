//! Round trips of the newer column types (uuid, inet, json/jsonb, arrays,
//! intervals, `time` crate types, `DateTime<FixedOffset>`, `char`, `i8`,
//! `u16`, `u32`, `u64`) through real tables with `insert`, `upsert` and
//! `replace`,
//! read back with the `postgres` crate's own decoders, including properties
//! over random values (64 cases each, one table per property reused by every
//! case, each case rolled back).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use chrono::{DateTime, FixedOffset, NaiveDate, TimeDelta, TimeZone, Utc};
use pg_bulk_ingest::{BulkTable, Encode, Error};
use postgres::types::{FromSql, Type};
use postgres::{Client, Transaction};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{json, Number, Value};

// ---------------------------------------------------------------------------
// Helpers.

/// An `interval` as PostgreSQL sends it in binary: µs, days, months.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
struct Interval {
    micros: i64,
    days: i32,
    months: i32,
}

impl Interval {
    fn micros(micros: i64) -> Interval {
        Interval {
            micros,
            days: 0,
            months: 0,
        }
    }
}

impl<'a> FromSql<'a> for Interval {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        if raw.len() != 16 {
            return Err(format!("interval of {} bytes", raw.len()).into());
        }
        Ok(Interval {
            micros: i64::from_be_bytes(raw[..8].try_into()?),
            days: i32::from_be_bytes(raw[8..12].try_into()?),
            months: i32::from_be_bytes(raw[12..].try_into()?),
        })
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::INTERVAL
    }
}

/// Nanoseconds to µs, half to even (what the encoders promise).
fn round_nanos(nanos: i128) -> i64 {
    let micros = nanos.div_euclid(1000);
    let rest = nanos.rem_euclid(1000);
    let micros = if rest > 500 || (rest == 500 && micros % 2 != 0) {
        micros + 1
    } else {
        micros
    };
    i64::try_from(micros).unwrap()
}

fn runner() -> TestRunner {
    TestRunner::new(Config {
        cases: 64,
        failure_persistence: None,
        ..Config::default()
    })
}

/// Runs `property` over `strategy` with one shared client.
fn check<S: Strategy>(
    client: &mut Client,
    strategy: S,
    property: impl Fn(&mut Client, S::Value) -> Result<(), TestCaseError>,
) where
    S::Value: std::fmt::Debug,
{
    let client = RefCell::new(client);
    runner()
        .run(&strategy, |value| property(&mut client.borrow_mut(), value))
        .unwrap_or_else(|e| panic!("{e}"));
}

/// The live columns' types as `format_type` gives them, in order.
fn live_types(tx: &mut impl postgres::GenericClient, table: &str) -> Vec<String> {
    tx.query(
        "SELECT pg_catalog.format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_attribute a \
         WHERE a.attrelid = $1::text::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        &[&table],
    )
    .unwrap()
    .iter()
    .map(|r| r.get(0))
    .collect()
}

fn declared_types<T: BulkTable>() -> Vec<String> {
    T::TABLE
        .columns
        .iter()
        .map(|c| c.sql_type.to_string())
        .collect()
}

/// Creates `T`'s table (with no rows) and checks that PostgreSQL's spelling
/// of every column type is ours.
fn create<T: BulkTable + pg_bulk_ingest::AsRow<Row = T>>(client: &mut Client, table: &str) {
    let mut tx = client.transaction().unwrap();
    let report = pg_bulk_ingest::insert(&mut tx, Vec::<T>::new()).unwrap();
    assert!(report.tables[0].created);
    tx.commit().unwrap();
    let live = live_types(client, table);
    assert_eq!(live, declared_types::<T>(), "{table}");
}

// ---------------------------------------------------------------------------
// Scalars.

#[derive(BulkTable, Debug, Clone, PartialEq)]
#[bulk(table = "scalars")]
struct Scalars {
    #[bulk(primary_key)]
    id: uuid::Uuid,
    addr: IpAddr,
    v4: Option<Ipv4Addr>,
    v6: Ipv6Addr,
    small: i8,
    port: u16,
    count: u32,
    big: u64,
    #[bulk(sql_type = "bigint")]
    big_id: u64,
    initial: char,
    #[bulk(sql_type = "text")]
    letter: char,
    took: TimeDelta,
    waited: std::time::Duration,
    at: DateTime<FixedOffset>,
    day: time::Date,
    clock: time::Time,
    local: time::PrimitiveDateTime,
    stamp: time::OffsetDateTime,
    span: time::Duration,
}

const SCALAR_TYPES: [&str; 19] = [
    "uuid",
    "inet",
    "inet",
    "inet",
    "smallint",
    "integer",
    "bigint",
    "numeric(20,0)",
    "bigint",
    "character(1)",
    "text",
    "interval",
    "interval",
    "timestamp with time zone",
    "date",
    "time without time zone",
    "timestamp without time zone",
    "timestamp with time zone",
    "interval",
];

/// What PostgreSQL gives back for a `Scalars` row, in comparable form.
#[derive(Debug, PartialEq)]
struct ScalarsBack {
    id: uuid::Uuid,
    addr: IpAddr,
    v4: Option<IpAddr>,
    v6: IpAddr,
    small: i16,
    port: i32,
    count: i64,
    big: String,
    big_id: i64,
    initial: String,
    letter: String,
    took: Interval,
    waited: Interval,
    at: DateTime<Utc>,
    day: time::Date,
    clock: time::Time,
    local: time::PrimitiveDateTime,
    stamp: time::OffsetDateTime,
    span: Interval,
}

impl ScalarsBack {
    fn expected(s: &Scalars) -> ScalarsBack {
        ScalarsBack {
            id: s.id,
            addr: s.addr,
            v4: s.v4.map(IpAddr::V4),
            v6: IpAddr::V6(s.v6),
            small: s.small.into(),
            port: s.port.into(),
            count: s.count.into(),
            big: s.big.to_string(),
            big_id: i64::try_from(s.big_id).unwrap(),
            initial: s.initial.to_string(),
            letter: s.letter.to_string(),
            took: Interval::micros(round_nanos(
                i128::from(s.took.num_seconds()) * 1_000_000_000
                    + i128::from(s.took.subsec_nanos()),
            )),
            waited: Interval::micros(round_nanos(s.waited.as_nanos() as i128)),
            at: s.at.with_timezone(&Utc),
            day: s.day,
            clock: s.clock,
            local: s.local,
            stamp: s.stamp.to_offset(time::UtcOffset::UTC),
            span: Interval::micros(round_nanos(s.span.whole_nanoseconds())),
        }
    }
}

fn read_scalars(tx: &mut Transaction<'_>) -> Vec<ScalarsBack> {
    tx.query(
        "SELECT id, addr, v4, v6, small, port, count, big::text, big_id, initial, letter, \
         took, waited, at, day, clock, local, stamp, span FROM public.scalars ORDER BY id",
        &[],
    )
    .unwrap()
    .iter()
    .map(|r| ScalarsBack {
        id: r.get(0),
        addr: r.get(1),
        v4: r.get(2),
        v6: r.get(3),
        small: r.get(4),
        port: r.get(5),
        count: r.get(6),
        big: r.get(7),
        big_id: r.get(8),
        initial: r.get(9),
        letter: r.get(10),
        took: r.get(11),
        waited: r.get(12),
        at: r.get(13),
        day: r.get(14),
        clock: r.get(15),
        local: r.get(16),
        stamp: r.get(17),
        span: r.get(18),
    })
    .collect()
}

fn any_char() -> impl Strategy<Value = char> {
    any::<char>().prop_filter("no NUL", |c| *c != '\0')
}

/// A `time::Time` with whole microseconds (rounding is checked byte for byte
/// in `encode_exact`).
fn any_clock() -> impl Strategy<Value = time::Time> {
    (0i64..86_400_000_000).prop_map(|us| time::Time::MIDNIGHT + time::Duration::microseconds(us))
}

fn any_day() -> impl Strategy<Value = time::Date> {
    // Julian day 1 (PostgreSQL starts at 0) to two days before the time
    // crate's last date, so that any offset stays in both ranges.
    let max = time::Date::MAX.to_julian_day() - 2;
    (1..=max).prop_map(|jd| time::Date::from_julian_day(jd).unwrap())
}

fn any_scalars() -> impl Strategy<Value = Scalars> {
    let nets = (
        any::<u128>(),
        any::<IpAddr>(),
        proptest::option::of(any::<Ipv4Addr>()),
        any::<Ipv6Addr>(),
    );
    let ints = (
        any::<i8>(),
        any::<u16>(),
        any::<u32>(),
        any::<u64>(),
        0..=i64::MAX as u64,
        any_char(),
        any_char(),
    );
    let chrono_min = NaiveDate::from_ymd_opt(-4713, 11, 25)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc()
        .timestamp_micros();
    let chrono_max = NaiveDate::from_ymd_opt(262_000, 1, 1)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc()
        .timestamp_micros();
    let durations = (
        prop_oneof![
            any::<i64>().prop_map(TimeDelta::nanoseconds),
            any::<i64>().prop_map(TimeDelta::microseconds),
        ],
        (0..i64::MAX as u64, 0u32..1000).prop_map(|(us, ns)| {
            std::time::Duration::from_micros(us) + std::time::Duration::from_nanos(ns.into())
        }),
        (chrono_min..chrono_max, -86_399i32..=86_399),
    );
    let times = (
        any_day(),
        any_clock(),
        any_day(),
        any_clock(),
        -86_399i32..=86_399,
        (i64::MIN + 1..i64::MAX, 0i64..1000).prop_map(|(us, ns)| {
            time::Duration::microseconds(us) + time::Duration::nanoseconds(ns)
        }),
    );
    (nets, ints, durations, times).prop_map(
        |(
            (id, addr, v4, v6),
            (small, port, count, big, big_id, initial, letter),
            (took, waited, (at_us, at_offset)),
            (day, clock, local_day, local_clock, offset, span),
        )| {
            let local = time::PrimitiveDateTime::new(local_day, local_clock);
            let offset = time::UtcOffset::from_whole_seconds(offset).unwrap();
            Scalars {
                id: uuid::Uuid::from_u128(id),
                addr,
                v4,
                v6,
                small,
                port,
                count,
                big,
                big_id,
                initial,
                letter,
                took,
                waited,
                at: DateTime::from_timestamp_micros(at_us)
                    .unwrap()
                    .with_timezone(&FixedOffset::east_opt(at_offset).unwrap()),
                day,
                clock,
                local,
                stamp: local.assume_offset(offset),
                span,
            }
        },
    )
}

/// The last row of each key, in key order.
fn last_per_key<T: Clone, K: Ord>(rows: &[T], key: impl Fn(&T) -> K) -> Vec<T> {
    let mut map = BTreeMap::new();
    for row in rows {
        map.insert(key(row), row.clone());
    }
    map.into_values().collect()
}

#[test]
fn scalars_round_trip() {
    let db = pg_bulk_ingest_testkit::server().create_database("types_more_scalars");
    let mut client = db.connect();
    assert_eq!(declared_types::<Scalars>(), SCALAR_TYPES);
    create::<Scalars>(&mut client, "public.scalars");

    let strategy = (
        proptest::collection::vec(any_scalars(), 0..6),
        proptest::collection::vec((any::<prop::sample::Index>(), any_scalars()), 0..6),
    );
    check(&mut client, strategy, |client, (first, second)| {
        let mut tx = client.transaction().unwrap();
        // insert: rows with distinct keys.
        let first = last_per_key(&first, |r| r.id);
        let report = pg_bulk_ingest::insert(&mut tx, &first).unwrap();
        prop_assert_eq!(report.rows, first.len() as u64);
        let back = read_scalars(&mut tx);
        let expected: Vec<_> = first.iter().map(ScalarsBack::expected).collect();
        prop_assert_eq!(&back, &expected);

        // upsert: some keys of the first batch (changed), some new, and
        // repeated keys (the last one wins).
        let second: Vec<Scalars> = second
            .into_iter()
            .map(|(pick, mut row)| {
                if !first.is_empty() && pick.index(3) < 2 {
                    row.id = first[pick.index(first.len())].id;
                }
                row
            })
            .collect();
        pg_bulk_ingest::upsert(&mut tx, &second).unwrap();
        let all: Vec<Scalars> = first.iter().chain(&second).cloned().collect();
        let expected: Vec<_> = last_per_key(&all, |r| r.id)
            .iter()
            .map(ScalarsBack::expected)
            .collect();
        prop_assert_eq!(&read_scalars(&mut tx), &expected);

        // replace: only the second batch remains (one row per key).
        let second = last_per_key(&second, |r| r.id);
        pg_bulk_ingest::replace(&mut tx, &second).unwrap();
        let expected: Vec<_> = second.iter().map(ScalarsBack::expected).collect();
        prop_assert_eq!(&read_scalars(&mut tx), &expected);
        Ok(())
    });
}

#[test]
fn scalar_edges() {
    let db = pg_bulk_ingest_testkit::server().create_database("types_more_edges");
    let mut client = db.connect();
    let base = Scalars {
        id: uuid::Uuid::nil(),
        addr: IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        v4: None,
        v6: "::ffff:1.2.3.4".parse().unwrap(),
        small: i8::MIN,
        port: u16::MAX,
        count: u32::MAX,
        big: u64::MAX,
        big_id: i64::MAX as u64,
        initial: ' ',
        letter: '😀',
        took: TimeDelta::microseconds(i64::MIN),
        waited: std::time::Duration::from_micros(i64::MAX as u64),
        at: FixedOffset::west_opt(86_399)
            .unwrap()
            .with_ymd_and_hms(-4713, 11, 23, 0, 0, 1)
            .unwrap(),
        day: time::Date::MAX,
        clock: time::Time::MIDNIGHT,
        local: time::PrimitiveDateTime::new(
            time::Date::from_julian_day(0).unwrap(),
            time::Time::MIDNIGHT,
        ),
        stamp: time::macros::datetime!(2000-01-01 0:00 +25:59:59),
        span: time::Duration::microseconds(i64::MAX),
    };
    let max = Scalars {
        id: uuid::Uuid::max(),
        addr: IpAddr::V4(Ipv4Addr::BROADCAST),
        v4: Some(Ipv4Addr::UNSPECIFIED),
        small: i8::MAX,
        port: 0,
        count: 0,
        big: 0,
        big_id: 0,
        took: TimeDelta::microseconds(i64::MAX),
        waited: std::time::Duration::ZERO,
        span: time::Duration::microseconds(i64::MIN),
        ..base.clone()
    };
    let rows = vec![base.clone(), max.clone()];
    let mut tx = client.transaction().unwrap();
    pg_bulk_ingest::insert(&mut tx, &rows).unwrap();
    let back = read_scalars(&mut tx);
    assert_eq!(
        back,
        rows.iter().map(ScalarsBack::expected).collect::<Vec<_>>()
    );
    // character(1) keeps the space, as PostgreSQL pads char(n).
    assert_eq!(back[0].initial, " ");
    tx.commit().unwrap();

    // An unchanged upsert rewrites nothing; a changed one updates.
    let mut tx = client.transaction().unwrap();
    let xmin: String = tx
        .query_one(
            "SELECT xmin::text FROM public.scalars WHERE id = $1",
            &[&uuid::Uuid::nil()],
        )
        .unwrap()
        .get(0);
    pg_bulk_ingest::upsert(&mut tx, &rows).unwrap();
    let after: String = tx
        .query_one(
            "SELECT xmin::text FROM public.scalars WHERE id = $1",
            &[&uuid::Uuid::nil()],
        )
        .unwrap()
        .get(0);
    assert_eq!(xmin, after, "an identical row was rewritten");
    let changed = Scalars {
        took: TimeDelta::microseconds(1),
        ..base.clone()
    };
    pg_bulk_ingest::upsert(&mut tx, [&changed]).unwrap();
    let back = read_scalars(&mut tx);
    assert_eq!(back[0].took, Interval::micros(1));
    tx.commit().unwrap();

    // Values the columns can't hold: rejected with their row and column.
    let cases: Vec<(Scalars, &str, &str)> = vec![
        (
            Scalars {
                big_id: i64::MAX as u64 + 1,
                ..max.clone()
            },
            "big_id",
            "value out of range for bigint",
        ),
        (
            Scalars {
                initial: '\0',
                ..max.clone()
            },
            "initial",
            "text cannot contain the NUL character",
        ),
        (
            Scalars {
                took: TimeDelta::microseconds(i64::MAX) + TimeDelta::microseconds(1),
                ..max.clone()
            },
            "took",
            "interval out of range",
        ),
        (
            Scalars {
                waited: std::time::Duration::MAX,
                ..max.clone()
            },
            "waited",
            "interval out of range",
        ),
        (
            Scalars {
                at: Utc
                    .with_ymd_and_hms(-4713, 11, 23, 23, 59, 59)
                    .unwrap()
                    .fixed_offset(),
                ..max.clone()
            },
            "at",
            "timestamp out of range",
        ),
        (
            Scalars {
                day: time::Date::MIN,
                ..max.clone()
            },
            "day",
            "date out of range",
        ),
        (
            Scalars {
                stamp: time::macros::datetime!(-4713-11-24 0:00 +1),
                ..max.clone()
            },
            "stamp",
            "timestamp out of range",
        ),
        (
            Scalars {
                span: time::Duration::MIN,
                ..max.clone()
            },
            "span",
            "interval out of range",
        ),
    ];
    let fresh = Scalars {
        id: uuid::Uuid::from_u128(6),
        ..max.clone()
    };
    for (bad, column, reason) in cases {
        let bad = Scalars {
            id: uuid::Uuid::from_u128(7),
            ..bad
        };
        let mut tx = client.transaction().unwrap();
        let err = pg_bulk_ingest::insert(&mut tx, [&fresh, &bad]).unwrap_err();
        match &err {
            Error::InvalidValue {
                row,
                column: c,
                reason: r,
                ..
            } => {
                assert_eq!((*row, c.as_str()), (1, column), "{err}");
                assert!(r.starts_with(reason), "{column}: {err}");
            }
            other => panic!("{column}: {other:?}"),
        }
        // Nothing was written; the transaction is still usable.
        let n: i64 = tx
            .query_one("SELECT count(*) FROM public.scalars", &[])
            .unwrap()
            .get(0);
        assert_eq!(n, 2);
    }
}

// ---------------------------------------------------------------------------
// json and jsonb.

#[derive(BulkTable, Debug, Clone, PartialEq)]
#[bulk(table = "docs")]
struct Docs {
    #[bulk(primary_key)]
    id: i32,
    doc: Value,
    #[bulk(sql_type = "json")]
    raw: Value,
    docs: Vec<Option<Value>>,
    #[bulk(sql_type = "json[]")]
    raws: Option<Vec<Value>>,
}

/// JSON values; strings with quotes, backslashes, control characters and
/// non-ASCII, but no U+0000 (see `json_nul`).
fn any_json() -> impl Strategy<Value = Value> {
    let ch = prop_oneof![
        4 => any_char(),
        1 => prop::sample::select(vec!['"', '\\', '\n', '\u{1}', '\u{1f}', '\u{7f}', '/', 'é']),
    ];
    let string = proptest::collection::vec(ch, 0..8).prop_map(String::from_iter);
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| Number::from_f64(f).map_or(Value::Null, Value::Number)),
        string.clone().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(string.clone(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn check_docs(tx: &mut Transaction<'_>, rows: &[Docs]) -> Result<(), TestCaseError> {
    let n: i64 = tx
        .query_one("SELECT count(*) FROM public.docs", &[])
        .unwrap()
        .get(0);
    prop_assert_eq!(n, rows.len() as i64);
    for row in rows {
        // jsonb: equal to PostgreSQL's own parse of serde_json's text (the
        // `postgres` crate sends a Value as jsonb text); json: the text as
        // serde_json writes it.
        let r = tx
            .query_one(
                "SELECT doc = $2::jsonb, docs = $3::jsonb[], raw::text, raws::text[] \
                 FROM public.docs WHERE id = $1",
                &[&row.id, &row.doc, &row.docs],
            )
            .unwrap();
        prop_assert!(r.get::<_, bool>(0), "doc of {}", row.id);
        prop_assert!(r.get::<_, bool>(1), "docs of {}", row.id);
        prop_assert_eq!(
            r.get::<_, String>(2),
            serde_json::to_string(&row.raw).unwrap()
        );
        let raws: Option<Vec<String>> = r.get(3);
        let expected = row.raws.as_ref().map(|v| {
            v.iter()
                .map(|v| serde_json::to_string(v).unwrap())
                .collect::<Vec<_>>()
        });
        prop_assert_eq!(raws, expected);
        // What we sent after the version byte is jsonb text whose value is
        // the stored one (the stored value is compared, not the spelling:
        // PostgreSQL normalizes jsonb text on input).
        let mut sent = Vec::new();
        row.doc.encode(&Value::SQL_TYPE, &mut sent).unwrap();
        prop_assert_eq!(sent[0], 1);
        let same: bool = tx
            .query_one(
                "SELECT doc = pg_catalog.convert_from($2, 'UTF8')::jsonb \
                 FROM public.docs WHERE id = $1",
                &[&row.id, &&sent[1..]],
            )
            .unwrap()
            .get(0);
        prop_assert!(same, "doc of {}", row.id);
    }
    Ok(())
}

#[test]
fn json_round_trip() {
    let db = pg_bulk_ingest_testkit::server().create_database("types_more_json");
    let mut client = db.connect();
    create::<Docs>(&mut client, "public.docs");
    assert_eq!(
        declared_types::<Docs>(),
        ["integer", "jsonb", "json", "jsonb[]", "json[]"]
    );
    let doc = (
        0..8i32,
        any_json(),
        any_json(),
        proptest::collection::vec(proptest::option::of(any_json()), 0..3),
        proptest::option::of(proptest::collection::vec(any_json(), 0..3)),
    )
        .prop_map(|(id, doc, raw, docs, raws)| Docs {
            id,
            doc,
            raw,
            docs,
            raws,
        })
        .boxed();
    let strategy = (
        proptest::collection::vec(doc.clone(), 0..5),
        proptest::collection::vec(doc, 0..5),
    );
    check(&mut client, strategy, |client, (first, second)| {
        let mut tx = client.transaction().unwrap();
        let first = last_per_key(&first, |d| d.id);
        pg_bulk_ingest::insert(&mut tx, &first).unwrap();
        check_docs(&mut tx, &first)?;
        pg_bulk_ingest::upsert(&mut tx, &second).unwrap();
        let all: Vec<Docs> = first.iter().chain(&second).cloned().collect();
        check_docs(&mut tx, &last_per_key(&all, |d| d.id))?;
        let second = last_per_key(&second, |d| d.id);
        pg_bulk_ingest::replace(&mut tx, &second).unwrap();
        check_docs(&mut tx, &second)?;
        Ok(())
    });
}

#[test]
fn json_nul() {
    let db = pg_bulk_ingest_testkit::server().create_database("types_more_json_nul");
    let mut client = db.connect();
    let ok = Docs {
        id: 1,
        doc: json!({"a": 1}),
        raw: json!({"k": "a\u{0}b"}),
        docs: vec![],
        raws: Some(vec![json!("\u{0}")]),
    };
    let mut tx = client.transaction().unwrap();
    pg_bulk_ingest::insert(&mut tx, [&ok]).unwrap();
    let r = tx
        .query_one("SELECT raw::text, raws::text FROM public.docs", &[])
        .unwrap();
    assert_eq!(r.get::<_, String>(0), r#"{"k":"a\u0000b"}"#);
    assert_eq!(r.get::<_, String>(1), r#"{"\"\\u0000\""}"#);
    tx.commit().unwrap();

    for (bad, column) in [
        (
            Docs {
                id: 2,
                doc: json!({"k": ["x", "a\u{0}b"]}),
                ..ok.clone()
            },
            "doc",
        ),
        (
            Docs {
                id: 2,
                docs: vec![None, Some(json!({"\u{0}": 1}))],
                ..ok.clone()
            },
            "docs",
        ),
    ] {
        let mut tx = client.transaction().unwrap();
        let err = pg_bulk_ingest::upsert(&mut tx, [&ok, &bad]).unwrap_err();
        assert_eq!(err.row(), Some(1), "{err}");
        assert_eq!(err.column(), Some(column), "{err}");
        assert!(err.to_string().contains("U+0000"), "{err}");
    }
}

// ---------------------------------------------------------------------------
// Arrays.

#[derive(BulkTable, Debug, Clone, PartialEq)]
#[bulk(table = "lists")]
struct Lists {
    #[bulk(primary_key)]
    id: i32,
    ints: Vec<Option<i32>>,
    #[bulk(sql_type = "varchar(8)[]")]
    codes: Vec<String>,
    floats: Vec<f64>,
    blobs: Option<Vec<Vec<u8>>>,
    nums: Vec<u64>,
    days: Vec<NaiveDate>,
    ids: Vec<Option<uuid::Uuid>>,
    chars: Vec<char>,
    small: Vec<i8>,
    spans: Vec<std::time::Duration>,
    addrs: Vec<IpAddr>,
}

#[derive(Debug, PartialEq)]
struct ListsBack {
    ints: Vec<Option<i32>>,
    codes: Vec<String>,
    floats: Vec<u64>,
    blobs: Option<Vec<Vec<u8>>>,
    nums: Vec<String>,
    days: Vec<NaiveDate>,
    ids: Vec<Option<uuid::Uuid>>,
    chars: Vec<String>,
    small: Vec<i16>,
    spans: Vec<Interval>,
    addrs: Vec<IpAddr>,
}

impl ListsBack {
    fn expected(l: &Lists) -> ListsBack {
        ListsBack {
            ints: l.ints.clone(),
            // varchar(8) cuts excess spaces.
            codes: l
                .codes
                .iter()
                .map(|s| s.chars().take(8).collect())
                .collect(),
            floats: l.floats.iter().map(|f| f.to_bits()).collect(),
            blobs: l.blobs.clone(),
            nums: l.nums.iter().map(u64::to_string).collect(),
            days: l.days.clone(),
            ids: l.ids.clone(),
            chars: l.chars.iter().map(char::to_string).collect(),
            small: l.small.iter().map(|&i| i.into()).collect(),
            spans: l
                .spans
                .iter()
                .map(|d| Interval::micros(round_nanos(d.as_nanos() as i128)))
                .collect(),
            addrs: l.addrs.clone(),
        }
    }
}

fn read_lists(tx: &mut Transaction<'_>) -> Vec<ListsBack> {
    tx.query(
        "SELECT ints, codes, floats, blobs, nums::text[], days, ids, chars, small, spans, addrs \
         FROM public.lists ORDER BY id",
        &[],
    )
    .unwrap()
    .iter()
    .map(|r| ListsBack {
        ints: r.get(0),
        codes: r.get(1),
        floats: r
            .get::<_, Vec<f64>>(2)
            .iter()
            .map(|f| f.to_bits())
            .collect(),
        blobs: r.get(3),
        nums: r.get(4),
        days: r.get(5),
        ids: r.get(6),
        chars: r.get(7),
        small: r.get(8),
        spans: r.get(9),
        addrs: r.get(10),
    })
    .collect()
}

fn any_lists() -> impl Strategy<Value = Lists> {
    use proptest::collection::vec;
    // Up to 8 characters, sometimes followed by spaces beyond the limit.
    let code = (vec(any_char(), 0..=8), 0usize..3).prop_map(|(chars, pad)| {
        let mut s = String::from_iter(chars);
        if s.chars().count() == 8 {
            s.push_str(&" ".repeat(pad));
        }
        s
    });
    let day =
        (-1_721_059i32..3_652_059).prop_map(|d| NaiveDate::from_num_days_from_ce_opt(d).unwrap());
    (
        (
            0..8i32,
            vec(proptest::option::of(any::<i32>()), 0..4),
            vec(code, 0..4),
            vec(any::<f64>(), 0..4),
            proptest::option::of(vec(vec(any::<u8>(), 0..6), 0..3)),
            vec(any::<u64>(), 0..3),
        ),
        (
            vec(day, 0..3),
            vec(
                proptest::option::of(any::<u128>().prop_map(uuid::Uuid::from_u128)),
                0..3,
            ),
            vec(any_char(), 0..3),
            vec(any::<i8>(), 0..3),
            vec(
                (0..i64::MAX as u64 / 2, 0u64..1000).prop_map(|(us, ns)| {
                    std::time::Duration::from_micros(us) + std::time::Duration::from_nanos(ns)
                }),
                0..3,
            ),
            vec(any::<IpAddr>(), 0..3),
        ),
    )
        .prop_map(
            |((id, ints, codes, floats, blobs, nums), (days, ids, chars, small, spans, addrs))| {
                Lists {
                    id,
                    ints,
                    codes,
                    floats,
                    blobs,
                    nums,
                    days,
                    ids,
                    chars,
                    small,
                    spans,
                    addrs,
                }
            },
        )
}

#[test]
fn arrays_round_trip() {
    let db = pg_bulk_ingest_testkit::server().create_database("types_more_arrays");
    let mut client = db.connect();
    create::<Lists>(&mut client, "public.lists");
    assert_eq!(
        declared_types::<Lists>(),
        [
            "integer",
            "integer[]",
            "character varying(8)[]",
            "double precision[]",
            "bytea[]",
            "numeric(20,0)[]",
            "date[]",
            "uuid[]",
            "character(1)[]",
            "smallint[]",
            "interval[]",
            "inet[]",
        ]
    );
    let strategy = (
        proptest::collection::vec(any_lists(), 0..5),
        proptest::collection::vec(any_lists(), 0..5),
    );
    check(&mut client, strategy, |client, (first, second)| {
        let mut tx = client.transaction().unwrap();
        let first = last_per_key(&first, |l| l.id);
        pg_bulk_ingest::insert(&mut tx, &first).unwrap();
        let expected: Vec<_> = first.iter().map(ListsBack::expected).collect();
        prop_assert_eq!(&read_lists(&mut tx), &expected);
        // Upsert rewrites a row unless it is identical byte for byte, so
        // -0.0 replaces 0.0 and NaN payloads are kept.
        pg_bulk_ingest::upsert(&mut tx, &second).unwrap();
        let all: Vec<Lists> = first.iter().chain(&second).cloned().collect();
        let expected: Vec<_> = last_per_key(&all, |l| l.id)
            .iter()
            .map(ListsBack::expected)
            .collect();
        let back = read_lists(&mut tx);
        prop_assert_eq!(&back, &expected);
        let second = last_per_key(&second, |l| l.id);
        pg_bulk_ingest::replace(&mut tx, &second).unwrap();
        let expected: Vec<_> = second.iter().map(ListsBack::expected).collect();
        prop_assert_eq!(&read_lists(&mut tx), &expected);
        Ok(())
    });
}

#[test]
fn array_edges() {
    let db = pg_bulk_ingest_testkit::server().create_database("types_more_array_edges");
    let mut client = db.connect();
    let empty = Lists {
        id: 1,
        ints: vec![],
        codes: vec![],
        floats: vec![],
        blobs: None,
        nums: vec![],
        days: vec![],
        ids: vec![],
        chars: vec![],
        small: vec![],
        spans: vec![],
        addrs: vec![],
    };
    let nulls = Lists {
        id: 2,
        ints: vec![None, None],
        blobs: Some(vec![vec![]]),
        ids: vec![None],
        floats: vec![f64::NAN, -0.0, f64::NEG_INFINITY],
        ..empty.clone()
    };
    let mut tx = client.transaction().unwrap();
    pg_bulk_ingest::insert(&mut tx, [&empty, &nulls]).unwrap();
    let r = tx
        .query_one(
            "SELECT ints::text, pg_catalog.array_ndims(ints), blobs IS NULL, \
             pg_catalog.cardinality(codes) FROM public.lists WHERE id = 1",
            &[],
        )
        .unwrap();
    // An empty Vec is '{}' (no dimensions), not NULL.
    assert_eq!(r.get::<_, String>(0), "{}");
    assert_eq!(r.get::<_, Option<i32>>(1), None);
    assert!(r.get::<_, bool>(2));
    assert_eq!(r.get::<_, i32>(3), 0);
    let r = tx
        .query_one(
            "SELECT ints::text, array_lower(ints, 1), ids::text, floats::text \
             FROM public.lists WHERE id = 2",
            &[],
        )
        .unwrap();
    assert_eq!(r.get::<_, String>(0), "{NULL,NULL}");
    assert_eq!(r.get::<_, i32>(1), 1);
    assert_eq!(r.get::<_, String>(2), "{NULL}");
    assert_eq!(r.get::<_, String>(3), "{NaN,-0,-Infinity}");
    // Identical arrays (NaN included) are not rewritten by upsert.
    let xmin = |tx: &mut Transaction<'_>| -> String {
        tx.query_one("SELECT xmin::text FROM public.lists WHERE id = 2", &[])
            .unwrap()
            .get(0)
    };
    tx.commit().unwrap();
    let mut tx = client.transaction().unwrap();
    let before = xmin(&mut tx);
    pg_bulk_ingest::upsert(&mut tx, [&nulls]).unwrap();
    assert_eq!(xmin(&mut tx), before);
    drop(tx);

    // An element the column can't hold: the row, the column and the element.
    let bad = Lists {
        id: 3,
        codes: vec!["ok".into(), "123456789".into()],
        ..empty.clone()
    };
    let mut tx = client.transaction().unwrap();
    let err = pg_bulk_ingest::insert(&mut tx, [&empty, &bad]).unwrap_err();
    match &err {
        Error::InvalidValue {
            row,
            column,
            reason,
            value,
            ..
        } => {
            assert_eq!((*row, column.as_str()), (1, "codes"));
            assert_eq!(
                reason,
                "array element 2: value too long for character varying(8): 9 characters"
            );
            assert_eq!(value.as_deref(), Some("\"123456789\""));
        }
        other => panic!("{other:?}"),
    }
}

// ---------------------------------------------------------------------------
// The defaults of the new types, checked against a live table.

#[test]
fn default_column_types() {
    assert_eq!(<Vec<String>>::SQL_TYPE.to_string(), "text[]");
    assert_eq!(<Option<Vec<Option<i64>>>>::SQL_TYPE.to_string(), "bigint[]");
    const { assert!(<Option<Vec<i64>>>::NULLABLE && <Option<Vec<i64>>>::ARRAY) };
    const { assert!(!<Vec<u8>>::ARRAY && <Vec<Vec<u8>>>::ARRAY) };
    assert_eq!(<Value>::SQL_TYPE.to_string(), "jsonb");
    assert_eq!(<std::time::Duration>::SQL_TYPE.to_string(), "interval");
    assert_eq!(
        <time::OffsetDateTime>::SQL_TYPE.to_string(),
        "timestamp with time zone"
    );
}
