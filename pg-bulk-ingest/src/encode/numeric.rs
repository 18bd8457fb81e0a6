//! The binary `numeric` writer shared by the integers written as `numeric`
//! (`int.rs`: `u64` and the narrower integers given a `numeric` column) and
//! `rust_decimal::Decimal` (`decimal.rs`).
//!
//! The format is PostgreSQL's `numeric_send` (`numeric_recv` reads it) in
//! `src/backend/utils/adt/numeric.c`: `i16 ndigits, i16 weight, u16 sign, u16
//! dscale`, then `ndigits` base-10000 digits, most significant first, with no
//! leading or trailing zero digits. `weight` is the power of 10000 of the
//! first digit, `sign` `0x0000` or `0x4000` (negative; zero is never
//! negative), `dscale` the number of decimal digits after the point. A value
//! is written from its magnitude, sign and scale, as one or two fixed-size
//! copies out of registers rather than digit by digit.

/// A binary `numeric` of value `±magnitude × 10^-scale`, with display scale
/// `scale`: `i16 ndigits, i16 weight, u16 sign, u16 dscale`, then base-10000
/// digits, most significant first, with no leading or trailing zero digits (as
/// PostgreSQL sends them). `magnitude × 10³` must fit in 39 decimal digits.
#[inline(always)]
pub(crate) fn write_numeric(magnitude: u128, negative: bool, scale: u32, out: &mut Vec<u8>) {
    let field = numeric_field(magnitude, negative, scale);
    // The block without the length prefix.
    let first = field.first << 32 | field.second >> 96;
    let second = field.second << 32;
    let start = out.len();
    out.extend_from_slice(&first.to_be_bytes());
    out.extend_from_slice(&second.to_be_bytes());
    out.truncate(start + field.len - 4);
}

/// [`write_numeric`] as a COPY field, after its length (used by `Decimal`).
#[cfg(any(feature = "rust_decimal", test))]
#[inline(always)]
pub(crate) fn write_numeric_field(magnitude: u128, negative: bool, scale: u32, out: &mut Vec<u8>) {
    let field = numeric_field(magnitude, negative, scale);
    let start = out.len();
    // Copies of fixed length from registers, then cut to length.
    out.extend_from_slice(&field.first.to_be_bytes());
    out.extend_from_slice(&field.second.to_be_bytes());
    out.truncate(start + field.len);
}

/// The COPY field of a binary `numeric` (see [`write_numeric`]), its length
/// prefix, header and digits: the first `len` bytes of `first` and `second`,
/// big-endian.
struct NumericField {
    first: u128,
    second: u128,
    len: usize,
}

/// The field of `±magnitude × 10^-scale`: without a loop when the value has
/// at most four base-10000 digits, digit by digit otherwise.
#[inline(always)]
fn numeric_field(magnitude: u128, negative: bool, scale: u32) -> NumericField {
    u64::try_from(magnitude)
        .ok()
        .and_then(|small| numeric_field_small(small, negative, scale))
        .unwrap_or_else(|| numeric_field_wide(magnitude, negative, scale))
}

/// The field of a numeric of `n` base-10000 digits, the lowest `low` of them
/// zero (not sent), of display scale `scale`; `digits` holds the first eight
/// digits sent, the first one in its top 16 bits.
#[inline(always)]
fn numeric_block(n: u32, low: u32, negative: bool, scale: u32, digits: u128) -> NumericField {
    // Base-10000 digits after the decimal point, the last one padded.
    let frac_groups = scale.div_ceil(4) as i32;
    let ndigits = n - low;
    let weight = if n == 0 {
        0
    } else {
        n as i32 - 1 - frac_groups
    };
    let sign: u64 = if negative && n != 0 { 0x4000 } else { 0 };
    let value_len = 8 + 2 * ndigits;
    // Length prefix and header: the first 12 bytes; then the digits.
    let head = u128::from(value_len) << 96
        | u128::from(ndigits) << 80
        | u128::from(weight as i16 as u16) << 64
        | u128::from(sign) << 48
        | u128::from(scale as u16) << 32;
    NumericField {
        first: head | digits >> 96,
        second: digits << 32,
        len: 4 + value_len as usize,
    }
}

