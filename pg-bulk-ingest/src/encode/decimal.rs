//! `rust_decimal::Decimal` as `numeric` (feature `rust_decimal`).
//!
//! The binary `numeric` (PostgreSQL's `numeric_send` in
//! `src/backend/utils/adt/numeric.c`) is `i16 ndigits, i16 weight, u16 sign,
//! u16 dscale` and then `ndigits` base-10000 digits, most significant first,
//! with no leading or trailing zero digits; `numeric.rs` writes it from the
//! decimal's mantissa and scale. A `numeric(p,s)` column's limits are checked
//! here as the server's `apply_typmod` checks them (rounded half away from zero
//! to `s` decimals, at most `p - s` integer digits), so a value the column
//! can't hold is reported with its row instead of failing the COPY.

use rust_decimal::{Decimal, RoundingStrategy};

use super::numeric::{pow10, write_numeric, write_numeric_field};
use super::{Encode, EncodeError};
use crate::types::{SqlType, TypeKind};

impl Encode for Decimal {
    const SQL_TYPE: SqlType = SqlType::new(TypeKind::Numeric);
    const ACCEPTS: &'static [TypeKind] = &[TypeKind::Numeric];

    #[inline(always)]
    fn encode(&self, ty: &SqlType, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        check_column(self, ty)?;
        let parts = self.unpack();
        write_numeric(magnitude(self), parts.negative, parts.scale, out);
        Ok(())
    }

    #[inline(always)]
    fn encode_field(&self, ty: &SqlType, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        check_column(self, ty)?;
        let parts = self.unpack();
        write_numeric_field(magnitude(self), parts.negative, parts.scale, out);
        Ok(())
    }
}

/// Whether a `numeric(p,s)` column holds `value`; every value fits a
/// `numeric` without precision.
#[inline(always)]
fn check_column(value: &Decimal, ty: &SqlType) -> Result<(), EncodeError> {
    match ty.precision() {
        Some(precision) => check_fits(value, precision, ty.scale().unwrap_or(0), ty),
        None => Ok(()),
    }
}

/// The absolute value of the mantissa (96 bits).
#[inline(always)]
fn magnitude(value: &Decimal) -> u128 {
    let parts = value.unpack();
    u128::from(parts.hi) << 64 | u128::from(parts.mid) << 32 | u128::from(parts.lo)
}

/// Whether `value`, rounded to `scale` the way PostgreSQL rounds (half away
/// from zero), has at most `precision - scale` integer digits. A value that
/// needs no rounding is checked by [`fits_unrounded`], the others by
/// [`check_rounded`].
#[inline(always)]
fn check_fits(
    value: &Decimal,
    precision: u32,
    scale: u32,
    ty: &SqlType,
) -> Result<(), EncodeError> {
    if fits_unrounded(magnitude(value), value.scale(), precision, scale) {
        return Ok(());
    }
    check_rounded(value, precision, scale, ty)
}

/// Whether a value of `magnitude × 10^-value_scale` fits `numeric(precision,
/// scale)` without rounding: its scale is at most the column's and its
/// integer part `magnitude / 10^value_scale` has at most `precision - scale`
/// digits, that is the magnitude is below `10^(precision - scale +
/// value_scale)`. `false` leaves the answer to [`check_rounded`].
#[inline(always)]
fn fits_unrounded(magnitude: u128, value_scale: u32, precision: u32, scale: u32) -> bool {
    if value_scale > scale || scale > precision {
        return false;
    }
    // A magnitude has at most 29 digits.
    let limit = precision - scale + value_scale;
    limit >= 29 || magnitude < pow10(limit)
}

/// [`check_fits`] by rounding `value` to `scale` and counting the digits
/// of its integer part.
#[inline(never)]
fn check_rounded(
    value: &Decimal,
    precision: u32,
    scale: u32,
    ty: &SqlType,
) -> Result<(), EncodeError> {
    let rounded = value.round_dp_with_strategy(scale, RoundingStrategy::MidpointAwayFromZero);
    let int_digits = rounded
        .trunc()
        .abs()
        .mantissa()
        .checked_ilog10()
        .map_or(0, |d| d + 1);
    if int_digits + scale > precision {
        return Err(overflow(value, precision, scale, ty));
    }
    Ok(())
}

