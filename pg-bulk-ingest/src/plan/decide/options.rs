//! The options of a call that planning depends on, and the choices they
//! resolve to for one table ([`Keys`]): checked before anything is sent.

use std::time::Duration;

use super::UpsertStrategy;
use crate::conflict::{key_of, Duplicates, KeyChoice, OnConflict};
use crate::plan::Mode;
use crate::sync::{Delete, Mirror, SliceShape};
use crate::table::TableDef;

/// The options of a call that planning depends on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Options {
    /// What an upsert does with a row whose key is stored.
    pub on_conflict: OnConflict,
    /// What the call does with rows that repeat a key (`None`: the mode's
    /// default).
    pub duplicates: Option<Duplicates>,
    /// The conflict keys chosen, at most one per table.
    pub keys: Vec<KeyChoice>,
    /// A mirror: the upsert deletes or marks the stored rows the batch lacks.
    pub mirror: Option<Mirror>,
    /// A slice replace: the insert replaces the rows of this slice.
    pub slice: Option<SliceShape>,
    /// A slice replace that is exactly one partition swaps a fresh one in.
    pub swap_partition: bool,
    /// Make catalog-only changes in place rather than rebuilding.
    pub in_place: bool,
    /// Allow changes that lose data.
    pub allow_data_loss: bool,
    /// How an upsert brings the rows into a table that exists.
    pub strategy: UpsertStrategy,
    /// The call's [`lock_timeout`](crate::Ingest::lock_timeout): no lock is
    /// waited for longer.
    pub lock_timeout: Option<Duration>,
    /// An [`on_new_table`](crate::Ingest::on_new_table) hook runs on each table created.
    pub on_new_table: bool,
}

/// The choices of a call for one table, resolved from its options: the key
/// rows match on, and what happens to rows whose key is stored or repeats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Keys {
    /// The columns rows match on (empty: the table has no unique key).
    pub key: &'static [&'static str],
    /// Whether `key` is the primary key.
    pub primary: bool,
    pub on_conflict: OnConflict,
    pub duplicates: Duplicates,
}

impl Options {
    /// The choices for table `def` in a call of `mode`; an error (why) when
    /// they don't fit it (see [`key_of`]), found before anything is sent.
    pub(crate) fn keys(&self, def: &'static TableDef, mode: Mode) -> Result<Keys, String> {
        if mode != Mode::Upsert && self.keys.iter().any(|k| k.table.name() == def.name()) {
            return Err(
                "a conflict key is for upsert only; insert and replace de-duplicate \
                        on the primary key"
                    .to_owned(),
            );
        }
        // `insert` and `replace` de-duplicate on the primary key, when the
        // struct sends it (else the choice has no effect).
        let key = match mode {
            Mode::Upsert => key_of(def, &self.keys)?,
            _ if def
                .primary_key
                .iter()
                .all(|c| def.column(c).is_some_and(|c| c.is_sent())) =>
            {
                def.primary_key
            }
            _ => &[],
        };
        if let Some(mirror) = &self.mirror {
            if mode != Mode::Upsert {
                return Err("a mirror is an upsert: call upsert".to_owned());
            }
            if self.on_conflict != OnConflict::Update {
                return Err(
                    "a mirror makes the table equal the snapshot: it updates stored \
                            rows (OnConflict::Update)"
                        .to_owned(),
                );
            }
            if let Delete::Mark(column) = &mirror.delete {
                crate::sql::markable(def, key, column)?;
            }
        }
        if let Some(slice) = &self.slice {
            if mode != Mode::Insert {
                return Err("a slice replace loads with insert: call insert".to_owned());
            }
            for (column, _) in &slice.conditions {
                if !def.column(column).is_some_and(|c| c.is_sent()) {
                    return Err(format!(
                        "the slice's column {column} is not a column the struct sends"
                    ));
                }
            }
        }
        if self.swap_partition && self.slice.is_none() {
            return Err(
                "swap_partition is for a slice replace: give the slice with replace_slice"
                    .to_owned(),
            );
        }
        let duplicates = self.duplicates.unwrap_or(match mode {
            Mode::Upsert => Duplicates::KeepLast,
            _ => Duplicates::AssumeUnique,
        });
        Ok(Keys {
            key,
            primary: !key.is_empty() && key == def.primary_key,
            on_conflict: self.on_conflict,
            duplicates,
        })
    }
}
