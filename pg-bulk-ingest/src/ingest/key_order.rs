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
//! of its keys' bytes, made when the order breaks (a batch in order pays
//! nothing for it): the keys of the increasing start go in then (kept until
//! then, up to [`PREFIX_KEYS`] of them; a longer start is known by its
//! range only, and a later key inside it can't be proven new), and each key
//! after. The filter has [`BITS_PER_KEY`] bits per key the input says it has
//! at least (its iterator's size hint), from 4 KiB up to [`FILTER_BYTES`]
//! (which an input of unknown length gets), [`HASHES`] of them set per
//! key. A key whose bits are all set already *may* repeat an earlier one
//! (or be a false positive), and the check stays; none such, and no key
//! repeats. At 256 bits a key the chance of a false positive
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

/// The keys of a batch's increasing start kept, at most: when the order
/// breaks within them they go into the filter; after, only their range is
/// kept, and a later key inside it can't be proven new.
const PREFIX_KEYS: usize = 4096;

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
    /// The keys while they increase (each `previous.len()` bytes, the types
    /// being of fixed length), up to [`PREFIX_KEYS`] of them.
    prefix: Vec<u8>,
    /// The first key, and whether `prefix` holds every key so far.
    first: Vec<u8>,
    whole_prefix: bool,
    /// Once the order broke over more than `PREFIX_KEYS` keys: the range of
    /// the increasing start, whose keys are not in the filter.
    range: Option<(Vec<u8>, Vec<u8>)>,
    /// The Bloom filter's bits, allocated when the order breaks.
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
            prefix: Vec::new(),
            first: Vec::new(),
            whole_prefix: true,
            range: None,
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
        if self.increasing {
            if !self.seen || self.current > self.previous {
                self.keep_in_prefix();
                self.seen = true;
                std::mem::swap(&mut self.previous, &mut self.current);
                return;
            }
            // The order breaks here: what came before goes into the filter
            // (or, too long to have been kept, is known by its range).
            self.increasing = false;
            self.filter = vec![0; self.filter_bytes / 8];
            if self.whole_prefix {
                let prefix = std::mem::take(&mut self.prefix);
                for key in prefix.chunks(self.previous.len().max(1)) {
                    self.filter_key(key);
                }
            } else {
                self.range = Some((std::mem::take(&mut self.first), self.previous.clone()));
            }
        }
        let current = std::mem::take(&mut self.current);
        if let Some((low, high)) = &self.range {
            if (low..=high).contains(&&current) {
                self.distinct = false;
            }
        }
        if self.distinct {
            self.filter_key(&current);
        }
        self.current = current;
    }

    /// Keeps the current key, the batch's keys having increased so far.
    fn keep_in_prefix(&mut self) {
        if !self.seen {
            self.first.clone_from(&self.current);
        }
        if !self.whole_prefix {
            return;
        }
        let width = self.current.len().max(1);
        if self.prefix.len() / width < PREFIX_KEYS
            && (self.prefix.is_empty() || width == self.previous.len())
        {
            self.prefix.extend_from_slice(&self.current);
        } else {
            self.whole_prefix = false;
            self.prefix = Vec::new();
        }
    }

    /// Sets the bits of `key`, noting whether they all were set.
    fn filter_key(&mut self, key: &[u8]) {
        let mut hasher = DefaultHasher::new();
        key.hash(&mut hasher);
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

    /// A watch over `sales.orders`' id that has seen `ids`.
    fn observed(ids: &[i64]) -> KeyOrder {
        let mut order = KeyOrder::new(&ORDERS, &["id"], true, 0).expect("a bigint key is watched");
        for (position, &id) in ids.iter().enumerate() {
            order.observe(&tuple(position as i64, id));
        }
        order
    }

    fn watch(ids: &[i64]) -> bool {
        observed(ids).increasing()
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
        observed(ids).distinct()
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
        // An increasing start too long to keep is known by its range: keys
        // after the break outside it are proven new, one inside it is not.
        let long: Vec<i64> = (0..10_000).chain([-5, -3, -10]).collect();
        assert!(distinct(&long));
        let mut inside = long.clone();
        inside.push(5_000);
        assert!(!distinct(&inside));
        // A short one goes into the filter whole.
        assert!(distinct(&[10, 20, 30, 5, 25, 40]));
        assert!(!distinct(&[10, 20, 30, 5, 20]));
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
