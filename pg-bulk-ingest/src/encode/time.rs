//! `time` crate date and time types (feature `time`).
//!
//! As for `chrono`: PostgreSQL counts days and microseconds from 2000-01-01;
//! nanoseconds are rounded to the nearest microsecond, ties to even; values
//! outside PostgreSQL's range (before 4714-11-24 BC, or from 294277 AD on with
//! the `time` crate's `large-dates`) are rejected, never wrapped.

use time::{Date, Duration, OffsetDateTime, PrimitiveDateTime, Time};

use super::interval::{nanos_to_micros, write_interval};
use super::{append_fixed_field, Encode, EncodeError};
use crate::types::{SqlType, TypeKind};

/// Julian day number of 2000-01-01.
const PG_EPOCH_JDATE: i64 = 2_451_545;
/// The last day PostgreSQL's `date` holds (5874897-12-31), in days from 2000-01-01.
const MAX_DAYS: i64 = 2_145_031_948;
/// Seconds from 1970-01-01 to 2000-01-01.
const PG_EPOCH_UNIX_SECS: i128 = 946_684_800;
/// The first timestamp PostgreSQL accepts (4714-11-24 BC), in µs from 2000-01-01.
const MIN_MICROS: i128 = -PG_EPOCH_JDATE as i128 * 86_400_000_000;
/// The first timestamp PostgreSQL no longer accepts (294277-01-01), in µs.
const END_MICROS: i128 = 9_223_371_331_200_000_000;

const TIMESTAMP_RANGE: &str =
    "timestamp out of range: PostgreSQL's timestamps run from 4714-11-24 BC to 294276 AD";

#[inline]
fn days(date: Date) -> i64 {
    i64::from(date.to_julian_day()) - PG_EPOCH_JDATE
}

#[inline]
fn time_nanos(time: Time) -> i128 {
    let (h, m, s, ns) = time.as_hms_nano();
    (i128::from(h) * 3600 + i128::from(m) * 60 + i128::from(s)) * 1_000_000_000 + i128::from(ns)
}

/// `micros` as a timestamp's 8 bytes, or the error for `value` out of
/// PostgreSQL's range.
#[inline]
fn timestamp_bytes(micros: i128, value: &dyn std::fmt::Debug) -> Result<[u8; 8], EncodeError> {
    if !(MIN_MICROS..END_MICROS).contains(&micros) {
        return Err(EncodeError::new(TIMESTAMP_RANGE).with_value(value));
    }
    Ok((micros as i64).to_be_bytes())
}

/// Writes `value` through `bytes`, its 8 or fewer bytes: `encode` and
/// `encode_field` of a type of fixed size.
macro_rules! fixed_size {
    ($bytes:ident) => {
        #[inline]
        fn encode(&self, _: &SqlType, out: &mut Vec<u8>) -> Result<(), EncodeError> {
            out.extend_from_slice(&$bytes(self)?);
            Ok(())
        }

        #[inline]
        fn encode_field(&self, _: &SqlType, out: &mut Vec<u8>) -> Result<(), EncodeError> {
            append_fixed_field(out, $bytes(self)?);
            Ok(())
        }
    };
}

impl Encode for Date {
    const SQL_TYPE: SqlType = SqlType::new(TypeKind::Date);
    const ACCEPTS: &'static [TypeKind] = &[TypeKind::Date];

    fixed_size!(date_bytes);
}

#[inline]
fn date_bytes(date: &Date) -> Result<[u8; 4], EncodeError> {
    let days = days(*date);
    if !(-PG_EPOCH_JDATE..=MAX_DAYS).contains(&days) {
        return Err(EncodeError::new(
            "date out of range: PostgreSQL's dates run from 4714-11-24 BC to 5874897 AD",
        )
        .with_value(date));
    }
    Ok((days as i32).to_be_bytes())
}

impl Encode for Time {
    const SQL_TYPE: SqlType = SqlType::new(TypeKind::Time);
    const ACCEPTS: &'static [TypeKind] = &[TypeKind::Time];

    fixed_size!(time_bytes);
}

