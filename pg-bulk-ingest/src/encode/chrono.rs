//! `chrono` date and time types (feature `chrono`).
//!
//! PostgreSQL counts days and microseconds from 2000-01-01. Nanoseconds are
//! rounded to the nearest microsecond, ties to even, as PostgreSQL rounds the
//! fractional seconds of text input. Values outside PostgreSQL's range (before
//! 4714-11-24 BC) are rejected, never wrapped.

use std::fmt;

use chrono::{
    DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, TimeZone, Timelike,
};

use super::interval::write_interval;
use super::{append_fixed_field, Encode, EncodeError};
use crate::types::{SqlType, TypeKind};

/// `num_days_from_ce()` of 2000-01-01.
const PG_EPOCH_DAYS_FROM_CE: i64 = 730_120;
/// Seconds from 1970-01-01 to 2000-01-01.
const PG_EPOCH_UNIX_SECS: i64 = 946_684_800;
/// Julian day 0 (4714-11-24 BC), PostgreSQL's first date, in days from 2000-01-01.
const MIN_DAYS: i64 = -2_451_545;
/// The first timestamp PostgreSQL accepts, in µs from 2000-01-01.
const MIN_MICROS: i64 = MIN_DAYS * 86_400_000_000;
/// The first timestamp PostgreSQL no longer accepts (294277-01-01), in µs.
const END_MICROS: i64 = 9_223_371_331_200_000_000;

/// Nanoseconds (below 2·10⁹, leap seconds included) to microseconds, rounded
/// half to even.
#[inline]
fn round_nanos(nanos: u32) -> i64 {
    let micros = i64::from(nanos / 1000);
    let rest = nanos % 1000;
    if rest > 500 || (rest == 500 && micros % 2 == 1) {
        micros + 1
    } else {
        micros
    }
}

impl Encode for NaiveDate {
    const SQL_TYPE: SqlType = SqlType::new(TypeKind::Date);
    const ACCEPTS: &'static [TypeKind] = &[TypeKind::Date];

    #[inline]
    fn encode(&self, _: &SqlType, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.extend_from_slice(&date_days(self)?.to_be_bytes());
        Ok(())
    }

    #[inline]
    fn encode_field(&self, _: &SqlType, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        append_fixed_field(out, date_days(self)?.to_be_bytes());
        Ok(())
    }
}

/// Days from 2000-01-01.
#[inline(always)]
fn date_days(date: &NaiveDate) -> Result<i32, EncodeError> {
    let days = i64::from(date.num_days_from_ce()) - PG_EPOCH_DAYS_FROM_CE;
    if days < MIN_DAYS {
        return Err(EncodeError::new(
            "date out of range: PostgreSQL's dates begin at 4714-11-24 BC",
        )
        .with_value(date));
    }
    // chrono's dates end in year 262143, well inside PostgreSQL's range.
    Ok(days as i32)
}

impl Encode for NaiveTime {
    const SQL_TYPE: SqlType = SqlType::new(TypeKind::Time);
    const ACCEPTS: &'static [TypeKind] = &[TypeKind::Time];

    #[inline]
    fn encode(&self, _: &SqlType, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.extend_from_slice(&time_micros(self)?.to_be_bytes());
        Ok(())
    }

    #[inline]
    fn encode_field(&self, _: &SqlType, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        append_fixed_field(out, time_micros(self)?.to_be_bytes());
        Ok(())
    }
}

/// Microseconds from midnight.
#[inline(always)]
fn time_micros(time: &NaiveTime) -> Result<i64, EncodeError> {
    let micros =
        i64::from(time.num_seconds_from_midnight()) * 1_000_000 + round_nanos(time.nanosecond());
    // A leap second at 23:59:59 or rounding up may reach 24:00:00, which
    // PostgreSQL allows; nothing later is representable.
    if micros > 86_400_000_000 {
        return Err(EncodeError::new("time out of range: after 24:00:00").with_value(time));
    }
    Ok(micros)
}

/// Microseconds from 2000-01-01 00:00 of the instant `secs` seconds and
/// `nanos` nanoseconds after 1970-01-01 00:00 (UTC), or the error for
/// `value`.
#[inline(always)]
fn timestamp_micros(secs: i64, nanos: u32, value: &dyn fmt::Debug) -> Result<i64, EncodeError> {
    (secs - PG_EPOCH_UNIX_SECS)
        .checked_mul(1_000_000)
        .and_then(|micros| micros.checked_add(round_nanos(nanos)))
        .filter(|micros| (MIN_MICROS..END_MICROS).contains(micros))
        .ok_or_else(|| timestamp_out_of_range(value))
}

#[cold]
fn timestamp_out_of_range(value: &dyn fmt::Debug) -> EncodeError {
    EncodeError::new("timestamp out of range: PostgreSQL's timestamps begin at 4714-11-24 BC")
        .with_value(value)
}

