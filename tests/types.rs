//! Every supported Rust type round-trips exactly through PostgreSQL: rows are
//! written with `pg_bulk_ingest::insert` and read back with the `postgres`
//! crate, as values (integers, floats, strings, bytes), as text (`numeric`,
//! dates and times, read with `::text` under `TimeZone = 'UTC'`), against SQL
//! literals, and byte for byte against PostgreSQL's own binary output.
//!
//! Nanosecond rounding: PostgreSQL stores microseconds; the library rounds
//! chrono's nanoseconds to the nearest microsecond, ties to even:
//! 1.0000005 s is stored as 1.000000 s, 1.0000015 s as 1.000002 s,
//! 1.0000025 s as 1.000002 s, 1.000002501 s as 1.000003 s.

use std::borrow::Cow;
use std::io::Read;
use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use pg_bulk_ingest::{AsRow, BulkTable, Error};
use pg_bulk_ingest_testkit::TestDb;
use postgres::Client;
use rust_decimal::Decimal;

/// A fresh database and a connection that renders dates and times in ISO
/// format and UTC.
fn connect(prefix: &str) -> (TestDb, Client) {
    let db = pg_bulk_ingest_testkit::server().create_database(prefix);
    let mut client = db.connect();
    client
        .batch_execute(
            "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'",
        )
        .unwrap();
    let encoding: String = client
        .query_one("SHOW server_encoding", &[])
        .unwrap()
        .get(0);
    assert_eq!(
        encoding, "UTF8",
        "the tests of non-ASCII text need a UTF8 database"
    );
    (db, client)
}

/// Inserts `rows` in a transaction of their own and commits; returns the
/// number of rows the report gives.
fn load<I>(client: &mut Client, rows: I) -> u64
where
    I: IntoIterator,
    I::Item: AsRow,
{
    let mut tx = client.transaction().unwrap();
    let report = pg_bulk_ingest::insert(&mut tx, rows).unwrap();
    tx.commit().unwrap();
    report.rows
}

/// Inserts `rows`, expects an error, rolls back and returns the error.
fn load_err<I>(client: &mut Client, rows: I) -> Error
where
    I: IntoIterator,
    I::Item: AsRow,
{
    let mut tx = client.transaction().unwrap();
    let err = pg_bulk_ingest::insert(&mut tx, rows).unwrap_err();
    // The caller's transaction is still usable after a failed call.
    assert_eq!(
        tx.query_one("SELECT 1::int4", &[])
            .unwrap()
            .get::<_, i32>(0),
        1
    );
    tx.rollback().unwrap();
    err
}

