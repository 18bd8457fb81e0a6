//! The row shape both benchmarks load or encode, and its lazy generator.
//!
//! `items(id bigint primary key, name text, amount numeric(12,2), created
//! timestamptz, flag bool, note text null (30 %), score float8)`.

#![allow(dead_code)] // each benchmark uses a part of it

use std::ops::Range;

use chrono::{DateTime, Utc};
use pg_bulk_ingest::BulkTable;
use postgres::types::{ToSql, Type};
use rust_decimal::Decimal;

/// One row of `public.items`.
#[derive(BulkTable, Debug, Clone, PartialEq)]
#[bulk(table = "items")]
pub struct Item {
    #[bulk(primary_key)]
    pub id: i64,
    pub name: String,
    #[bulk(sql_type = "numeric(12,2)")]
    pub amount: Decimal,
    pub created: DateTime<Utc>,
    pub flag: bool,
    pub note: Option<String>,
    pub score: f64,
}

/// The table as a hand-written loader would create it; `pg_bulk_ingest`
/// finds nothing to change in it (the load benchmark checks that).
pub const CREATE_TABLE: &str = "CREATE TABLE \"public\".\"items\" (\
    \"id\" bigint PRIMARY KEY, \
    \"name\" text NOT NULL, \
    \"amount\" numeric(12,2) NOT NULL, \
    \"created\" timestamptz NOT NULL, \
    \"flag\" boolean NOT NULL, \
    \"note\" text, \
    \"score\" double precision NOT NULL)";

/// The column list, quoted, in field order.
pub const COLUMNS: &str =
    "\"id\", \"name\", \"amount\", \"created\", \"flag\", \"note\", \"score\"";

/// The column types for `BinaryCopyInWriter` / `ToSql`, in field order.
pub const TYPES: [Type; 7] = [
    Type::INT8,
    Type::TEXT,
    Type::NUMERIC,
    Type::TIMESTAMPTZ,
    Type::BOOL,
    Type::TEXT,
    Type::FLOAT8,
];

impl Item {
    /// The fields as `ToSql` trait objects, the way a hand-written
    /// `BinaryCopyInWriter` loop passes them.
    #[inline]
    pub fn values(&self) -> [&(dyn ToSql + Sync); 7] {
        [
            &self.id,
            &self.name,
            &self.amount,
            &self.created,
            &self.flag,
            &self.note,
            &self.score,
        ]
    }
}

const WORDS: [&str; 16] = [
    "anchor",
    "bracket",
    "cable",
    "dowel",
    "elbow",
    "flange",
    "gasket",
    "hinge",
    "insulator",
    "joist",
    "knob",
    "lever",
    "manifold",
    "nozzle",
    "o-ring",
    "pulley",
];

const LOREM: &str = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do \
    eiusmod tempor incididunt ut labore et dolore magna aliqua.";

/// SplitMix64: a cheap, well-mixed hash of the id and the version, so that
/// the values of the same id differ between versions.
#[inline]
fn mix(id: i64, version: u64) -> u64 {
    let mut z = (id as u64)
        .wrapping_add(version.wrapping_mul(0x5851_F42D_4C95_7F2D))
        .wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The row of `id` in `version`: every column but the key differs between
/// versions (the name ends in `v<version>`), so an upsert of version 1 over
/// version 0 really changes every row it matches. 30 % of the notes are NULL.
#[inline]
pub fn item(id: i64, version: u64) -> Item {
    let h = mix(id, version);
    Item {
        id,
        name: format!("{} {id} v{version}", WORDS[(h & 15) as usize]),
        amount: Decimal::new(((h >> 4) % 100_000_000) as i64, 2),
        // 2024-01-01 plus up to two years, in microseconds.
        created: DateTime::from_timestamp_micros(
            1_704_067_200_000_000 + ((h >> 8) % 63_072_000_000_000) as i64,
        )
        .expect("in chrono's range"),
        flag: (h >> 20) & 1 == 1,
        note: ((h >> 24) % 10 >= 3).then(|| LOREM[..20 + ((h >> 32) % 80) as usize].to_owned()),
        score: (h >> 11) as f64 / (1u64 << 53) as f64 * 1000.0,
    }
}

/// The rows of `ids` in `version`, made one at a time as they are consumed:
/// never a `Vec` of all of them.
pub fn items(ids: Range<i64>, version: u64) -> impl Iterator<Item = Item> {
    ids.map(move |id| item(id, version))
}
