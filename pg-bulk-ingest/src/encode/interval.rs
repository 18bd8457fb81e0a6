//! `interval` from durations: `std::time::Duration` here, `chrono::Duration`
//! and `time::Duration` in their modules.
//!
//! The binary `interval` is `i64` microseconds, `i32` days, `i32` months. A
//! duration is an exact length of time, so it is written as microseconds only
//! (days and months 0: PostgreSQL shows 90000 seconds as `25:00:00`, not
//! `1 day 01:00:00`). Nanoseconds are rounded to the nearest microsecond, ties
//! to even, like the other time types; durations beyond ±2⁶³ µs (about 292,000
//! years) are rejected.

use std::time::Duration;

use super::{Encode, EncodeError};
use crate::types::{SqlType, TypeKind};

/// Nanoseconds to microseconds, rounded half to even (also for negative
/// values).
#[inline]
pub(crate) fn nanos_to_micros(nanos: i128) -> i128 {
    let micros = nanos.div_euclid(1000);
    let rest = nanos.rem_euclid(1000);
    if rest > 500 || (rest == 500 && micros % 2 != 0) {
        micros + 1
    } else {
        micros
    }
}

/// Writes an interval of `nanos` nanoseconds, or rejects it.
#[inline]
pub(crate) fn write_interval(
    nanos: i128,
    value: &dyn std::fmt::Debug,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let micros = i64::try_from(nanos_to_micros(nanos)).map_err(|_| {
        EncodeError::new(
            "interval out of range: PostgreSQL's intervals hold at most 2^63-1 microseconds (about 292,000 years)",
        )
        .with_value(value)
    })?;
    out.extend_from_slice(&micros.to_be_bytes());
    out.extend_from_slice(&0i32.to_be_bytes());
    out.extend_from_slice(&0i32.to_be_bytes());
    Ok(())
}

impl Encode for Duration {
    const SQL_TYPE: SqlType = SqlType::new(TypeKind::Interval);
    const ACCEPTS: &'static [TypeKind] = &[TypeKind::Interval];

    #[inline]
    fn encode(&self, _: &SqlType, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        write_interval(self.as_nanos() as i128, self, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding() {
        assert_eq!(nanos_to_micros(1_500), 2);
        assert_eq!(nanos_to_micros(2_500), 2);
        assert_eq!(nanos_to_micros(2_501), 3);
        assert_eq!(nanos_to_micros(-1_500), -2);
        assert_eq!(nanos_to_micros(-2_500), -2);
        assert_eq!(nanos_to_micros(-2_501), -3);
        assert_eq!(nanos_to_micros(-499), 0);
        assert_eq!(nanos_to_micros(-500), 0);
        assert_eq!(nanos_to_micros(-501), -1);
    }

    #[test]
    fn std_duration() {
        let mut out = Vec::new();
        Duration::new(1, 500)
            .encode(&Duration::SQL_TYPE, &mut out)
            .unwrap();
        assert_eq!(out[..8], 1_000_000i64.to_be_bytes());
        assert_eq!(out[8..], [0; 8]);
        let max = Duration::from_micros(i64::MAX as u64);
        out.clear();
        max.encode(&Duration::SQL_TYPE, &mut out).unwrap();
        assert_eq!(out[..8], i64::MAX.to_be_bytes());
        let e = (max + Duration::from_nanos(501))
            .encode(&Duration::SQL_TYPE, &mut out)
            .unwrap_err();
        assert!(e.reason().starts_with("interval out of range"), "{e}");
        assert!(Duration::MAX.encode(&Duration::SQL_TYPE, &mut out).is_err());
    }
}