#[cold]
fn overflow(value: &Decimal, precision: u32, scale: u32, ty: &SqlType) -> EncodeError {
    EncodeError::new(format!(
        "numeric field overflow: {ty} holds at most {} digits before the decimal point",
        precision.saturating_sub(scale)
    ))
    .with_value(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    /// `value` as written to a `numeric` column without precision.
    fn write_numeric(value: &Decimal, out: &mut Vec<u8>) {
        value
            .encode(&Decimal::SQL_TYPE, out)
            .expect("numeric without limits");
    }

    fn numeric(s: &str) -> Vec<i16> {
        let mut out = Vec::new();
        write_numeric(&Decimal::from_str(s).unwrap(), &mut out);
        out.chunks(2)
            .map(|c| i16::from_be_bytes([c[0], c[1]]))
            .collect()
    }

    #[test]
    fn matches_postgres_layout() {
        // ndigits, weight, sign, dscale, digits...
        assert_eq!(numeric("12345.678"), [3, 1, 0, 3, 1, 2345, 6780]);
        assert_eq!(numeric("0"), [0, 0, 0, 0]);
        assert_eq!(numeric("0.00"), [0, 0, 0, 2]);
        assert_eq!(numeric("-0.5"), [1, -1, 0x4000, 1, 5000]);
        assert_eq!(numeric("10000"), [1, 1, 0, 0, 1]);
        assert_eq!(numeric("0.0001"), [1, -1, 0, 4, 1]);
        assert_eq!(numeric("0.00001"), [1, -2, 0, 5, 1000]);
        assert_eq!(numeric("1.10"), [2, 0, 0, 2, 1, 1000]);
    }

    #[test]
    fn extreme_mantissa() {
        let max = Decimal::MAX; // 79228162514264337593543950335
        let mut out = Vec::new();
        write_numeric(&max, &mut out);
        assert_eq!(i16::from_be_bytes([out[0], out[1]]), 8);
        let tiny = Decimal::new(1, 28);
        out.clear();
        write_numeric(&tiny, &mut out);
        assert_eq!(&out[..8], &[0, 1, 255, 249, 0, 0, 0, 28]);
    }

    /// The check without its fast path: round, then count integer digits.
    fn fits_by_rounding(value: &Decimal, precision: u32, scale: u32) -> bool {
        let rounded = value.round_dp_with_strategy(scale, RoundingStrategy::MidpointAwayFromZero);
        let int_digits = rounded
            .trunc()
            .abs()
            .mantissa()
            .checked_ilog10()
            .map_or(0, |d| d + 1);
        int_digits + scale <= precision
    }

    proptest::proptest! {
        #[test]
        fn fast_fit_check_agrees_with_rounding(
            lo: u32, mid: u32, hi: u32, negative: bool,
            value_scale in 0u32..=28, precision in 1u32..=40, scale_share in 0u32..=100,
            digits in 0usize..=29,
        ) {
            // Mantissas of every length, not only 96-bit ones.
            let full = u128::from(lo) | u128::from(mid) << 32 | u128::from(hi) << 64;
            let mantissa = if digits == 29 { full } else { full % 10u128.pow(digits as u32) };
            let value = Decimal::from_i128_with_scale(
                if negative { -(mantissa as i128) } else { mantissa as i128 },
                value_scale,
            );
            let scale = precision * scale_share / 100;
            let ty = SqlType::new(TypeKind::Numeric).with_precision_scale(precision, scale);
            proptest::prop_assert_eq!(
                check_fits(&value, precision, scale, &ty).is_ok(),
                fits_by_rounding(&value, precision, scale),
                "{} in numeric({},{})", value, precision, scale
            );
        }

        #[test]
        fn digits_match_the_decimal_text(
            lo: u32, mid: u32, hi: u32, negative: bool, value_scale in 0u32..=28,
            digits in 0usize..=29,
        ) {
            let full = u128::from(lo) | u128::from(mid) << 32 | u128::from(hi) << 64;
            let mantissa = if digits == 29 { full } else { full % 10u128.pow(digits as u32) };
            let value = Decimal::from_i128_with_scale(
                if negative { -(mantissa as i128) } else { mantissa as i128 },
                value_scale,
            );
            proptest::prop_assert_eq!(numeric_text(&words(&value)), value.abs().to_string());
        }
    }

    fn words(value: &Decimal) -> Vec<i16> {
        let mut out = Vec::new();
        write_numeric(value, &mut out);
        out.chunks(2)
            .map(|c| i16::from_be_bytes([c[0], c[1]]))
            .collect()
    }

    /// The unsigned value a binary numeric holds, as PostgreSQL would print it
    /// with its display scale.
    fn numeric_text(words: &[i16]) -> String {
        let (ndigits, weight, dscale) = (words[0] as i32, words[1] as i32, words[3] as usize);
        let digit = |i: i32| -> i16 {
            if (0..ndigits).contains(&i) {
                words[4 + i as usize]
            } else {
                0
            }
        };
        let mut int = String::new();
        for i in 0..=weight {
            int.push_str(&format!("{:04}", digit(i)));
        }
        let int = int.trim_start_matches('0');
        let mut frac = String::new();
        let mut i = weight + 1;
        while frac.len() < dscale {
            frac.push_str(&format!("{:04}", digit(i)));
            i += 1;
        }
        frac.truncate(dscale);
        let int = if int.is_empty() { "0" } else { int };
        if dscale == 0 {
            int.to_owned()
        } else {
            format!("{int}.{frac}")
        }
    }

    #[test]
    fn fields_are_length_and_value() {
        use crate::encode::tests::field_matches_encode;
        let n52 = SqlType::new(TypeKind::Numeric).with_precision_scale(5, 2);
        for v in [
            Decimal::ZERO,
            Decimal::MAX,
            Decimal::new(-99_999, 2),
            Decimal::new(1, 28),
        ] {
            field_matches_encode(&v, Decimal::SQL_TYPE);
            field_matches_encode(&v, n52);
        }
    }

    #[test]
    fn checks_precision_like_postgres() {
        let ty = SqlType::new(TypeKind::Numeric).with_precision_scale(5, 2);
        let fits = |s: &str| check_fits(&Decimal::from_str(s).unwrap(), 5, 2, &ty).is_ok();
        assert!(fits("999.99"));
        assert!(fits("999.994")); // rounds to 999.99
        assert!(!fits("999.995")); // rounds to 1000.00
        assert!(!fits("1000"));
        assert!(fits("-999.99"));
        assert!(fits("0.001"));
    }
}
