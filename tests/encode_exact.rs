//! The bytes our encoders write, compared byte for byte with the bytes
//! PostgreSQL itself sends for the same value in a binary COPY
//! (`COPY (SELECT <literal>::<type>) TO STDOUT (FORMAT binary)`), for edge
//! values of every supported type. Values PostgreSQL can't hold must be
//! rejected by our encoder and by PostgreSQL's own input function alike.
//!
//! `jsonb` is the exception: the server parses the JSON text we send and
//! stores its own form of it, so our bytes need not be the ones it sends
//! back. A `jsonb` value is loaded by a binary COPY of our bytes and the value
//! stored is compared with PostgreSQL's own value of the literal.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use chrono::{
    DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, TimeZone, Utc,
};
use pg_bulk_ingest::{Encode, SqlType, TypeKind};
use postgres::{Client, GenericClient};
use rust_decimal::Decimal;
use serde_json::{json, Value};

/// A connection to a fresh database; the database lives as long as the
/// returned handle.
fn connect() -> (pg_bulk_ingest_testkit::TestDb, Client) {
    let db = pg_bulk_ingest_testkit::server().create_database("exact");
    let client = db.connect();
    (db, client)
}

/// The single field of `COPY (SELECT expr) TO STDOUT (FORMAT binary)`, or
/// `None` for NULL.
fn pg_field(client: &mut impl GenericClient, expr: &str) -> Option<Vec<u8>> {
    let mut reader = client
        .copy_out(&format!("COPY (SELECT {expr}) TO STDOUT (FORMAT binary)"))
        .unwrap_or_else(|e| panic!("{expr}: {e}"));
    let mut buf = Vec::new();
    reader.read_to_end(&mut buf).unwrap();
    assert_eq!(&buf[..19], b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0");
    assert_eq!(&buf[19..21], &1i16.to_be_bytes(), "one field");
    assert_eq!(&buf[buf.len() - 2..], &(-1i16).to_be_bytes(), "trailer");
    let len = i32::from_be_bytes(buf[21..25].try_into().unwrap());
    if len < 0 {
        return None;
    }
    let field = buf[25..25 + len as usize].to_vec();
    assert_eq!(buf.len(), 25 + len as usize + 2, "one row");
    Some(field)
}

fn ours<E: Encode + ?Sized>(value: &E, ty: &SqlType) -> Vec<u8> {
    let mut out = Vec::new();
    value
        .encode(ty, &mut out)
        .unwrap_or_else(|e| panic!("{ty}: encoding failed: {e}"));
    out
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// `value` as a column of type `ty` gives the bytes of `expr`.
fn exact_expr<E: Encode + ?Sized + std::fmt::Debug>(
    client: &mut Client,
    value: &E,
    ty: SqlType,
    expr: &str,
) {
    let theirs = pg_field(client, expr).expect("not NULL");
    let mine = ours(value, &ty);
    assert!(
        mine == theirs,
        "{value:?} as {ty} vs {expr}:\n  ours:       {}\n  PostgreSQL: {}",
        hex(&mine),
        hex(&theirs)
    );
}

/// `value` as a column of type `ty` gives the bytes of `'literal'::ty`.
fn exact_as<E: Encode + ?Sized + std::fmt::Debug>(
    client: &mut Client,
    value: &E,
    ty: SqlType,
    literal: &str,
) {
    exact_expr(client, value, ty, &format!("{}::{ty}", quote(literal)));
}

/// `value` as its default column type gives the bytes of `'literal'::type`.
fn exact<E: Encode + std::fmt::Debug>(client: &mut Client, value: &E, literal: &str) {
    exact_as(client, value, E::SQL_TYPE, literal);
}

/// `value` loaded by a binary COPY of our bytes into a column of type `ty`
/// stores the value of `expr`: the two print alike, are equal by the type's
/// equality, and the server sends both back with the same bytes. For a type
/// the server parses on input (`jsonb`), whose bytes need not be the ones it
/// sends back.
fn stored_expr<E: Encode + ?Sized + std::fmt::Debug>(
    client: &mut Client,
    value: &E,
    ty: SqlType,
    expr: &str,
) {
    let mut copy = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0".to_vec();
    copy.extend_from_slice(&1i16.to_be_bytes());
    value
        .encode_field(&ty, &mut copy)
        .unwrap_or_else(|e| panic!("{ty}: encoding failed: {e}"));
    copy.extend_from_slice(&(-1i16).to_be_bytes());
    let mut tx = client.transaction().unwrap();
    tx.batch_execute(&format!("CREATE TEMP TABLE \"stored\" (\"v\" {ty})"))
        .unwrap();
    let mut writer = tx
        .copy_in("COPY \"stored\" (\"v\") FROM STDIN (FORMAT binary)")
        .unwrap();
    writer.write_all(&copy).unwrap();
    writer
        .finish()
        .unwrap_or_else(|e| panic!("{value:?} as {ty}: our bytes were refused: {e}"));
    let row = tx
        .query_one(
            &format!("SELECT \"v\"::text, ({expr})::text, \"v\" = ({expr}) FROM \"stored\""),
            &[],
        )
        .unwrap_or_else(|e| panic!("{expr}: {e}"));
    let (mine, theirs, equal): (String, String, Option<bool>) =
        (row.get(0), row.get(1), row.get(2));
    assert_eq!(mine, theirs, "{value:?} as {ty} vs {expr}");
    assert_eq!(equal, Some(true), "{value:?} as {ty} = {expr}");
    let mine = pg_field(&mut tx, "\"v\" FROM \"stored\"");
    let theirs = pg_field(&mut tx, expr);
    assert!(
        mine == theirs,
        "{value:?} as {ty} vs {expr}, sent back:\n  stored:  {:?}\n  literal: {:?}",
        mine.as_deref().map(hex),
        theirs.as_deref().map(hex)
    );
}

/// `value` as its default column type stores the value of `'literal'::type`.
fn stored<E: Encode + std::fmt::Debug>(client: &mut Client, value: &E, literal: &str) {
    stored_expr(
        client,
        value,
        E::SQL_TYPE,
        &format!("{}::{}", quote(literal), E::SQL_TYPE),
    );
}

/// Both our encoder and PostgreSQL's input function refuse the value.
fn both_reject<E: Encode + ?Sized + std::fmt::Debug>(
    client: &mut Client,
    value: &E,
    ty: SqlType,
    literal: &str,
) -> String {
    let mut out = Vec::new();
    let err = match value.encode(&ty, &mut out) {
        Ok(()) => panic!("{value:?} as {ty} was accepted: {}", hex(&out)),
        Err(e) => e,
    };
    // Stored in a column (an explicit cast would cut a too long varchar).
    let mut tx = client.transaction().unwrap();
    tx.batch_execute(&format!("CREATE TEMP TABLE \"reject\" (\"v\" {ty})"))
        .unwrap();
    let sql = format!("INSERT INTO \"reject\" VALUES ({})", quote(literal));
    let pg = tx
        .batch_execute(&sql)
        .expect_err(&format!("PostgreSQL accepted {sql} ({ty})"));
    assert!(pg.as_db_error().is_some(), "{sql}: {pg}");
    drop(tx);
    err.reason().to_owned()
}

fn hex(b: &[u8]) -> String {
    b.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn ty(kind: TypeKind) -> SqlType {
    SqlType::new(kind)
}

#[test]
fn bool_integers_floats() {
    let (_db, mut c) = connect();
    exact(&mut c, &true, "true");
    exact(&mut c, &false, "false");
    for v in [0i16, 1, -1, i16::MIN, i16::MAX] {
        exact(&mut c, &v, &v.to_string());
    }
    for v in [0i32, -1, i32::MIN, i32::MAX] {
        exact(&mut c, &v, &v.to_string());
    }
    for v in [0i64, -1, i64::MIN, i64::MAX] {
        exact(&mut c, &v, &v.to_string());
    }
    for (v, lit) in [
        (0.0f32, "0"),
        (-0.0, "-0"),
        (1.5, "1.5"),
        (f32::MAX, "3.4028235e38"),
        (f32::MIN_POSITIVE, "1.1754944e-38"),
        (f32::INFINITY, "Infinity"),
        (f32::NEG_INFINITY, "-Infinity"),
        (f32::NAN, "NaN"),
    ] {
        exact(&mut c, &v, lit);
    }
    for (v, lit) in [
        (0.0f64, "0"),
        (-0.0, "-0"),
        (0.1, "0.1"),
        (f64::MAX, "1.7976931348623157e308"),
        (5e-324, "5e-324"),
        (f64::INFINITY, "Infinity"),
        (f64::NEG_INFINITY, "-Infinity"),
        (f64::NAN, "NaN"),
    ] {
        exact(&mut c, &v, lit);
    }
}

#[test]
fn more_integers() {
    let (_db, mut c) = connect();
    // i8 → smallint, u16 → integer, u32 → bigint, u64 → numeric(20,0).
    for v in [i8::MIN, -1, 0, i8::MAX] {
        exact(&mut c, &v, &v.to_string());
    }
    for v in [0u16, 1, u16::MAX] {
        exact(&mut c, &v, &v.to_string());
    }
    for v in [0u32, u32::MAX] {
        exact(&mut c, &v, &v.to_string());
    }
    for v in [
        0u64,
        1,
        9_999,
        10_000,
        100_000_000,
        1_0000_0000_0000_0000,
        i64::MAX as u64 + 1,
        u64::MAX,
    ] {
        exact(&mut c, &v, &v.to_string());
    }
    assert_eq!(u64::SQL_TYPE.to_string(), "numeric(20,0)");
    // Other columns given with sql_type.
    let int8 = ty(TypeKind::Int8);
    exact_as(&mut c, &(i64::MAX as u64), int8, &i64::MAX.to_string());
    exact_as(&mut c, &-5i8, ty(TypeKind::Numeric), "-5");
    exact_as(&mut c, &40_000u16, int8, "40000");
    exact_as(&mut c, &7u32, ty(TypeKind::Int4), "7");
    let numeric_5_2 = ty(TypeKind::Numeric).with_precision_scale(5, 2);
    // The server rounds to the column's scale on receipt; compare with an
    // unconstrained numeric of the same value.
    exact_expr(&mut c, &999u64, numeric_5_2, "999::numeric");

    // Out of range: rejected like PostgreSQL rejects the literal.
    let reason = both_reject(&mut c, &(i64::MAX as u64 + 1), int8, "9223372036854775808");
    assert_eq!(reason, "value out of range for bigint");
    both_reject(&mut c, &40_000u16, ty(TypeKind::Int2), "40000");
    both_reject(&mut c, &3_000_000_000u32, ty(TypeKind::Int4), "3000000000");
    let reason = both_reject(&mut c, &1000u64, numeric_5_2, "1000");
    assert!(reason.starts_with("numeric field overflow"), "{reason}");
}

#[test]
fn numeric() {
    let (_db, mut c) = connect();
    for lit in [
        "0",
        "0.00",
        "-1.5",
        "1.5",
        "12345.678",
        "0.0000000000000000000000000001",
        "-0.0000000000000000000000000001",
        "79228162514264337593543950335",
        "-79228162514264337593543950335",
        "7922816251426433759354395033.5",
        "10000",
        "100.000",
        "0.0001",
        "0.00001",
        "1.10",
        "100000000.00000001",
        "9999.9999",
        "-0.5",
    ] {
        let d = Decimal::from_str(lit).unwrap();
        exact(&mut c, &d, lit);
    }
    // rust_decimal keeps a negative zero; PostgreSQL has none.
    exact(&mut c, &Decimal::from_str("-0.00").unwrap(), "0.00");
    exact(&mut c, &Decimal::new(1, 28), "1e-28");
    let d = Decimal::from_str("999.995").unwrap();
    let reason = both_reject(
        &mut c,
        &d,
        ty(TypeKind::Numeric).with_precision_scale(5, 2),
        "999.995",
    );
    assert!(reason.starts_with("numeric field overflow"), "{reason}");
}

#[test]
fn text_and_bytes() {
    let (_db, mut c) = connect();
    for s in [
        "",
        "a",
        "héllo wörld",
        "tab\there\nnewline",
        "'quoted' \"x\" \\",
        "😀𝄞",
    ] {
        exact(&mut c, &s, s);
        exact_as(&mut c, &s, ty(TypeKind::Varchar), s);
    }
    let v3 = ty(TypeKind::Varchar).with_length(3);
    exact_as(&mut c, &"abc", v3, "abc");
    exact_as(&mut c, &"héé", v3, "héé");
    // Excess spaces are cut by both.
    exact_as(&mut c, &"ab    ", v3, "ab    ");
    exact_as(&mut c, &"abc  ", v3, "abc  ");
    let c3 = ty(TypeKind::Char).with_length(3);
    exact_as(&mut c, &"abc", c3, "abc");
    exact_as(&mut c, &"abc   ", c3, "abc   ");
    both_reject(&mut c, &"abcd", v3, "abcd");
    both_reject(&mut c, &"abcd", c3, "abcd");

    // char: character(1) by default.
    assert_eq!(char::SQL_TYPE.to_string(), "character(1)");
    for ch in ['a', 'é', '😀', ' ', '\''] {
        exact(&mut c, &ch, &ch.to_string());
        exact_as(&mut c, &ch, ty(TypeKind::Text), &ch.to_string());
    }
    let mut out = Vec::new();
    let e = '\0'.encode(&char::SQL_TYPE, &mut out).unwrap_err();
    assert!(e.reason().contains("NUL"), "{e}");

    for b in [&b""[..], b"\0\x01\xff", b"\\x00"] {
        exact_expr(
            &mut c,
            &b.to_vec(),
            ty(TypeKind::Bytea),
            &format!("'\\x{}'::bytea", hex(b).replace(' ', "")),
        );
    }
}

#[test]
fn chrono_dates_and_times() {
    let (_db, mut c) = connect();
    let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
    for (d, lit) in [
        (date(2000, 1, 1), "2000-01-01"),
        (date(1999, 12, 31), "1999-12-31"),
        (date(1970, 1, 1), "1970-01-01"),
        (date(1, 1, 1), "0001-01-01"),
        (date(0, 12, 31), "0001-12-31 BC"),
        (date(-43, 3, 15), "0044-03-15 BC"),
        (date(-4713, 11, 24), "4714-11-24 BC"),
        (date(2024, 2, 29), "2024-02-29"),
        (NaiveDate::MAX, "262142-12-31"),
    ] {
        exact(&mut c, &d, lit);
    }
    let reason = both_reject(
        &mut c,
        &date(-4713, 11, 23),
        NaiveDate::SQL_TYPE,
        "4714-11-23 BC",
    );
    assert!(reason.starts_with("date out of range"), "{reason}");

    let time = |h, m, s, n| NaiveTime::from_hms_nano_opt(h, m, s, n).unwrap();
    for (t, lit) in [
        (time(0, 0, 0, 0), "00:00:00"),
        (time(12, 34, 56, 789_012_000), "12:34:56.789012"),
        (time(23, 59, 59, 999_999_000), "23:59:59.999999"),
        // Rounded half to even.
        (time(0, 0, 0, 1_500), "00:00:00.000002"),
        (time(0, 0, 0, 2_500), "00:00:00.000002"),
        (time(0, 0, 0, 2_501), "00:00:00.000003"),
        (time(23, 59, 59, 999_999_500), "24:00:00"),
        // A leap second at the end of the day is 24:00:00.
        (time(23, 59, 59, 1_000_000_000), "24:00:00"),
    ] {
        exact(&mut c, &t, lit);
    }

    let ts = |d: NaiveDate, t: NaiveTime| NaiveDateTime::new(d, t);
    for (v, lit) in [
        (
            ts(date(2000, 1, 1), time(0, 0, 0, 0)),
            "2000-01-01 00:00:00",
        ),
        (
            ts(date(1970, 1, 1), time(0, 0, 0, 0)),
            "1970-01-01 00:00:00",
        ),
        (
            ts(date(1999, 12, 31), time(23, 59, 59, 999_999_000)),
            "1999-12-31 23:59:59.999999",
        ),
        (ts(date(1, 1, 1), time(0, 0, 0, 0)), "0001-01-01 00:00:00"),
        (
            ts(date(-4713, 11, 24), time(0, 0, 0, 0)),
            "4714-11-24 00:00:00 BC",
        ),
        (
            ts(date(-43, 3, 15), time(12, 0, 0, 123_456_789)),
            "0044-03-15 12:00:00.123457 BC",
        ),
        (
            ts(NaiveDate::MAX, time(23, 59, 59, 999_999_000)),
            "262142-12-31 23:59:59.999999",
        ),
        // A leap second is the first second of the next minute, as
        // PostgreSQL reads 23:59:60.
        (
            ts(date(2016, 12, 31), time(23, 59, 59, 1_000_000_000)),
            "2016-12-31 23:59:60",
        ),
        (
            ts(date(2016, 12, 31), time(23, 59, 59, 1_500_000_000)),
            "2017-01-01 00:00:00.5",
        ),
        (
            ts(date(2016, 12, 31), time(23, 59, 59, 1_999_999_999)),
            "2017-01-01 00:00:01",
        ),
    ] {
        exact(&mut c, &v, lit);
    }
    let before = ts(date(-4713, 11, 23), time(23, 59, 59, 999_999_000));
    both_reject(
        &mut c,
        &before,
        NaiveDateTime::SQL_TYPE,
        "4714-11-23 23:59:59.999999 BC",
    );

    // timestamptz: the instant, whatever the offset or the session's zone.
    c.batch_execute("SET TimeZone = 'America/New_York'")
        .unwrap();
    let utc = Utc.with_ymd_and_hms(2024, 2, 29, 12, 0, 0).unwrap();
    exact(&mut c, &utc, "2024-02-29 12:00:00+00");
    let india = FixedOffset::east_opt(5 * 3600 + 1800).unwrap();
    let local: DateTime<FixedOffset> = india.with_ymd_and_hms(2024, 2, 29, 12, 0, 0).unwrap();
    exact(&mut c, &local, "2024-02-29 12:00:00+05:30");
    assert_eq!(
        <DateTime<FixedOffset>>::SQL_TYPE.to_string(),
        "timestamp with time zone"
    );
    let west = FixedOffset::west_opt(8 * 3600).unwrap();
    let bc = west.with_ymd_and_hms(-4713, 11, 24, 16, 0, 0).unwrap();
    exact(&mut c, &bc, "4714-11-24 16:00:00-08 BC");
    let too_early = west.with_ymd_and_hms(-4713, 11, 23, 15, 59, 59).unwrap();
    both_reject(
        &mut c,
        &too_early,
        <DateTime<FixedOffset>>::SQL_TYPE,
        "4714-11-23 15:59:59-08 BC",
    );
}

/// The largest interval of microseconds only, 2⁶³−1 µs (2562047788:00:54.775807),
/// as an expression every supported major evaluates. PostgreSQL 12–14 read and
/// print at most 2³¹−1 hours in text (their `pg_tm` hour is an `int`): the
/// literal itself is "interval field value out of range" there. They add two
/// intervals up to any 64-bit time, and binary COPY output carries it.
const MAX_INTERVAL: &str = "('2000000000:00:00'::interval + '562047788:00:54.775807'::interval)";

#[test]
fn intervals() {
    let (_db, mut c) = connect();
    for (d, lit) in [
        (TimeDelta::zero(), "0"),
        (TimeDelta::microseconds(1), "0.000001 seconds"),
        (TimeDelta::microseconds(-1), "-0.000001 seconds"),
        // Exact durations are microseconds only: 25 hours, not 1 day 1 hour.
        (TimeDelta::seconds(90_000), "25:00:00"),
        (TimeDelta::seconds(-90_000), "-25:00:00"),
        (TimeDelta::nanoseconds(1_500), "0.000002 seconds"),
        (TimeDelta::nanoseconds(2_500), "0.000002 seconds"),
        (TimeDelta::nanoseconds(-2_500), "-0.000002 seconds"),
        (TimeDelta::nanoseconds(-2_501), "-0.000003 seconds"),
    ] {
        exact(&mut c, &d, lit);
    }
    for (d, expr) in [
        (TimeDelta::microseconds(i64::MAX), MAX_INTERVAL.to_owned()),
        (
            TimeDelta::microseconds(-i64::MAX),
            format!("-{MAX_INTERVAL}"),
        ),
        (
            TimeDelta::microseconds(i64::MIN),
            format!("-{MAX_INTERVAL} - '0.000001 seconds'::interval"),
        ),
    ] {
        exact_expr(&mut c, &d, TimeDelta::SQL_TYPE, &expr);
    }
    let reason = both_reject(
        &mut c,
        &(TimeDelta::microseconds(i64::MAX) + TimeDelta::microseconds(1)),
        TimeDelta::SQL_TYPE,
        "2562047788:00:54.775808",
    );
    assert!(reason.starts_with("interval out of range"), "{reason}");

    use std::time::Duration;
    for (d, lit) in [
        (Duration::ZERO, "0"),
        (Duration::from_secs(86_400 * 40), "960:00:00"),
        (Duration::new(1, 500), "1 second"),
        (Duration::new(1, 1_500), "1.000002 seconds"),
    ] {
        exact(&mut c, &d, lit);
    }
    exact_expr(
        &mut c,
        &Duration::from_micros(i64::MAX as u64),
        Duration::SQL_TYPE,
        MAX_INTERVAL,
    );
    both_reject(
        &mut c,
        &Duration::from_micros(i64::MAX as u64 + 1),
        Duration::SQL_TYPE,
        "2562047788:00:54.775808",
    );
}

#[test]
fn time_crate() {
    use time::macros::{date, datetime, time};
    let (_db, mut c) = connect();
    for (d, lit) in [
        (date!(2000 - 01 - 01), "2000-01-01"),
        (date!(1970 - 01 - 01), "1970-01-01"),
        (date!(0001 - 01 - 01), "0001-01-01"),
        (date!(-0043 - 03 - 15), "0044-03-15 BC"),
        (date!(-4713 - 11 - 24), "4714-11-24 BC"),
        (time::Date::MAX, "9999-12-31"),
    ] {
        exact(&mut c, &d, lit);
    }
    both_reject(
        &mut c,
        &date!(-4713 - 11 - 23),
        time::Date::SQL_TYPE,
        "4714-11-23 BC",
    );
    both_reject(
        &mut c,
        &time::Date::MIN,
        time::Date::SQL_TYPE,
        "10000-01-01 BC",
    );

    for (t, lit) in [
        (time!(00:00), "00:00:00"),
        (time!(12:34:56.789012), "12:34:56.789012"),
        (time!(0:00:00.0000025), "00:00:00.000002"),
        (time!(0:00:00.0000035), "00:00:00.000004"),
        (time!(23:59:59.999999999), "24:00:00"),
    ] {
        exact(&mut c, &t, lit);
    }
    for (v, lit) in [
        (datetime!(2000-01-01 0:00), "2000-01-01 00:00:00"),
        (datetime!(1970-01-01 0:00), "1970-01-01 00:00:00"),
        (datetime!(-4713-11-24 0:00), "4714-11-24 00:00:00 BC"),
        (
            datetime!(9999-12-31 23:59:59.999999999),
            "10000-01-01 00:00:00",
        ),
        (
            datetime!(2024-02-29 12:00:00.1234565),
            "2024-02-29 12:00:00.123456",
        ),
    ] {
        exact(&mut c, &v, lit);
    }
    both_reject(
        &mut c,
        &datetime!(-4713-11-23 23:59:59.999999),
        time::PrimitiveDateTime::SQL_TYPE,
        "4714-11-23 23:59:59.999999 BC",
    );
    for (v, lit) in [
        (
            datetime!(2024-02-29 12:00 +05:30),
            "2024-02-29 12:00:00+05:30",
        ),
        (datetime!(2000-01-01 0:00 UTC), "2000-01-01 00:00:00+00"),
        (datetime!(-4713-11-24 16:00 -8), "4714-11-24 16:00:00-08 BC"),
    ] {
        exact(&mut c, &v, lit);
    }
    for (d, lit) in [
        (time::Duration::ZERO, "0"),
        (time::Duration::new(-1, -1_500), "-1.000002 seconds"),
        (time::Duration::hours(25), "25:00:00"),
    ] {
        exact(&mut c, &d, lit);
    }
    exact_expr(
        &mut c,
        &time::Duration::microseconds(i64::MAX),
        time::Duration::SQL_TYPE,
        MAX_INTERVAL,
    );
    both_reject(
        &mut c,
        &time::Duration::MAX,
        time::Duration::SQL_TYPE,
        "2562047788:00:54.775808",
    );
}

#[test]
fn uuid_and_inet() {
    let (_db, mut c) = connect();
    for u in [
        uuid::Uuid::nil(),
        uuid::Uuid::max(),
        uuid::Uuid::from_u128(0x0011_2233_4455_6677_8899_aabb_ccdd_eeff),
    ] {
        exact(&mut c, &u, &u.to_string());
    }
    for a in [
        "0.0.0.0",
        "255.255.255.255",
        "192.168.1.1",
        "10.0.0.1",
        "::",
        "::1",
        "::ffff:1.2.3.4",
        "fe80::1:2",
        "2001:db8::8a2e:370:7334",
        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    ] {
        let ip: IpAddr = a.parse().unwrap();
        exact(&mut c, &ip, a);
        match ip {
            IpAddr::V4(v4) => exact::<Ipv4Addr>(&mut c, &v4, a),
            IpAddr::V6(v6) => exact::<Ipv6Addr>(&mut c, &v6, a),
        }
    }
}

#[test]
fn json_and_jsonb() {
    let (_db, mut c) = connect();
    let values = [
        json!(null),
        json!(true),
        json!(0),
        json!(-1),
        json!(i64::MIN),
        json!(u64::MAX),
        json!(1.5),
        json!(1.0),
        json!(-0.0),
        json!(0.1),
        json!(1e-7),
        json!(1.5e-7),
        json!(1e16),
        json!(1e21),
        json!(1.7976931348623157e308),
        json!(5e-324),
        json!(""),
        json!("a\"b\\c\n\t\u{1}\u{1f}\u{7f}é😀/"),
        json!([]),
        json!({}),
        json!([1, "two", null, [3], {"four": 4}]),
        json!({"b": 1, "aa": [1, 2, {"x": null}], "a": 1.5, "": 0, "é": 1, "z": {"y": {}}}),
        json!({"bb": 1, "a": 2, "ab": 3, "ba": 4, "c": [true, false]}),
    ];
    for v in &values {
        let text = serde_json::to_string(v).unwrap();
        // jsonb: the server parses the text and stores its own form; ours
        // must store the value the literal gives.
        stored(&mut c, v, &text);
        // json: kept as sent.
        exact_as(&mut c, v, ty(TypeKind::Json), &text);
    }
    // U+0000: json keeps the escape, jsonb refuses it.
    let nul = json!({"k": "a\u{0}b"});
    exact_as(&mut c, &nul, ty(TypeKind::Json), r#"{"k":"a\u0000b"}"#);
    let reason = both_reject(&mut c, &nul, Value::SQL_TYPE, r#"{"k":"a\u0000b"}"#);
    assert!(reason.contains("U+0000"), "{reason}");
    both_reject(
        &mut c,
        &json!({"\u{0}": 1}),
        Value::SQL_TYPE,
        r#"{"\u0000":1}"#,
    );
}

#[test]
fn arrays() {
    let (_db, mut c) = connect();
    exact(&mut c, &Vec::<i32>::new(), "{}");
    exact(&mut c, &vec![1i32, 2, 3], "{1,2,3}");
    exact(&mut c, &vec![Some(1i32), None, Some(3)], "{1,NULL,3}");
    exact(&mut c, &vec![None::<i32>], "{NULL}");
    exact(
        &mut c,
        &vec![i64::MIN, i64::MAX],
        &format!("{{{},{}}}", i64::MIN, i64::MAX),
    );
    exact(&mut c, &vec![-1i16], "{-1}");
    exact(&mut c, &vec![true, false], "{t,f}");
    exact(
        &mut c,
        &vec![f64::NAN, -0.0, f64::INFINITY],
        "{NaN,-0,Infinity}",
    );
    exact(&mut c, &vec![1.5f32], "{1.5}");
    let slice: &[i64] = &[5, 6];
    exact(&mut c, &slice, "{5,6}");
    let boxed: Box<[i64]> = vec![7].into_boxed_slice();
    exact(&mut c, &boxed, "{7}");

    let texts = vec![
        Some(String::new()),
        None,
        Some("a,b".to_owned()),
        Some("\"q\" \\".to_owned()),
        Some("NULL".to_owned()),
        Some("é😀".to_owned()),
    ];
    exact_expr(
        &mut c,
        &texts,
        <Vec<Option<String>>>::SQL_TYPE,
        r#"ARRAY['', NULL, 'a,b', '"q" \', 'NULL', 'é😀']::text[]"#,
    );
    exact(&mut c, &Vec::<String>::new(), "{}");
    // varchar(n)[]: element OID 1043, not text's 25.
    let varchar = ty(TypeKind::Varchar).with_length(5).array();
    assert_eq!(varchar.to_string(), "character varying(5)[]");
    exact_as(&mut c, &vec!["ab", "cde"], varchar, "{ab,cde}");
    exact_as(&mut c, &Vec::<&str>::new(), varchar, "{}");
    exact_as(
        &mut c,
        &vec!["ab", "cde"],
        ty(TypeKind::Varchar).array(),
        "{ab,cde}",
    );
    exact_as(
        &mut c,
        &vec!["abc"],
        ty(TypeKind::Char).with_length(3).array(),
        "{abc}",
    );
    let reason = both_reject(&mut c, &vec!["ab", "abcdef"], varchar, "{ab,abcdef}");
    assert!(
        reason.starts_with("array element 2: value too long"),
        "{reason}"
    );
    exact(&mut c, &vec!['a', 'é'], "{a,é}");

    exact_expr(
        &mut c,
        &vec![Some(vec![0u8, 255]), None, Some(vec![])],
        <Vec<Option<Vec<u8>>>>::SQL_TYPE,
        r"ARRAY['\x00ff'::bytea, NULL, '\x'::bytea]",
    );
    let decimals: Vec<Option<Decimal>> = ["0", "-1.5", "12345.678"]
        .iter()
        .map(|s| Some(Decimal::from_str(s).unwrap()))
        .chain([None])
        .collect();
    exact(&mut c, &decimals, "{0,-1.5,12345.678,NULL}");
    let dates = vec![
        NaiveDate::from_ymd_opt(2000, 1, 1).unwrap(),
        NaiveDate::from_ymd_opt(-43, 3, 15).unwrap(),
    ];
    exact(&mut c, &dates, "{2000-01-01,0044-03-15 BC}");
    let stamps = vec![NaiveDate::from_ymd_opt(2024, 1, 2)
        .unwrap()
        .and_hms_micro_opt(3, 4, 5, 6)
        .unwrap()];
    let ts3 = ty(TypeKind::Timestamp).with_precision(3).array();
    assert_eq!(ts3.to_string(), "timestamp(3) without time zone[]");
    exact_as(
        &mut c,
        &vec![stamps[0].with_nanosecond_ms(5)],
        ts3,
        "{2024-01-02 03:04:05.005}",
    );
    exact(&mut c, &stamps, "{2024-01-02 03:04:05.000006}");
    exact(
        &mut c,
        &vec![uuid::Uuid::nil(), uuid::Uuid::max()],
        &format!("{{{},{}}}", uuid::Uuid::nil(), uuid::Uuid::max()),
    );
    let ips: Vec<IpAddr> = vec!["1.2.3.4".parse().unwrap(), "::1".parse().unwrap()];
    exact(&mut c, &ips, "{1.2.3.4,::1}");
    exact(&mut c, &vec![TimeDelta::seconds(90_000)], "{25:00:00}");
    exact(&mut c, &vec![u64::MAX, 0], "{18446744073709551615,0}");
    assert_eq!(<Vec<u64>>::SQL_TYPE.to_string(), "numeric(20,0)[]");
    stored_expr(
        &mut c,
        &vec![Some(json!({"b": 1, "a": [1, 2]})), None],
        <Vec<Option<Value>>>::SQL_TYPE,
        r#"ARRAY['{"b":1,"a":[1,2]}'::jsonb, NULL]"#,
    );
    exact_expr(
        &mut c,
        &vec![json!({"b": 1, "a": [1, 2]})],
        ty(TypeKind::Json).array(),
        r#"ARRAY['{"a":[1,2],"b":1}'::json]"#,
    );
    // An empty array that is NULL is NULL, not empty.
    assert_eq!(pg_field(&mut c, "NULL::integer[]"), None);
}

/// A timestamp with its sub-second part replaced by `ms` milliseconds.
trait WithMs {
    fn with_nanosecond_ms(&self, ms: u32) -> Self;
}

impl WithMs for NaiveDateTime {
    fn with_nanosecond_ms(&self, ms: u32) -> Self {
        use chrono::Timelike;
        self.with_nanosecond(ms * 1_000_000).unwrap()
    }
}