impl Encode for NaiveDateTime {
    const SQL_TYPE: SqlType = SqlType::new(TypeKind::Timestamp);
    const ACCEPTS: &'static [TypeKind] = &[TypeKind::Timestamp];

    #[inline]
    fn encode(&self, _: &SqlType, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.extend_from_slice(&naive_micros(self)?.to_be_bytes());
        Ok(())
    }

    #[inline(always)]
    fn encode_field(&self, _: &SqlType, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        append_fixed_field(out, naive_micros(self)?.to_be_bytes());
        Ok(())
    }
}

#[inline(always)]
fn naive_micros(value: &NaiveDateTime) -> Result<i64, EncodeError> {
    let utc = value.and_utc();
    timestamp_micros(utc.timestamp(), utc.timestamp_subsec_nanos(), value)
}

/// Any time zone (`Utc`, `FixedOffset`, `Local`, `chrono_tz::Tz`, ...): the
/// instant is written; PostgreSQL keeps no zone or offset.
impl<Tz: TimeZone> Encode for DateTime<Tz> {
    const SQL_TYPE: SqlType = SqlType::new(TypeKind::Timestamptz);
    const ACCEPTS: &'static [TypeKind] = &[TypeKind::Timestamptz];

    #[inline]
    fn encode(&self, _: &SqlType, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let micros = timestamp_micros(self.timestamp(), self.timestamp_subsec_nanos(), self)?;
        out.extend_from_slice(&micros.to_be_bytes());
        Ok(())
    }

    #[inline(always)]
    fn encode_field(&self, _: &SqlType, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let micros = timestamp_micros(self.timestamp(), self.timestamp_subsec_nanos(), self)?;
        append_fixed_field(out, micros.to_be_bytes());
        Ok(())
    }
}

/// `chrono::Duration` as an `interval` of microseconds (days and months 0).
impl Encode for TimeDelta {
    const SQL_TYPE: SqlType = SqlType::new(TypeKind::Interval);
    const ACCEPTS: &'static [TypeKind] = &[TypeKind::Interval];

    #[inline]
    fn encode(&self, _: &SqlType, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let nanos =
            i128::from(self.num_seconds()) * 1_000_000_000 + i128::from(self.subsec_nanos());
        write_interval(nanos, self, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes<E: Encode>(v: &E) -> Vec<u8> {
        let mut out = Vec::new();
        v.encode(&E::SQL_TYPE, &mut out).unwrap();
        out
    }

    #[test]
    fn epoch_is_zero() {
        let d = NaiveDate::from_ymd_opt(2000, 1, 1).unwrap();
        assert_eq!(bytes(&d), [0; 4]);
        assert_eq!(bytes(&d.and_hms_opt(0, 0, 0).unwrap()), [0; 8]);
        assert_eq!(
            bytes(&NaiveDate::from_ymd_opt(1999, 12, 31).unwrap()),
            (-1i32).to_be_bytes()
        );
    }

    #[test]
    fn fields_are_length_and_value() {
        use crate::encode::tests::field_matches_encode;
        use ::chrono::Utc;
        let date = NaiveDate::from_ymd_opt(2024, 2, 29).unwrap();
        let time = NaiveTime::from_hms_nano_opt(23, 59, 59, 999_999_500).unwrap();
        field_matches_encode(&date, NaiveDate::SQL_TYPE);
        field_matches_encode(&NaiveDate::MIN, NaiveDate::SQL_TYPE);
        field_matches_encode(&time, NaiveTime::SQL_TYPE);
        field_matches_encode(&date.and_time(time), NaiveDateTime::SQL_TYPE);
        field_matches_encode(&DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::SQL_TYPE);
        field_matches_encode(&date.and_time(time).and_utc(), DateTime::<Utc>::SQL_TYPE);
    }

    #[test]
    fn rounds_half_to_even() {
        assert_eq!(round_nanos(1_500), 2);
        assert_eq!(round_nanos(2_500), 2);
        assert_eq!(round_nanos(2_501), 3);
        assert_eq!(round_nanos(2_499), 2);
        assert_eq!(round_nanos(999_999_999), 1_000_000);
    }

    #[test]
    fn rejects_dates_before_julian_day_zero() {
        let first = NaiveDate::from_ymd_opt(-4713, 11, 24).unwrap();
        assert_eq!(bytes(&first), (MIN_DAYS as i32).to_be_bytes());
        let before = first.pred_opt().unwrap();
        let mut out = Vec::new();
        assert!(before.encode(&NaiveDate::SQL_TYPE, &mut out).is_err());
        assert!(before
            .and_hms_opt(23, 59, 59)
            .unwrap()
            .encode(&NaiveDateTime::SQL_TYPE, &mut out)
            .is_err());
    }
}
