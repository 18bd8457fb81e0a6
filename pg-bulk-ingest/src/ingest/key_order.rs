//! Whether a batch's keys came in strictly increasing order, watched while its
//! rows are encoded: then no key repeats in it, and the merge's check for a
//! repeated key (a hash aggregate over the staged keys) is not needed.
//!
//! Only keys whose binary encoding is canonical are watched: two values
//! PostgreSQL's btree takes as equal have the same bytes. That holds for
//! `boolean`, the integers, `date`, `timestamp`, `timestamptz` and `uuid`,
//! and not, for instance, for `numeric` (`1.0` and `1.00`) or for text under
//! a nondeterministic collation; a key with another type is never watched.
//! The order is that of the bytes, with the sign bit of the signed types
//! flipped (so that it is the numeric order): any strict order proves the
//! keys distinct.
//!
//! A batch in another order can still be proven distinct by a Bloom filter
//! of its keys' bytes: [`BITS_PER_KEY`] bits per key the input says it has
//! at least (its iterator's size hint), from 4 KiB up to [`FILTER_BYTES`]
//! (which an input of unknown length gets), [`HASHES`] of them set per key. A key whose bits are all set already *may* repeat an
//! earlier one (or be a false positive), and the check stays; none such,
//! and no key repeats. At 256 bits a key the chance of a false positive
//! over a whole batch is about 1 in 80,000 per 1,000 keys; at the 4 MiB
//! cap, about 1 in 2,500 for 100k keys and 1 in 10 for 300k; from about
//! 500k keys it mostly can't prove them distinct, and the check runs as it
//! would without it.

use std::hash::{DefaultHasher, Hash, Hasher};

use crate::table::TableDef;
use crate::types::TypeKind;

/// The Bloom filter's largest size in bytes.
const FILTER_BYTES: usize = 4 << 20;

/// The Bloom filter's bits per key the input is expected to have.
const BITS_PER_KEY: usize = 256;

/// Bits set per key.
const HASHES: u64 = 4;

/// Watches the keys of the tuples of one table, as they are encoded.
#[derive(Debug)]
pub(crate) struct KeyOrder {
    /// Tuple field index of each key column (the staging position is field
    /// 0), and whether its first byte is a sign.
    fields: Vec<(usize, bool)>,
    /// The last field index to read.
    last: usize,
    previous: Vec<u8>,
    current: Vec<u8>,
    seen: bool,
    increasing: bool,
    /// The Bloom filter's bits, allocated at the first key.
    filter: Vec<u64>,
    /// Its size in bytes.
    filter_bytes: usize,
    /// No key found all its bits set.
    distinct: bool,
}

impl KeyOrder {
    /// A watch over `key` (column names) of `def`'s tuples, with the staging
    /// position first when `positioned`, for an input of at least `rows`
    /// rows (0: unknown); `None` when a key column's type is not canonical,
    /// or the key is empty.
    pub(crate) fn new(
        def: &TableDef,
        key: &[&str],
        positioned: bool,
        rows: usize,
    ) -> Option<KeyOrder> {
        let offset = usize::from(positioned);
        let mut fields = Vec::with_capacity(key.len());
        for (index, column) in def.sent().enumerate() {
            if !key.contains(&column.name) {
                continue;
            }
            if column.sql_type.is_array() {
                return None;
            }
            let signed = match column.sql_type.kind() {
                TypeKind::Bool | TypeKind::Uuid => false,
                TypeKind::Int2
                | TypeKind::Int4
                | TypeKind::Int8
                | TypeKind::Date
                | TypeKind::Timestamp
                | TypeKind::Timestamptz => true,
                _ => return None,
            };
            fields.push((index + offset, signed));
        }
        if fields.is_empty() || fields.len() != key.len() {
            return None;
        }
        let last = fields.iter().map(|f| f.0).max().unwrap_or(0);
        Some(KeyOrder {
            fields,
            last,
            previous: Vec::new(),
            current: Vec::new(),
            seen: false,
            increasing: true,
            filter: Vec::new(),
            filter_bytes: match rows {
                0 => FILTER_BYTES,
                n => n
                    .saturating_mul(BITS_PER_KEY / 8)
                    .next_power_of_two()
                    .clamp(4096, FILTER_BYTES),
            },
            distinct: true,
        })
    }

    /// Takes the key of `tuple` (one binary COPY tuple: field count, then
    /// each field's length and bytes).
    pub(crate) fn observe(&mut self, tuple: &[u8]) {
        if !self.increasing && !self.distinct {
            return;
        }
        self.current.clear();
        let mut at = 2;
        let mut key = self.fields.iter().peekable();
        for index in 0..=self.last {
            let Some(length) = tuple.get(at..at + 4) else {
                (self.increasing, self.distinct) = (false, false);
                return;
            };
            let length = i32::from_be_bytes([length[0], length[1], length[2], length[3]]);
            at += 4;
            if let Some(&&(_, signed)) = key.peek().filter(|f| f.0 == index) {
                key.next();
                let Some(bytes) = usize::try_from(length)
                    .ok()
                    .and_then(|n| tuple.get(at..at + n))
                else {
                    // A NULL key (or a short tuple): no proof.
                    (self.increasing, self.distinct) = (false, false);
                    return;
                };
                let start = self.current.len();
                self.current.extend_from_slice(bytes);
                if signed {
                    if let Some(first) = self.current.get_mut(start) {
                        *first ^= 0x80;
                    }
                }
            }
            at += usize::try_from(length).unwrap_or(0);
        }
        if self.distinct {
            self.filter_key();
        }
        if self.increasing && self.seen && self.current <= self.previous {
            self.increasing = false;
        }
        self.seen = true;
        std::mem::swap(&mut self.previous, &mut self.current);
    }

