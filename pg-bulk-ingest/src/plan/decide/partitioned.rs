//! The decisions about partitioned tables (see the crate docs, "Partitioned
//! tables"): the declared partitioning must be the live one; a partitioned
//! table is never rebuilt nor swapped (its catalog-only changes are made in
//! place, on the parent, which passes them to every partition); `replace`
//! of a partitioned table is refused.

use std::borrow::Cow;

use super::{Options, Refused};
use crate::catalog::{LiveTable, Relation};
use crate::diff::{partitioning, Change, Refusal};
use crate::plan::{Mode, Path};
use crate::sql;
use crate::table::TableDef;

/// Whether a call may share the table's advisory lock with calls on other
/// partitions, taking an advisory lock per partition it writes into
/// instead: an `insert` (a slice replace too) or an `upsert` into a table
/// the definition declares partitioned by range or list (whose partitions
/// the library makes and names), when the table needs no change (checked
/// once planned), and, for a slice replace, when the slice names the
/// partition column (`equal`, or `range` for a range partitioning). A
/// mirror (it reads and deletes across the table), a hash partitioning, a
/// slice the partitions can't be told from, and every call that changes the
/// table take it exclusively, as on a plain table.
pub(crate) fn shares_lock(def: &TableDef, options: &Options, mode: Mode) -> bool {
    sql::creates_partitions(def)
        && matches!(mode, Mode::Insert | Mode::Upsert)
        && options.mirror.is_none()
        && options
            .slice
            .as_ref()
            .is_none_or(|slice| sql::slice_partition_keys(def, slice).is_some())
}

/// Whether `live` is a partitioned table, and the options the call is
/// decided with: for a partitioned table, [`in_place`](Options::in_place)
/// (there is no rebuild to choose instead). Refused when the definition
/// declares another partitioning than the live one.
pub(super) fn check<'o>(
    def: &TableDef,
    live: &LiveTable,
    options: &'o Options,
) -> Result<(bool, Cow<'o, Options>), Refused> {
    if let Some(refusal) = partitioning(def, live) {
        return Err(Refused::Changes(vec![refusal]));
    }
    if live.partitioning.is_none() || options.in_place {
        return Ok((live.partitioning.is_some(), Cow::Borrowed(options)));
    }
    let options = Options {
        in_place: true,
        ..options.clone()
    };
    Ok((true, Cow::Owned(options)))
}

/// `replace` swaps in a fresh table: a partitioned one (declared, or live)
/// would lose its partitions, or need them all made again under the swap's
/// lock. Refused, whether the table exists or not.
pub(super) fn refuse_replace(def: &TableDef, live: &Relation, mode: Mode) -> Result<(), Refused> {
    let live_partitioned = matches!(live, Relation::Table(table) if table.partitioning.is_some());
    if mode != Mode::Replace || (def.partition.is_none() && !live_partitioned) {
        return Ok(());
    }
    Err(Refused::Changes(vec![Refusal::Partitioning {
        what: "replace is not done on a partitioned table (it swaps in a new table, which \
               would lose the partitions): replace the rows of a partition with \
               Ingest::replace_slice, or load with insert"
            .to_owned(),
    }]))
}

/// A partitioned table is rebuilt by no call: the changes that can't be
/// made in place (catalog only) are refused, each named.
pub(super) fn refuse_rebuild(
    partitioned: bool,
    path: Path,
    changes: &[Change],
) -> Result<(), Refused> {
    if !partitioned || path != Path::Rebuild {
        return Ok(());
    }
    let rebuilt: Vec<String> = changes
        .iter()
        .filter(|c| !c.is_catalog_only())
        .map(ToString::to_string)
        .collect();
    let what = if rebuilt.is_empty() {
        "the changes".to_owned()
    } else {
        rebuilt.join(", ")
    };
    Err(Refused::Changes(vec![Refusal::Partitioning {
        what: format!(
            "{what}: a partitioned table is not rebuilt (only changes that touch the catalog \
             alone are made, in place on the parent); make the change by hand"
        ),
    }]))
}