#[inline]
fn time_bytes(time: &Time) -> Result<[u8; 8], EncodeError> {
    // At most 23:59:59.999999999, which rounds to 24:00:00: PostgreSQL
    // allows it.
    Ok((nanos_to_micros(time_nanos(*time)) as i64).to_be_bytes())
}

impl Encode for PrimitiveDateTime {
    const SQL_TYPE: SqlType = SqlType::new(TypeKind::Timestamp);
    const ACCEPTS: &'static [TypeKind] = &[TypeKind::Timestamp];

    fixed_size!(primitive_bytes);
}

#[inline]
fn primitive_bytes(value: &PrimitiveDateTime) -> Result<[u8; 8], EncodeError> {
    let nanos = i128::from(days(value.date())) * 86_400_000_000_000 + time_nanos(value.time());
    timestamp_bytes(nanos_to_micros(nanos), value)
}

impl Encode for OffsetDateTime {
    const SQL_TYPE: SqlType = SqlType::new(TypeKind::Timestamptz);
    const ACCEPTS: &'static [TypeKind] = &[TypeKind::Timestamptz];

    fixed_size!(offset_bytes);
}

#[inline]
fn offset_bytes(value: &OffsetDateTime) -> Result<[u8; 8], EncodeError> {
    let nanos = value.unix_timestamp_nanos() - PG_EPOCH_UNIX_SECS * 1_000_000_000;
    timestamp_bytes(nanos_to_micros(nanos), value)
}

impl Encode for Duration {
    const SQL_TYPE: SqlType = SqlType::new(TypeKind::Interval);
    const ACCEPTS: &'static [TypeKind] = &[TypeKind::Interval];

    #[inline]
    fn encode(&self, _: &SqlType, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        write_interval(self.whole_nanoseconds(), self, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Month;

    fn bytes<E: Encode>(v: &E) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::new();
        v.encode(&E::SQL_TYPE, &mut out)?;
        Ok(out)
    }

    fn date(y: i32, m: Month, d: u8) -> Date {
        Date::from_calendar_date(y, m, d).unwrap()
    }

    #[test]
    fn epoch_and_limits() {
        assert_eq!(bytes(&date(2000, Month::January, 1)).unwrap(), [0; 4]);
        assert_eq!(
            bytes(&date(1999, Month::December, 31)).unwrap(),
            (-1i32).to_be_bytes()
        );
        let first = date(-4713, Month::November, 24);
        assert_eq!(
            bytes(&first).unwrap(),
            (-PG_EPOCH_JDATE as i32).to_be_bytes()
        );
        assert!(bytes(&first.previous_day().unwrap()).is_err());
        let midnight = first.midnight();
        assert_eq!(bytes(&midnight).unwrap(), (MIN_MICROS as i64).to_be_bytes());
        assert!(bytes(&(midnight - Duration::nanoseconds(501))).is_err());
        // 500 ns before the first µs rounds (to even) onto it.
        assert!(bytes(&(midnight - Duration::nanoseconds(500))).is_ok());
    }

    #[test]
    fn fields_are_length_and_value() {
        use crate::encode::tests::field_matches_encode;
        let t = PrimitiveDateTime::new(
            date(2024, Month::February, 29),
            Time::from_hms_nano(23, 59, 59, 999_999_500).unwrap(),
        );
        field_matches_encode(&t.date(), Date::SQL_TYPE);
        field_matches_encode(&t.time(), Time::SQL_TYPE);
        field_matches_encode(&t, PrimitiveDateTime::SQL_TYPE);
        field_matches_encode(&t.assume_utc(), OffsetDateTime::SQL_TYPE);
    }

    #[test]
    fn rounding() {
        let t = Time::from_hms_nano(23, 59, 59, 999_999_500).unwrap();
        assert_eq!(bytes(&t).unwrap(), 86_400_000_000i64.to_be_bytes());
        let t = Time::from_hms_nano(0, 0, 0, 2_500).unwrap();
        assert_eq!(bytes(&t).unwrap(), 2i64.to_be_bytes());
        let d = Duration::new(-1, -1_500);
        assert_eq!(bytes(&d).unwrap()[..8], (-1_000_002i64).to_be_bytes());
        assert!(bytes(&Duration::MAX).is_err());
        assert!(bytes(&Duration::MIN).is_err());
    }
}