/// The first column of every row of `sql`, as text.
fn texts(client: &mut Client, sql: &str) -> Vec<Option<String>> {
    client
        .query(sql, &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// `count(*)` of a query.
fn count(client: &mut Client, sql: &str) -> i64 {
    client.query_one(sql, &[]).unwrap().get(0)
}

/// The output of `COPY (query) TO STDOUT (FORMAT binary)`.
fn binary_copy(client: &mut Client, query: &str) -> Vec<u8> {
    let mut out = Vec::new();
    client
        .copy_out(&format!("COPY ({query}) TO STDOUT (FORMAT binary)"))
        .unwrap()
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn time_nano(h: u32, m: u32, s: u32, nano: u32) -> NaiveTime {
    NaiveTime::from_hms_nano_opt(h, m, s, nano).unwrap()
}

fn dt(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, nano: u32) -> NaiveDateTime {
    date(y, mo, d).and_time(time_nano(h, mi, s, nano))
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

// ---------------------------------------------------------------------------
// Integers and booleans

#[derive(BulkTable)]
struct Ints {
    #[bulk(primary_key)]
    id: i32,
    flag: bool,
    small: i16,
    int: i32,
    big: i64,
}

#[test]
fn integers_and_booleans_round_trip_including_min_and_max() {
    let (_db, mut client) = connect("types_ints");
    let values: Vec<(bool, i16, i32, i64)> = vec![
        (true, i16::MIN, i32::MIN, i64::MIN),
        (false, i16::MAX, i32::MAX, i64::MAX),
        (true, 0, 0, 0),
        (false, -1, -1, -1),
        (true, 1, 1, 1),
        (false, 0x0102, 0x0102_0304, 0x0102_0304_0506_0708),
    ];
    let rows: Vec<Ints> = values
        .iter()
        .enumerate()
        .map(|(i, &(flag, small, int, big))| Ints {
            id: i as i32,
            flag,
            small,
            int,
            big,
        })
        .collect();
    assert_eq!(load(&mut client, &rows), values.len() as u64);

    let back: Vec<(bool, i16, i32, i64)> = client
        .query(
            r#"SELECT "flag", "small", "int", "big" FROM "public"."ints" ORDER BY "id""#,
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    assert_eq!(back, values);

    // The extremes compare equal to PostgreSQL's own literals.
    assert_eq!(
        count(
            &mut client,
            r#"SELECT count(*) FROM "public"."ints" WHERE "small" = -32768 AND "int" = -2147483648
               AND "big" = -9223372036854775808 AND "flag""#
        ),
        1
    );
    assert_eq!(
        count(
            &mut client,
            r#"SELECT count(*) FROM "public"."ints" WHERE "small" = 32767 AND "int" = 2147483647
               AND "big" = 9223372036854775807 AND NOT "flag""#
        ),
        1
    );
}

// ---------------------------------------------------------------------------
// Floats

#[derive(BulkTable)]
struct Floats {
    #[bulk(primary_key)]
    id: i32,
    r: f32,
    d: f64,
}

#[test]
fn floats_round_trip_bit_exactly_including_nan_infinities_and_negative_zero() {
    let (_db, mut client) = connect("types_floats");
    let values: Vec<(f32, f64)> = vec![
        (0.0, 0.0),
        (-0.0, -0.0),
        (1.5, 1.5),
        (0.1, 0.1),
        (-123.456, -123.456e-300),
        (f32::MIN_POSITIVE, f64::MIN_POSITIVE),
        (f32::from_bits(1), f64::from_bits(1)), // smallest subnormals
        (f32::MAX, f64::MAX),
        (f32::MIN, f64::MIN),
        (f32::EPSILON, f64::EPSILON),
        (f32::NAN, f64::NAN),
        (f32::INFINITY, f64::INFINITY),
        (f32::NEG_INFINITY, f64::NEG_INFINITY),
    ];
    let rows: Vec<Floats> = values
        .iter()
        .enumerate()
        .map(|(i, &(r, d))| Floats { id: i as i32, r, d })
        .collect();
    load(&mut client, rows);

    let back: Vec<(f32, f64)> = client
        .query(
            r#"SELECT "r", "d" FROM "public"."floats" ORDER BY "id""#,
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(back.len(), values.len());
    for (i, (&(r, d), &(br, bd))) in values.iter().zip(&back).enumerate() {
        if r.is_nan() {
            assert!(br.is_nan(), "row {i}: real {br} is not NaN");
        } else {
            assert_eq!(br.to_bits(), r.to_bits(), "row {i}: real {br} != {r}");
        }
        if d.is_nan() {
            assert!(bd.is_nan(), "row {i}: double {bd} is not NaN");
        } else {
            assert_eq!(bd.to_bits(), d.to_bits(), "row {i}: double {bd} != {d}");
        }
    }

    // PostgreSQL sees the special values as its own.
    for (literal, id) in [("NaN", 10), ("Infinity", 11), ("-Infinity", 12)] {
        let sql = format!(
            r#"SELECT count(*) FROM "public"."floats"
               WHERE "r" = '{literal}'::real AND "d" = '{literal}'::float8 AND "id" = {id}"#
        );
        assert_eq!(count(&mut client, &sql), 1, "{literal}");
    }
    assert_eq!(
        count(
            &mut client,
            r#"SELECT count(*) FROM "public"."floats" WHERE "r" = '0.1'::real AND "d" = 0.1::float8"#
        ),
        1
    );
}

// ---------------------------------------------------------------------------
// Text

#[derive(BulkTable)]
struct Texts<'a> {
    #[bulk(primary_key)]
    id: i32,
    owned: String,
    borrowed: &'a str,
    boxed: Box<str>,
    cow: Cow<'a, str>,
    shared: Arc<str>,
}

#[test]
fn text_round_trips_empty_unicode_escapes_and_long_values_for_every_string_type() {
    let (_db, mut client) = connect("types_text");
    let values: Vec<String> = vec![
        String::new(),
        " ".into(),
        "a".into(),
        "héllo wörld".into(),
        "日本語のテキスト".into(),
        "🚀".into(),
        "👩‍👩‍👧‍👦 family (ZWJ sequence)".into(),
        "e\u{301} combining accent".into(),
        "\u{10FFFF} last code point".into(),
        "tab\tnewline\nCR\r backslash\\ 'single' \"double\" \\x41 \\N".into(),
        "\u{1}\u{7f} control characters".into(),
        "trailing spaces   ".into(),
        "x".repeat(100_000),
        "é".repeat(50_000),
        "🚀".repeat(30_000),
    ];
    let rows: Vec<Texts<'_>> = values
        .iter()
        .enumerate()
        .map(|(i, v)| Texts {
            id: i as i32,
            owned: v.clone(),
            borrowed: v,
            boxed: v.clone().into_boxed_str(),
            cow: if i % 2 == 0 {
                Cow::Borrowed(v.as_str())
            } else {
                Cow::Owned(v.clone())
            },
            shared: Arc::from(v.as_str()),
        })
        .collect();
    load(&mut client, &rows);

    let back = client
        .query(
            r#"SELECT "owned", "borrowed", "boxed", "cow", "shared",
                      char_length("owned")::int8, octet_length("owned")::int8
               FROM "public"."texts" ORDER BY "id""#,
            &[],
        )
        .unwrap();
    assert_eq!(back.len(), values.len());
    for (i, (row, v)) in back.iter().zip(&values).enumerate() {
        for col in 0..5 {
            let got: String = row.get(col);
            assert!(
                got == *v,
                "row {i}, column {col}: {:?} != {:?}",
                shorten(&got),
                shorten(v)
            );
        }
        assert_eq!(
            row.get::<_, i64>(5),
            v.chars().count() as i64,
            "row {i}: char_length"
        );
        assert_eq!(
            row.get::<_, i64>(6),
            v.len() as i64,
            "row {i}: octet_length"
        );
    }
    // Compared against PostgreSQL's own literals (E'' escapes).
    let sql = r#"SELECT count(*) FROM "public"."texts" WHERE "id" = 9
                 AND "owned" = E'tab\tnewline\nCR\r backslash\\ ''single'' "double" \\x41 \\N'"#;
    assert_eq!(count(&mut client, sql), 1);
    assert_eq!(
        count(
            &mut client,
            r#"SELECT count(*) FROM "public"."texts" WHERE "id" = 0 AND "owned" = ''"#
        ),
        1
    );
    assert_eq!(
        count(
            &mut client,
            r#"SELECT count(*) FROM "public"."texts" WHERE "id" = 6 AND "shared" = U&'\+01F469\200D\+01F469\200D\+01F467\200D\+01F466 family (ZWJ sequence)'"#
        ),
        1
    );
}

fn shorten(s: &str) -> String {
    s.chars().take(40).collect()
}

#[derive(BulkTable)]
struct Varchars {
    #[bulk(primary_key)]
    id: i32,
    #[bulk(sql_type = "varchar(5)")]
    v: String,
    #[bulk(sql_type = "varchar")]
    unbounded: String,
}

#[test]
fn varchar_n_holds_exactly_n_multibyte_characters_and_cuts_excess_spaces() {
    let (_db, mut client) = connect("types_varchar");
    // (input, what PostgreSQL stores)
    let cases: Vec<(&str, &str)> = vec![
        ("ééééé", "ééééé"),           // 5 characters, 10 bytes
        ("🚀🚀🚀🚀🚀", "🚀🚀🚀🚀🚀"), // 5 characters, 20 bytes
        ("日本語日本", "日本語日本"), // 5 characters, 15 bytes
        ("abcde", "abcde"),
        ("", ""),
        ("ab   ", "ab   "),    // spaces within the limit are kept
        ("abcde   ", "abcde"), // excess spaces are cut, as PostgreSQL does
        ("🚀🚀🚀🚀🚀  ", "🚀🚀🚀🚀🚀"),
    ];
    let rows: Vec<Varchars> = cases
        .iter()
        .enumerate()
        .map(|(i, (input, _))| Varchars {
            id: i as i32,
            v: (*input).to_owned(),
            unbounded: input.repeat(1000),
        })
        .collect();
    load(&mut client, &rows);

    let back = client
        .query(
            r#"SELECT "v", char_length("v")::int8, "unbounded" FROM "public"."varchars" ORDER BY "id""#,
            &[],
        )
        .unwrap();
    assert_eq!(back.len(), cases.len());
    for (i, (row, (input, stored))) in back.iter().zip(&cases).enumerate() {
        assert_eq!(row.get::<_, String>(0), *stored, "row {i}");
        assert_eq!(
            row.get::<_, i64>(1),
            stored.chars().count() as i64,
            "row {i}"
        );
        assert_eq!(
            row.get::<_, String>(2),
            input.repeat(1000),
            "row {i}: varchar without length"
        );
    }
    let ty: String = client
        .query_one(
            r#"SELECT format_type(atttypid, atttypmod) FROM pg_attribute
               WHERE attrelid = '"public"."varchars"'::regclass AND attname = 'v'"#,
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(ty, "character varying(5)");
}

#[derive(BulkTable)]
struct Padded {
    #[bulk(primary_key)]
    id: i32,
    #[bulk(sql_type = "char(4)")]
    c: String,
    #[bulk(sql_type = "character(4)")]
    maybe: Option<String>,
}

#[test]
fn char_n_is_padded_with_spaces_by_postgresql() {
    let (_db, mut client) = connect("types_char");
    // (input, what PostgreSQL stores: padded to 4 characters)
    let cases: Vec<(&str, &str)> = vec![
        ("ab", "ab  "),
        ("", "    "),
        ("éé", "éé  "),
        ("🚀", "🚀   "),
        ("abcd", "abcd"),
        ("abcd   ", "abcd"), // excess spaces are cut
        (" a", " a  "),
        ("ab  ", "ab  "),
    ];
    let rows: Vec<Padded> = cases
        .iter()
        .enumerate()
        .map(|(i, (input, _))| Padded {
            id: i as i32,
            c: (*input).to_owned(),
            maybe: (i % 2 == 0).then(|| (*input).to_owned()),
        })
        .collect();
    load(&mut client, &rows);

    let back = client
        .query(
            r#"SELECT "c", octet_length("c")::int8, "maybe" FROM "public"."padded" ORDER BY "id""#,
            &[],
        )
        .unwrap();
    assert_eq!(back.len(), cases.len());
    for (i, (row, (_, stored))) in back.iter().zip(&cases).enumerate() {
        assert_eq!(row.get::<_, String>(0), *stored, "row {i}");
        assert_eq!(
            row.get::<_, i64>(1),
            stored.len() as i64,
            "row {i}: octet_length"
        );
        let maybe: Option<String> = row.get(2);
        assert_eq!(
            maybe.as_deref(),
            (i % 2 == 0).then_some(*stored),
            "row {i}: Option"
        );
    }
    // Equal to PostgreSQL's own char(4) values.
    assert_eq!(
        count(
            &mut client,
            r#"SELECT count(*) FROM "public"."padded" WHERE "id" = 0 AND "c" = 'ab'::char(4)"#
        ),
        1
    );
    let ours = binary_copy(
        &mut client,
        r#"SELECT "c" FROM "public"."padded" ORDER BY "id""#,
    );
    let theirs = binary_copy(
        &mut client,
        "SELECT c::char(4) FROM (VALUES (0, 'ab'), (1, ''), (2, 'éé'), (3, '🚀'), (4, 'abcd'), \
         (5, 'abcd   '), (6, ' a'), (7, 'ab  ')) AS v(id, c) ORDER BY id",
    );
    assert_eq!(ours, theirs);
}

#[derive(BulkTable)]
struct OneChar {
    #[bulk(primary_key)]
    id: i32,
    #[bulk(sql_type = "char")]
    c: String,
}

#[test]
fn char_without_length_is_character_1() {
    let (_db, mut client) = connect("types_char1");
    assert_eq!(
        OneChar::TABLE.columns[1].sql_type.to_string(),
        "character(1)"
    );
    let rows = vec![
        OneChar {
            id: 0,
            c: "a".into(),
        },
        OneChar {
            id: 1,
            c: "é".into(),
        },
        OneChar {
            id: 2,
            c: String::new(),
        },
        OneChar {
            id: 3,
            c: "z   ".into(),
        },
    ];
    load(&mut client, &rows);
    let ty: String = client
        .query_one(
            r#"SELECT format_type(atttypid, atttypmod) FROM pg_attribute
               WHERE attrelid = '"public"."one_char"'::regclass AND attname = 'c'"#,
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(ty, "character(1)");
    let back: Vec<String> = client
        .query(r#"SELECT "c" FROM "public"."one_char" ORDER BY "id""#, &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(back, ["a", "é", " ", "z"]);
}

#[test]
fn char_without_length_rejects_two_characters_before_sending() {
    let (_db, mut client) = connect("types_char1_overflow");
    let rows = vec![
        OneChar {
            id: 0,
            c: "a".into(),
        },
        OneChar {
            id: 1,
            c: "ab".into(),
        },
    ];
    let err = load_err(&mut client, &rows);
    assert!(
        matches!(&err, Error::InvalidValue { row: 1, column, .. } if column == "c"),
        "{err:?}"
    );
}

// ---------------------------------------------------------------------------
// Bytes

#[derive(BulkTable)]
struct Blobs<'a> {
    #[bulk(primary_key)]
    id: i32,
    owned: Vec<u8>,
    borrowed: &'a [u8],
    maybe: Option<Vec<u8>>,
}

#[test]
fn bytea_round_trips_empty_all_byte_values_and_one_mebibyte() {
    let (_db, mut client) = connect("types_bytea");
    let mebibyte: Vec<u8> = (0u32..1 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    assert!(mebibyte.contains(&0x00) && mebibyte.contains(&0x80) && mebibyte.contains(&0xff));
    let values: Vec<Vec<u8>> = vec![
        Vec::new(),
        vec![0x00],
        vec![0x80],
        vec![0xff],
        (0..=255).collect(),
        b"\\x41\\\\ not an escape".to_vec(),
        b"ab\0cd".to_vec(),
        mebibyte,
    ];
    let rows: Vec<Blobs<'_>> = values
        .iter()
        .enumerate()
        .map(|(i, v)| Blobs {
            id: i as i32,
            owned: v.clone(),
            borrowed: v,
            maybe: (i % 2 == 1).then(|| v.clone()),
        })
        .collect();
    load(&mut client, &rows);

    let back = client
        .query(
            r#"SELECT "owned", "borrowed", "maybe", octet_length("owned")::int8
               FROM "public"."blobs" ORDER BY "id""#,
            &[],
        )
        .unwrap();
    assert_eq!(back.len(), values.len());
    for (i, (row, v)) in back.iter().zip(&values).enumerate() {
        assert!(row.get::<_, Vec<u8>>(0) == *v, "row {i}: owned");
        assert!(row.get::<_, Vec<u8>>(1) == *v, "row {i}: borrowed");
        let maybe: Option<Vec<u8>> = row.get(2);
        assert!(
            maybe.as_deref() == (i % 2 == 1).then_some(v.as_slice()),
            "row {i}: maybe"
        );
        assert_eq!(
            row.get::<_, i64>(3),
            v.len() as i64,
            "row {i}: octet_length"
        );
    }
    // Against PostgreSQL's own bytea literals.
    for (id, hex) in [(0, ""), (1, "00"), (2, "80"), (3, "ff"), (6, "6162006364")] {
        let sql = format!(
            r#"SELECT count(*) FROM "public"."blobs" WHERE "id" = {id} AND "owned" = '\x{hex}'::bytea"#
        );
        assert_eq!(count(&mut client, &sql), 1, "id {id}");
    }
    assert_eq!(
        count(
            &mut client,
            r#"SELECT count(*) FROM "public"."blobs" WHERE "id" = 4
               AND "owned" = (SELECT string_agg(set_byte('\x00'::bytea, 0, b), ''::bytea ORDER BY b)
                              FROM generate_series(0, 255) AS b)"#
        ),
        1
    );
    // An empty value is not NULL.
    assert_eq!(
        count(
            &mut client,
            r#"SELECT count(*) FROM "public"."blobs" WHERE "id" = 0 AND "owned" IS NOT NULL"#
        ),
        1
    );
}

// ---------------------------------------------------------------------------
// Numeric

#[derive(BulkTable)]
struct Decimals {
    #[bulk(primary_key)]
    id: i32,
    n: Decimal,
}

#[test]
fn decimals_round_trip_with_their_scale() {
    let (_db, mut client) = connect("types_numeric");
    let values = [
        "0",
        "0.00",
        "1",
        "-1",
        "0.1",
        "-0.5",
        "1.10",
        "9999",
        "10000",
        "0.0001",
        "0.00001",
        "12345.678",
        "-12345.6780",
        "100000000",
        "0.0000000000000000000000000001",
        "-0.0000000000000000000000000001",
        "0.0000000000000000000000000000",
        "79228162514264337593543950335",
        "-79228162514264337593543950335",
        "7.9228162514264337593543950335",
        "-7.9228162514264337593543950335",
        "123456789012345678.9012345678",
        "1000000000000000000000000000",
        "0.1000000000000000000000000000",
    ];
    let decimals: Vec<Decimal> = values.iter().map(|s| dec(s)).collect();
    for (s, d) in values.iter().zip(&decimals) {
        assert_eq!(d.to_string(), *s, "rust_decimal's own rendering");
    }
    assert_eq!(decimals[17], Decimal::MAX);
    assert_eq!(decimals[18], Decimal::MIN);
    let rows: Vec<Decimals> = decimals
        .iter()
        .enumerate()
        .map(|(i, &n)| Decimals { id: i as i32, n })
        .collect();
    load(&mut client, rows);

    let back = texts(
        &mut client,
        r#"SELECT "n"::text FROM "public"."decimals" ORDER BY "id""#,
    );
    let expected: Vec<Option<String>> = decimals.iter().map(|d| Some(d.to_string())).collect();
    assert_eq!(back, expected);

    // Byte for byte what PostgreSQL sends for the same literals (digits,
    // weight, sign and display scale).
    let literals: Vec<String> = values
        .iter()
        .enumerate()
        .map(|(i, s)| format!("({i}, '{s}')"))
        .collect();
    let theirs = binary_copy(
        &mut client,
        &format!(
            "SELECT n::numeric FROM (VALUES {}) AS v(id, n) ORDER BY id",
            literals.join(", ")
        ),
    );
    let ours = binary_copy(
        &mut client,
        r#"SELECT "n" FROM "public"."decimals" ORDER BY "id""#,
    );
    assert_eq!(ours, theirs);
}

#[test]
fn negative_zero_decimal_is_zero() {
    let (_db, mut client) = connect("types_numeric_negzero");
    let mut zero = dec("0.00");
    zero.set_sign_negative(true);
    let mut plain = dec("0");
    plain.set_sign_negative(true);
    load(
        &mut client,
        [Decimals { id: 0, n: zero }, Decimals { id: 1, n: plain }],
    );
    let back = texts(
        &mut client,
        r#"SELECT "n"::text FROM "public"."decimals" ORDER BY "id""#,
    );
    assert_eq!(back, [Some("0.00".to_owned()), Some("0".to_owned())]);
    assert_eq!(
        count(
            &mut client,
            r#"SELECT count(*) FROM "public"."decimals" WHERE "n" = 0 AND sign("n") = 0"#
        ),
        2
    );
}

#[derive(BulkTable)]
struct Money {
    #[bulk(primary_key)]
    id: i32,
    #[bulk(sql_type = "numeric(5,2)")]
    amount: Decimal,
    #[bulk(sql_type = "numeric(10)")]
    whole: Decimal,
}

#[test]
fn numeric_p_s_is_rounded_half_away_from_zero_by_postgresql() {
    let (_db, mut client) = connect("types_numeric_ps");
    // (amount in, stored as numeric(5,2); whole in, stored as numeric(10,0))
    let cases = [
        ("1.005", "1.01", "2.5", "3"),
        ("-1.005", "-1.01", "-2.5", "-3"),
        ("999.994", "999.99", "9999999999.4", "9999999999"),
        ("-999.994", "-999.99", "-9999999999.4", "-9999999999"),
        ("0.001", "0.00", "0.4", "0"),
        ("0.005", "0.01", "0.5", "1"),
        ("1", "1.00", "7", "7"),
        ("12.3", "12.30", "12.000", "12"),
        (
            "0.0000000000000000000000000001",
            "0.00",
            "0.0000000000000000000000000001",
            "0",
        ),
        ("999.99", "999.99", "9999999999", "9999999999"),
    ];
    let rows: Vec<Money> = cases
        .iter()
        .enumerate()
        .map(|(i, (a, _, w, _))| Money {
            id: i as i32,
            amount: dec(a),
            whole: dec(w),
        })
        .collect();
    load(&mut client, rows);
    let back = client
        .query(
            r#"SELECT "amount"::text, "whole"::text FROM "public"."money" ORDER BY "id""#,
            &[],
        )
        .unwrap();
    for (i, (row, (_, amount, _, whole))) in back.iter().zip(&cases).enumerate() {
        assert_eq!(row.get::<_, String>(0), *amount, "row {i}: numeric(5,2)");
        assert_eq!(row.get::<_, String>(1), *whole, "row {i}: numeric(10)");
    }
    assert_eq!(back.len(), cases.len());
}

// ---------------------------------------------------------------------------
// Dates and times

#[derive(BulkTable)]
struct Dates {
    #[bulk(primary_key)]
    id: i32,
    d: NaiveDate,
}

#[test]
fn dates_round_trip_before_1970_before_2000_and_bc() {
    let (_db, mut client) = connect("types_date");
    // chrono counts years astronomically: year 0 is 1 BC, year -43 is 44 BC.
    let cases: Vec<(NaiveDate, &str)> = vec![
        (date(2000, 1, 1), "2000-01-01"),
        (date(1999, 12, 31), "1999-12-31"),
        (date(1970, 1, 1), "1970-01-01"),
        (date(1969, 12, 31), "1969-12-31"),
        (date(1900, 2, 28), "1900-02-28"),
        (date(1600, 2, 29), "1600-02-29"),
        (date(2024, 2, 29), "2024-02-29"),
        (date(1, 1, 1), "0001-01-01"),
        (date(0, 12, 31), "0001-12-31 BC"),
        (date(-43, 3, 15), "0044-03-15 BC"),
        (date(-4713, 11, 24), "4714-11-24 BC"), // PostgreSQL's first date
        (date(9999, 12, 31), "9999-12-31"),
        (NaiveDate::MAX, "262142-12-31"), // chrono's last date
    ];
    let rows: Vec<Dates> = cases
        .iter()
        .enumerate()
        .map(|(i, &(d, _))| Dates { id: i as i32, d })
        .collect();
    load(&mut client, rows);
    let back = texts(
        &mut client,
        r#"SELECT "d"::text FROM "public"."dates" ORDER BY "id""#,
    );
    let expected: Vec<Option<String>> = cases.iter().map(|(_, s)| Some((*s).to_owned())).collect();
    assert_eq!(back, expected);
    // Each compares equal to PostgreSQL's literal.
    for (i, (_, s)) in cases.iter().enumerate() {
        let sql = format!(
            r#"SELECT count(*) FROM "public"."dates" WHERE "id" = {i} AND "d" = '{s}'::date"#
        );
        assert_eq!(count(&mut client, &sql), 1, "{s}");
    }
    assert_eq!(
        count(
            &mut client,
            r#"SELECT count(*) FROM "public"."dates" WHERE "d" = '1999-12-31'::date"#
        ),
        1
    );
}

#[test]
fn dates_before_julian_day_zero_are_invalid_values() {
    let (_db, mut client) = connect("types_date_range");
    let rows = [
        Dates {
            id: 0,
            d: date(-4713, 11, 24),
        },
        Dates {
            id: 1,
            d: date(-4713, 11, 23),
        },
    ];
    let err = load_err(&mut client, &rows);
    assert!(
        matches!(&err, Error::InvalidValue { row: 1, column, .. } if column == "d"),
        "{err:?}"
    );
    let err = load_err(
        &mut client,
        [Dates {
            id: 0,
            d: NaiveDate::MIN,
        }],
    );
    assert!(
        matches!(&err, Error::InvalidValue { row: 0, .. }),
        "{err:?}"
    );
    assert_eq!(
        count(
            &mut client,
            r#"SELECT count(*) FROM pg_class WHERE relname = 'dates'"#
        ),
        0,
        "a failed first insert leaves no table"
    );
}

#[derive(BulkTable)]
struct Times {
    #[bulk(primary_key)]
    id: i32,
    t: NaiveTime,
    #[bulk(sql_type = "time(2)")]
    t2: NaiveTime,
}

#[test]
fn times_round_trip_and_nanoseconds_round_half_to_even() {
    let (_db, mut client) = connect("types_time");
    // (time, stored as time, stored as time(2): PostgreSQL rounds half up)
    let cases: Vec<(NaiveTime, &str, &str)> = vec![
        (time_nano(0, 0, 0, 0), "00:00:00", "00:00:00"),
        (
            time_nano(23, 59, 59, 999_999_000),
            "23:59:59.999999",
            "24:00:00",
        ),
        (
            time_nano(12, 34, 56, 789_012_000),
            "12:34:56.789012",
            "12:34:56.79",
        ),
        (
            time_nano(12, 0, 0, 125_000_000),
            "12:00:00.125",
            "12:00:00.13",
        ),
        (
            time_nano(12, 0, 0, 124_999_000),
            "12:00:00.124999",
            "12:00:00.12",
        ),
        // 1.0000005 s: a tie, rounded to the even microsecond 0.
        (time_nano(0, 0, 1, 500), "00:00:01", "00:00:01"),
        // 1.0000015 s: a tie, rounded to the even microsecond 2.
        (time_nano(0, 0, 1, 1_500), "00:00:01.000002", "00:00:01"),
        (time_nano(0, 0, 1, 2_500), "00:00:01.000002", "00:00:01"),
        (time_nano(0, 0, 1, 2_501), "00:00:01.000003", "00:00:01"),
        (time_nano(0, 0, 1, 499), "00:00:01", "00:00:01"),
        (time_nano(0, 0, 1, 999), "00:00:01.000001", "00:00:01"),
        (
            time_nano(23, 59, 59, 999_999_499),
            "23:59:59.999999",
            "24:00:00",
        ),
        // 23:59:59.9999995 rounds up to the even 1 000 000 µs: midnight at the
        // end of the day, which PostgreSQL's time type holds.
        (time_nano(23, 59, 59, 999_999_500), "24:00:00", "24:00:00"),
    ];
    let rows: Vec<Times> = cases
        .iter()
        .enumerate()
        .map(|(i, &(t, _, _))| Times {
            id: i as i32,
            t,
            t2: t,
        })
        .collect();
    load(&mut client, rows);
    let back = client
        .query(
            r#"SELECT "t"::text, "t2"::text FROM "public"."times" ORDER BY "id""#,
            &[],
        )
        .unwrap();
    assert_eq!(back.len(), cases.len());
    for (i, (row, (t, text, text2))) in back.iter().zip(&cases).enumerate() {
        assert_eq!(row.get::<_, String>(0), *text, "row {i}: time {t}");
        assert_eq!(row.get::<_, String>(1), *text2, "row {i}: time(2) {t}");
    }
    assert_eq!(
        count(
            &mut client,
            r#"SELECT count(*) FROM "public"."times" WHERE "t" = '23:59:59.999999'::time"#
        ),
        2
    );
}

#[derive(BulkTable)]
struct Stamps {
    #[bulk(primary_key)]
    id: i32,
    ts: NaiveDateTime,
    tz: DateTime<Utc>,
    #[bulk(sql_type = "timestamp(3)")]
    ts3: NaiveDateTime,
    #[bulk(sql_type = "timestamptz(0)")]
    tz0: DateTime<Utc>,
}

#[test]
fn timestamps_round_trip_with_microseconds_before_1970_and_bc() {
    let (_db, mut client) = connect("types_timestamp");
    // (value, as timestamp text; timestamptz adds "+00" before a " BC")
    let cases: Vec<(NaiveDateTime, &str)> = vec![
        (dt(2000, 1, 1, 0, 0, 0, 0), "2000-01-01 00:00:00"),
        (
            dt(1999, 12, 31, 23, 59, 59, 999_999_000),
            "1999-12-31 23:59:59.999999",
        ),
        (dt(1970, 1, 1, 0, 0, 0, 1_000), "1970-01-01 00:00:00.000001"),
        (
            dt(1969, 12, 31, 23, 59, 59, 999_999_000),
            "1969-12-31 23:59:59.999999",
        ),
        (
            dt(1900, 1, 1, 12, 0, 0, 500_000_000),
            "1900-01-01 12:00:00.5",
        ),
        (
            dt(2024, 2, 29, 13, 14, 15, 123_456_000),
            "2024-02-29 13:14:15.123456",
        ),
        // Half to even: 1.0000005 s -> 1.000000 s, 1.0000015 s -> 1.000002 s.
        (dt(2000, 1, 1, 0, 0, 1, 500), "2000-01-01 00:00:01"),
        (dt(2000, 1, 1, 0, 0, 1, 1_500), "2000-01-01 00:00:01.000002"),
        (dt(2000, 1, 1, 0, 0, 1, 2_500), "2000-01-01 00:00:01.000002"),
        (dt(2000, 1, 1, 0, 0, 1, 2_501), "2000-01-01 00:00:01.000003"),
        // The same before the epochs (negative microsecond counts).
        (dt(1969, 12, 31, 23, 59, 59, 500), "1969-12-31 23:59:59"),
        (
            dt(1969, 12, 31, 23, 59, 59, 1_500),
            "1969-12-31 23:59:59.000002",
        ),
        (
            dt(1969, 12, 31, 23, 59, 59, 999_999_499),
            "1969-12-31 23:59:59.999999",
        ),
        // Rounding up carries into the next day.
        (
            dt(2000, 1, 1, 23, 59, 59, 999_999_500),
            "2000-01-02 00:00:00",
        ),
        (dt(1, 1, 1, 0, 0, 0, 0), "0001-01-01 00:00:00"),
        (
            dt(0, 12, 31, 23, 59, 59, 999_999_000),
            "0001-12-31 23:59:59.999999 BC",
        ),
        (dt(-43, 3, 15, 12, 0, 0, 0), "0044-03-15 12:00:00 BC"),
        (dt(-4713, 11, 24, 0, 0, 0, 0), "4714-11-24 00:00:00 BC"),
        (
            NaiveDate::MAX.and_time(time_nano(23, 59, 59, 999_999_000)),
            "262142-12-31 23:59:59.999999",
        ),
    ];
    let rows: Vec<Stamps> = cases
        .iter()
        .enumerate()
        .map(|(i, &(ts, _))| Stamps {
            id: i as i32,
            ts,
            tz: ts.and_utc(),
            ts3: ts,
            tz0: ts.and_utc(),
        })
        .collect();
    load(&mut client, rows);
    let back = client
        .query(
            r#"SELECT "ts"::text, "tz"::text
               FROM "public"."stamps" WHERE "ts" >= '0001-01-01' ORDER BY "id""#,
            &[],
        )
        .unwrap();
    let ad: Vec<_> = cases
        .iter()
        .filter(|(ts, _)| ts.and_utc().timestamp() >= -62_135_596_800)
        .collect();
    assert_eq!(back.len(), ad.len());
    for (i, (row, (ts, text))) in back.iter().zip(ad).enumerate() {
        assert_eq!(row.get::<_, String>(0), *text, "row {i}: timestamp {ts}");
        assert_eq!(
            row.get::<_, String>(1),
            format!("{text}+00"),
            "row {i}: timestamptz {ts}"
        );
    }
    // BC values, timestamp and timestamptz.
    let bc = client
        .query(
            r#"SELECT "ts"::text, "tz"::text FROM "public"."stamps" WHERE "ts" < '0001-01-01' ORDER BY "id""#,
            &[],
        )
        .unwrap();
    let bc: Vec<(String, String)> = bc.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(
        bc,
        [
            (
                "0001-12-31 23:59:59.999999 BC".to_owned(),
                "0001-12-31 23:59:59.999999+00 BC".to_owned()
            ),
            (
                "0044-03-15 12:00:00 BC".to_owned(),
                "0044-03-15 12:00:00+00 BC".to_owned()
            ),
            (
                "4714-11-24 00:00:00 BC".to_owned(),
                "4714-11-24 00:00:00+00 BC".to_owned()
            ),
        ]
    );
    // Compared with PostgreSQL's own literals.
    for (i, (_, text)) in cases.iter().enumerate() {
        let sql = format!(
            r#"SELECT count(*) FROM "public"."stamps" WHERE "id" = {i}
               AND "ts" = '{text}'::timestamp AND "tz" = '{text}'::timestamp AT TIME ZONE 'UTC'"#
        );
        assert_eq!(count(&mut client, &sql), 1, "{text}");
    }
}

#[test]
fn timestamp_precision_is_rounded_by_postgresql() {
    let (_db, mut client) = connect("types_timestamp_p");
    let cases = [
        (
            dt(2000, 1, 1, 0, 0, 0, 1_500_000),
            "2000-01-01 00:00:00.002",
            "2000-01-01 00:00:00+00",
        ),
        (
            dt(2000, 1, 1, 0, 0, 0, 2_500_000),
            "2000-01-01 00:00:00.003",
            "2000-01-01 00:00:00+00",
        ),
        (
            dt(2024, 5, 6, 7, 8, 9, 999_600_000),
            "2024-05-06 07:08:10",
            "2024-05-06 07:08:10+00",
        ),
        (
            dt(2024, 5, 6, 7, 8, 9, 499_999_000),
            "2024-05-06 07:08:09.5",
            "2024-05-06 07:08:09+00",
        ),
    ];
    let rows: Vec<Stamps> = cases
        .iter()
        .enumerate()
        .map(|(i, &(ts, _, _))| Stamps {
            id: i as i32,
            ts,
            tz: ts.and_utc(),
            ts3: ts,
            tz0: ts.and_utc(),
        })
        .collect();
    load(&mut client, rows);
    let back = client
        .query(
            r#"SELECT "ts3"::text, "tz0"::text FROM "public"."stamps" ORDER BY "id""#,
            &[],
        )
        .unwrap();
    let back: Vec<(String, String)> = back.iter().map(|r| (r.get(0), r.get(1))).collect();
    let expected: Vec<(String, String)> = cases
        .iter()
        .map(|(_, a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect();
    assert_eq!(back, expected);
}

#[test]
fn timestamps_before_julian_day_zero_are_invalid_values() {
    let (_db, mut client) = connect("types_timestamp_range");
    let first = dt(-4713, 11, 24, 0, 0, 0, 0);
    // (23:59:59.999999999 would round up to the first valid microsecond.)
    let before = dt(-4713, 11, 23, 23, 59, 59, 999_999_000);
    let row = |id, ts: NaiveDateTime, tz: NaiveDateTime| Stamps {
        id,
        ts,
        tz: tz.and_utc(),
        ts3: first,
        tz0: first.and_utc(),
    };
    let err = load_err(&mut client, [row(0, first, first), row(1, before, first)]);
    assert!(
        matches!(&err, Error::InvalidValue { row: 1, column, .. } if column == "ts"),
        "{err:?}"
    );
    let err = load_err(
        &mut client,
        [
            row(0, first, first),
            row(1, first, first),
            row(2, first, before),
        ],
    );
    assert!(
        matches!(&err, Error::InvalidValue { row: 2, column, .. } if column == "tz"),
        "{err:?}"
    );
    // The first one is fine.
    assert_eq!(load(&mut client, [row(0, first, first)]), 1);
}

// ---------------------------------------------------------------------------
// NULLs

#[derive(BulkTable)]
struct Optionals<'a> {
    #[bulk(primary_key)]
    id: i32,
    flag: Option<bool>,
    small: Option<i16>,
    int: Option<i32>,
    big: Option<i64>,
    real: Option<f32>,
    double: Option<f64>,
    text: Option<String>,
    borrowed: Option<&'a str>,
    boxed: Option<Box<str>>,
    cow: Option<Cow<'a, str>>,
    #[bulk(sql_type = "varchar(3)")]
    short: Option<String>,
    #[bulk(sql_type = "char(2)")]
    fixed: Option<String>,
    bytes: Option<Vec<u8>>,
    byte_slice: Option<&'a [u8]>,
    number: Option<Decimal>,
    #[bulk(sql_type = "numeric(5,2)")]
    money: Option<Decimal>,
    day: Option<NaiveDate>,
    clock: Option<NaiveTime>,
    stamp: Option<NaiveDateTime>,
    stamp_tz: Option<DateTime<Utc>>,
}

const OPTIONAL_COLUMNS: &str = r#""flag", "small", "int", "big", "real", "double", "text", "borrowed",
    "boxed", "cow", "short", "fixed", "bytes", "byte_slice", "number", "money", "day", "clock",
    "stamp", "stamp_tz""#;

#[test]
fn every_option_type_writes_null_and_values() {
    let (_db, mut client) = connect("types_nulls");
    let none = Optionals {
        id: 0,
        flag: None,
        small: None,
        int: None,
        big: None,
        real: None,
        double: None,
        text: None,
        borrowed: None,
        boxed: None,
        cow: None,
        short: None,
        fixed: None,
        bytes: None,
        byte_slice: None,
        number: None,
        money: None,
        day: None,
        clock: None,
        stamp: None,
        stamp_tz: None,
    };
    // Empty strings and bytes, zeros and false are values, not NULL.
    let empty = Optionals {
        id: 1,
        flag: Some(false),
        small: Some(0),
        int: Some(0),
        big: Some(0),
        real: Some(0.0),
        double: Some(0.0),
        text: Some(String::new()),
        borrowed: Some(""),
        boxed: Some("".into()),
        cow: Some(Cow::Borrowed("")),
        short: Some(String::new()),
        fixed: Some(String::new()),
        bytes: Some(Vec::new()),
        byte_slice: Some(&[]),
        number: Some(Decimal::ZERO),
        money: Some(Decimal::ZERO),
        day: Some(date(2000, 1, 1)),
        clock: Some(NaiveTime::MIN),
        stamp: Some(dt(2000, 1, 1, 0, 0, 0, 0)),
        stamp_tz: Some(dt(2000, 1, 1, 0, 0, 0, 0).and_utc()),
    };
    let full = Optionals {
        id: 2,
        flag: Some(true),
        small: Some(-7),
        int: Some(70_000),
        big: Some(-1 << 40),
        real: Some(f32::NAN),
        double: Some(-2.5),
        text: Some("tëxt".into()),
        borrowed: Some("🚀"),
        boxed: Some("boxed".into()),
        cow: Some(Cow::Owned("cow".into())),
        short: Some("éé".into()),
        fixed: Some("x".into()),
        bytes: Some(vec![0, 0x80, 0xff]),
        byte_slice: Some(b"\x00\x01"),
        number: Some(dec("-1.50")),
        money: Some(dec("12.345")),
        day: Some(date(-43, 3, 15)),
        clock: Some(time_nano(23, 59, 59, 999_999_000)),
        stamp: Some(dt(1969, 7, 20, 20, 17, 40, 123_456_000)),
        stamp_tz: Some(dt(1969, 7, 20, 20, 17, 40, 654_321_000).and_utc()),
    };
    load(&mut client, [&none, &empty, &full]);

    let nulls: Vec<i32> = client
        .query(
            &format!(
                r#"SELECT num_nulls({OPTIONAL_COLUMNS}) FROM "public"."optionals" ORDER BY "id""#
            ),
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(nulls, [20, 0, 0]);

    // Every column is nullable.
    assert_eq!(
        count(
            &mut client,
            r#"SELECT count(*) FROM pg_attribute WHERE attrelid = '"public"."optionals"'::regclass
               AND attnum > 1 AND NOT attnotnull"#
        ),
        20
    );

    let text = client
        .query_one(
            r#"SELECT concat_ws('|', "flag", "small", "int", "big", "real", "double", "text", "borrowed",
                      "boxed", "cow", "short", '[' || "fixed" || ']', encode("bytes", 'hex'),
                      encode("byte_slice", 'hex'), "number", "money", "day", "clock", "stamp", "stamp_tz")
               FROM "public"."optionals" WHERE "id" = 2"#,
            &[],
        )
        .unwrap()
        .get::<_, String>(0);
    assert_eq!(
        text,
        "t|-7|70000|-1099511627776|NaN|-2.5|tëxt|🚀|boxed|cow|éé|[x]|0080ff|0001|-1.50|12.35|\
         0044-03-15 BC|23:59:59.999999|1969-07-20 20:17:40.123456|1969-07-20 20:17:40.654321+00"
    );
    let text = client
        .query_one(
            r#"SELECT concat_ws('|', "flag", "small", "int", "big", "real", "double", "text", "borrowed",
                      "boxed", "cow", "short", '[' || "fixed" || ']', encode("bytes", 'hex'),
                      encode("byte_slice", 'hex'), "number", "money", "day", "clock", "stamp", "stamp_tz")
               FROM "public"."optionals" WHERE "id" = 1"#,
            &[],
        )
        .unwrap()
        .get::<_, String>(0);
    // char(2) of '' is two spaces; `||` on character drops trailing spaces.
    assert_eq!(
        text,
        "f|0|0|0|0|0||||||[]|||0|0.00|2000-01-01|00:00:00|2000-01-01 00:00:00|2000-01-01 00:00:00+00"
    );
    let fixed: Option<String> = client
        .query_one(
            r#"SELECT "fixed" FROM "public"."optionals" WHERE "id" = 1"#,
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(fixed.as_deref(), Some("  "));
}

// ---------------------------------------------------------------------------
// Byte-for-byte comparison with PostgreSQL's own binary output

#[derive(BulkTable)]
struct Everything<'a> {
    #[bulk(primary_key)]
    id: i32,
    flag: bool,
    small: i16,
    big: i64,
    real: f32,
    double: f64,
    text: &'a str,
    #[bulk(sql_type = "varchar(3)")]
    short: String,
    #[bulk(sql_type = "char(3)")]
    fixed: String,
    bytes: Vec<u8>,
    number: Decimal,
    #[bulk(sql_type = "numeric(6,3)")]
    money: Decimal,
    day: NaiveDate,
    clock: NaiveTime,
    stamp: NaiveDateTime,
    stamp_tz: DateTime<Utc>,
    #[bulk(sql_type = "timestamp(3)")]
    stamp_ms: NaiveDateTime,
    missing: Option<i32>,
}

#[test]
fn stored_values_are_byte_identical_to_postgresql_literals() {
    let (_db, mut client) = connect("types_binary");
    let rows = [
        Everything {
            id: 1,
            flag: true,
            small: -2,
            big: i64::MIN,
            real: 0.1,
            double: 1e308,
            text: "héllo 🚀",
            short: "éé".into(),
            fixed: "a".into(),
            bytes: vec![0x00, 0x80, 0xff, 0x5c],
            number: dec("-12345.678900"),
            money: dec("1.23456"),
            day: date(1969, 7, 20),
            clock: time_nano(20, 17, 40, 1_500),
            stamp: dt(-43, 3, 15, 12, 0, 0, 500),
            stamp_tz: dt(2024, 2, 29, 13, 14, 15, 123_456_000).and_utc(),
            stamp_ms: dt(2000, 1, 1, 0, 0, 0, 1_500_000),
            missing: None,
        },
        Everything {
            id: 2,
            flag: false,
            small: i16::MAX,
            big: 0,
            real: f32::NEG_INFINITY,
            double: f64::NAN,
            text: "",
            short: "abc   ".into(),
            fixed: "".into(),
            bytes: Vec::new(),
            number: Decimal::MAX,
            money: dec("-999.9994"),
            day: date(0, 2, 29),
            clock: time_nano(23, 59, 59, 999_999_500),
            stamp: dt(1999, 12, 31, 23, 59, 59, 999_999_000),
            stamp_tz: dt(1, 1, 1, 0, 0, 0, 0).and_utc(),
            stamp_ms: dt(1999, 12, 31, 23, 59, 59, 999_600_000),
            missing: Some(-1),
        },
    ];
    load(&mut client, &rows);
    let ours = binary_copy(
        &mut client,
        r#"SELECT * FROM "public"."everything" ORDER BY "id""#,
    );
    let theirs = binary_copy(
        &mut client,
        r#"SELECT 1::int4, true, -2::int2, (-9223372036854775808)::int8, '0.1'::real, '1e308'::float8,
                  'héllo 🚀'::text, 'éé'::varchar(3), 'a'::char(3), '\x0080ff5c'::bytea,
                  '-12345.678900'::numeric, '1.235'::numeric(6,3), '1969-07-20'::date,
                  '20:17:40.000002'::time, '0044-03-15 12:00:00 BC'::timestamp,
                  '2024-02-29 13:14:15.123456+00'::timestamptz, '2000-01-01 00:00:00.002'::timestamp(3),
                  NULL::int4
           UNION ALL
           SELECT 2, false, 32767::int2, 0::int8, '-Infinity'::real, 'NaN'::float8,
                  '', 'abc'::varchar(3), ''::char(3), ''::bytea,
                  '79228162514264337593543950335'::numeric, '-999.999'::numeric(6,3),
                  '0001-02-29 BC'::date, '24:00:00'::time, '1999-12-31 23:59:59.999999'::timestamp,
                  '0001-01-01 00:00:00+00'::timestamptz, '2000-01-01 00:00:00'::timestamp(3), -1"#,
    );
    assert_eq!(ours, theirs);
}
