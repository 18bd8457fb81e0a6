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
//! keys distinct; a batch in another order only keeps the check.

use crate::table::TableDef;
use crate::types::TypeKind;

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
}

impl KeyOrder {
    /// A watch over `key` (column names) of `def`'s tuples, with the staging
    /// position first when `positioned`; `None` when a key column's type is
    /// not canonical, or the key is empty.
    pub(crate) fn new(def: &TableDef, key: &[&str], positioned: bool) -> Option<KeyOrder> {
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
        })
    }

    /// Takes the key of `tuple` (one binary COPY tuple: field count, then
    /// each field's length and bytes).
    pub(crate) fn observe(&mut self, tuple: &[u8]) {
        if !self.increasing {
            return;
        }
        self.current.clear();
        let mut at = 2;
        let mut key = self.fields.iter().peekable();
        for index in 0..=self.last {
            let Some(length) = tuple.get(at..at + 4) else {
                self.increasing = false;
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
                    self.increasing = false;
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
        if self.seen && self.current <= self.previous {
            self.increasing = false;
            return;
        }
        self.seen = true;
        std::mem::swap(&mut self.previous, &mut self.current);
    }

    /// Whether every key observed was greater than the one before.
    pub(crate) fn increasing(&self) -> bool {
        self.increasing
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
        let mut order = KeyOrder::new(&ORDERS, &["id"], true).expect("a bigint key is watched");
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

    #[test]
    fn keys_of_other_types_are_not_watched() {
        assert!(KeyOrder::new(&ORDERS, &["customer"], true).is_none());
        assert!(KeyOrder::new(&ORDERS, &[], true).is_none());
        assert!(KeyOrder::new(&ORDERS, &["id"], false).is_some());
    }
}