    /// Sets the bits of the current key, noting whether they all were set.
    fn filter_key(&mut self) {
        if self.filter.is_empty() {
            self.filter = vec![0; self.filter_bytes / 8];
        }
        let mut hasher = DefaultHasher::new();
        self.current.hash(&mut hasher);
        let hash = hasher.finish();
        // Kirsch and Mitzenmacher: bit i is h1 + i * h2.
        let (h1, h2) = (hash & 0xffff_ffff, (hash >> 32) | 1);
        let bits = (self.filter_bytes * 8) as u64;
        let mut all_set = true;
        for i in 0..HASHES {
            let bit = h1.wrapping_add(i.wrapping_mul(h2)) % bits;
            let (word, mask) = ((bit / 64) as usize, 1u64 << (bit % 64));
            all_set &= self.filter[word] & mask != 0;
            self.filter[word] |= mask;
        }
        if all_set {
            self.distinct = false;
        }
    }

    /// Whether every key observed was greater than the one before.
    pub(crate) fn increasing(&self) -> bool {
        self.increasing
    }

    /// Whether no key observed repeats an earlier one, proven by their
    /// order or by the filter.
    pub(crate) fn distinct(&self) -> bool {
        self.increasing || self.distinct
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::ORDERS;

    /// A staged tuple of `sales.orders`: position, id, customer, NULL note.
    fn tuple(position: i64, id: i64) -> Vec<u8> {
        let mut out = 4i16.to_be_bytes().to_vec();
        for value in [position, id] {
            out.extend_from_slice(&8i32.to_be_bytes());
            out.extend_from_slice(&value.to_be_bytes());
        }
        out.extend_from_slice(&3i32.to_be_bytes());
        out.extend_from_slice(b"abc");
        out.extend_from_slice(&(-1i32).to_be_bytes());
        out
    }

    fn watch(ids: &[i64]) -> bool {
        let mut order = KeyOrder::new(&ORDERS, &["id"], true, 0).expect("a bigint key is watched");
        for (position, &id) in ids.iter().enumerate() {
            order.observe(&tuple(position as i64, id));
        }
        order.increasing()
    }

    #[test]
    fn increasing_keys_are_proven_distinct() {
        assert!(watch(&[1, 2, 3, 10, 1_000_000]));
        assert!(watch(&[-5, -1, 0, 1, 7]));
        assert!(watch(&[]));
        assert!(watch(&[42]));
    }

    #[test]
    fn a_repeat_or_a_step_back_proves_nothing() {
        assert!(!watch(&[1, 2, 2, 3]));
        assert!(!watch(&[3, 2]));
        assert!(!watch(&[0, -1]));
    }

    fn distinct(ids: &[i64]) -> bool {
        let mut order = KeyOrder::new(&ORDERS, &["id"], true, 0).expect("a bigint key is watched");
        for (position, &id) in ids.iter().enumerate() {
            order.observe(&tuple(position as i64, id));
        }
        order.distinct()
    }

    #[test]
    fn keys_out_of_order_are_proven_distinct_by_the_filter() {
        assert!(distinct(&[3, 1, 2, -7, 100]));
        // 100k keys in a scrambled order.
        let scrambled: Vec<i64> = (0..100_000i64).map(|i| (i * 7_919) % 100_003).collect();
        assert!(distinct(&scrambled));
        // A repeat is never proven distinct, however far apart.
        let mut repeated = scrambled.clone();
        repeated.push(scrambled[10]);
        assert!(!distinct(&repeated));
        assert!(!distinct(&[5, 1, 5]));
        // A filter sized for a short input (4 KiB) proves its keys too.
        let mut order = KeyOrder::new(&ORDERS, &["id"], true, 100).expect("watched");
        for (position, id) in (0..100i64).rev().enumerate() {
            order.observe(&tuple(position as i64, id));
        }
        assert_eq!(
            (order.increasing(), order.distinct(), order.filter.len()),
            (false, true, 512)
        );
    }

    #[test]
    fn keys_of_other_types_are_not_watched() {
        assert!(KeyOrder::new(&ORDERS, &["customer"], true, 0).is_none());
        assert!(KeyOrder::new(&ORDERS, &[], true, 0).is_none());
        assert!(KeyOrder::new(&ORDERS, &["id"], false, 0).is_some());
    }
}