/// [`numeric_field`] of a value of at most four base-10000 digits (its
/// magnitude aligned to whole digits below `10^16`): the digits computed
/// without a loop (divisions by constants are multiplications), packed 16 bits
/// each into a `u64`, the most significant one moved to the top; `None` for
/// larger values.
#[inline(always)]
fn numeric_field_small(magnitude: u64, negative: bool, scale: u32) -> Option<NumericField> {
    // Aligned to whole base-10000 digits after the decimal point.
    let pad = scale.wrapping_neg() % 4;
    let m = magnitude.checked_mul(POW10_U64[pad as usize])?;
    if m >= 10_000_000_000_000_000 {
        return None;
    }
    let high8 = (m / 100_000_000) as u32;
    let low8 = (m % 100_000_000) as u32;
    let packed = u64::from(high8 / 10_000) << 48
        | u64::from(high8 % 10_000) << 32
        | u64::from(low8 / 10_000) << 16
        | u64::from(low8 % 10_000);
    // The number of digits by comparisons of the value, independent of the
    // divisions above.
    let n = u32::from(m != 0)
        + u32::from(m >= 10_000)
        + u32::from(m >= 100_000_000)
        + u32::from(m >= 1_000_000_000_000);
    // Every digit is below 2^14, so a digit's 16 bits are zero exactly when
    // the digit is: trailing zero digits are whole 16-bit groups.
    let zeros = if m == 0 {
        0
    } else {
        packed.trailing_zeros() / 16
    };
    // The most significant digit first; `n == 0` leaves zero.
    let aligned = packed << (16 * (4 - n.max(1)));
    Some(numeric_block(
        n,
        zeros,
        negative,
        scale,
        u128::from(aligned) << 64,
    ))
}

/// [`numeric_field`] of any magnitude: base-10000 digits from the lowest, in
/// 128-bit arithmetic while the value needs it.
#[inline(never)]
fn numeric_field_wide(magnitude: u128, negative: bool, scale: u32) -> NumericField {
    let pad = scale.wrapping_neg() % 4;
    // Base-10000 digits (at most 10), big-endian, the least significant
    // ending at byte 20 and the others before it: the 20 bytes from the most
    // significant one on are always inside the buffer.
    let mut digits = [0u8; 40];
    let mut n = 0;
    let mut put = |n: usize, digit: u64| {
        digits[18 - 2 * n..20 - 2 * n].copy_from_slice(&(digit as u16).to_be_bytes());
    };
    let mut m = magnitude * pow10(pad);
    // 128-bit division is a library call: only while the value needs it.
    while m > u128::from(u64::MAX) {
        put(n, (m % 10_000) as u64);
        m /= 10_000;
        n += 1;
    }
    let mut m = m as u64;
    while m != 0 {
        put(n, m % 10_000);
        m /= 10_000;
        n += 1;
    }
    // Trailing (least significant) zero digits are not sent.
    let mut low = 0;
    while low < n && digits[18 - 2 * low] == 0 && digits[19 - 2 * low] == 0 {
        low += 1;
    }
    let significant = &digits[20 - 2 * n..40 - 2 * n];
    let first = u128::from_be_bytes(significant[..16].try_into().expect("16 bytes"));
    let last = u32::from_be_bytes(significant[16..].try_into().expect("4 bytes"));
    let mut field = numeric_block(n as u32, low as u32, negative, scale, first);
    field.second |= u128::from(last);
    field
}

/// `10^n` for `n` ≤ 19.
const POW10_U64: [u64; 20] = {
    let mut table = [1u64; 20];
    let mut i = 1;
    while i < 20 {
        table[i] = table[i - 1] * 10;
        i += 1;
    }
    table
};

/// `10^n` for `n` ≤ 38, from a table: `u128::pow` is a loop.
#[inline]
pub(crate) fn pow10(n: u32) -> u128 {
    const POW10: [u128; 39] = {
        let mut table = [1u128; 39];
        let mut i = 1;
        while i < 39 {
            table[i] = table[i - 1] * 10;
            i += 1;
        }
        table
    };
    POW10[n as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `write_numeric` as it was first written: a loop of 128-bit divisions
    /// and one append per part.
    fn reference_numeric(magnitude: u128, negative: bool, scale: u32) -> Vec<u8> {
        let pad = (4 - scale % 4) % 4;
        let mut m = magnitude * 10u128.pow(pad);
        let frac_groups = ((scale + pad) / 4) as i32;
        let mut digits = [0i16; 10];
        let mut n = 0;
        while m != 0 {
            digits[n] = (m % 10_000) as i16;
            m /= 10_000;
            n += 1;
        }
        let mut low = 0;
        while low < n && digits[low] == 0 {
            low += 1;
        }
        let ndigits = (n - low) as i16;
        let weight = if n == 0 {
            0
        } else {
            n as i32 - 1 - frac_groups
        } as i16;
        let sign: u16 = if negative && n != 0 { 0x4000 } else { 0 };
        let mut out = Vec::new();
        out.extend_from_slice(&ndigits.to_be_bytes());
        out.extend_from_slice(&weight.to_be_bytes());
        out.extend_from_slice(&sign.to_be_bytes());
        out.extend_from_slice(&(scale as u16).to_be_bytes());
        for digit in digits[low..n].iter().rev() {
            out.extend_from_slice(&digit.to_be_bytes());
        }
        out
    }

    /// `write_numeric` and both of its paths, each after a prefix that must
    /// stay untouched.
    fn check_numeric(magnitude: u128, negative: bool, scale: u32) {
        let expected = reference_numeric(magnitude, negative, scale);
        let mut out = b"prefix".to_vec();
        write_numeric(magnitude, negative, scale, &mut out);
        assert_eq!(&out[..6], b"prefix");
        assert_eq!(&out[6..], &expected[..], "{magnitude} {negative} {scale}");

        let mut field = (expected.len() as i32).to_be_bytes().to_vec();
        field.extend_from_slice(&expected);
        let mut out = b"prefix".to_vec();
        write_numeric_field(magnitude, negative, scale, &mut out);
        assert_eq!(&out[..6], b"prefix");
        assert_eq!(&out[6..], &field[..], "{magnitude} {negative} {scale}");

        let bytes = |block: NumericField| {
            let mut bytes = block.first.to_be_bytes().to_vec();
            bytes.extend_from_slice(&block.second.to_be_bytes());
            bytes.truncate(block.len);
            bytes
        };
        let small = u64::try_from(magnitude)
            .ok()
            .and_then(|m| numeric_field_small(m, negative, scale));
        // The short path takes exactly the values of at most four digits.
        let aligned = magnitude * 10u128.pow(scale.wrapping_neg() % 4);
        assert_eq!(
            small.is_some(),
            aligned < 10u128.pow(16),
            "{magnitude} {scale}"
        );
        if let Some(block) = small {
            assert_eq!(bytes(block), field, "short: {magnitude} {negative} {scale}");
        }
        let wide = numeric_field_wide(magnitude, negative, scale);
        assert_eq!(bytes(wide), field, "wide: {magnitude} {negative} {scale}");
    }

    #[test]
    fn numeric_edges_match_the_reference() {
        let max96 = (1u128 << 96) - 1; // Decimal::MAX's mantissa
        let edges = [
            0,
            1,
            9,
            10,
            9_999,
            10_000,
            10_001,
            99_999_999,
            100_000_000,
            u128::from(u32::MAX),
            u128::from(u64::MAX / 1000) - 1,
            u128::from(u64::MAX / 1000),
            u128::from(u64::MAX / 1000) + 1,
            u128::from(u64::MAX),
            u128::from(u64::MAX) + 1,
            10u128.pow(28),
            10u128.pow(28) - 1,
            max96,
        ];
        for magnitude in edges {
            for scale in 0..=28 {
                for negative in [false, true] {
                    check_numeric(magnitude, negative, scale);
                }
            }
        }
        for k in 0..=28 {
            for scale in 0..=28 {
                check_numeric(10u128.pow(k), true, scale);
                check_numeric(10u128.pow(k) - 1, false, scale);
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn numeric_matches_the_reference(
            lo: u32, mid: u32, hi: u32, negative: bool, scale in 0u32..=28,
            digits in 0u32..=29,
        ) {
            // Magnitudes of every length up to 96 bits, not only long ones.
            let full = u128::from(lo) | u128::from(mid) << 32 | u128::from(hi) << 64;
            let magnitude = if digits == 29 { full } else { full % 10u128.pow(digits) };
            check_numeric(magnitude, negative, scale);
        }
    }
}
