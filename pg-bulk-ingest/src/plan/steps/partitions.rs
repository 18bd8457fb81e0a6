//! The steps of a partitioned table: the partitions a batch needs, and a
//! slice replace's partition swap.

use super::{keys_and_indexes, Shape, Steps};
use crate::catalog::swap::Settings;
use crate::catalog::SlicePartition;
use crate::ident::QualifiedName;
use crate::lock::{self, LockMode};
use crate::plan::{Mode, NewTableKind, Path, Run, Stage};
use crate::sql;

impl Shape<'_> {
    /// The partition a slice replace swaps a fresh one in for: the one that
    /// is exactly the slice, with nothing of its own a fresh table would
    /// lose, of a table that needs no change.
    pub(super) fn swapped(&self) -> Option<&SlicePartition> {
        self.slice_partition
            .filter(|p| p.own.is_empty() && self.path == Path::Nothing && self.mode == Mode::Insert)
    }

    /// Why a slice replace asked to swap a partition deletes instead.
    pub(super) fn not_swapped(&self) -> Option<String> {
        if !self.swap_partition || self.swapped().is_some() {
            return None;
        }
        Some(match self.slice_partition {
            Some(p) if !p.own.is_empty() => format!(
                "not a partition swap: partition {} has {}",
                p.name,
                p.own.join(", ")
            ),
            Some(_) => "not a partition swap: the table needs a change first".to_owned(),
            None => "not a partition swap: no partition is exactly the slice".to_owned(),
        })
    }
}

/// The fresh partition of a partition swap, made before the load, with the
/// partition's storage parameters, and the hook run on it.
pub(super) fn fresh_partition(s: &mut Steps<'_>, partition: &SlicePartition) {
    let def = s.shape.def;
    let fresh = QualifiedName::new(def.schema, &partition.fresh);
    s.new_table(
        Stage::Prepare,
        sql::fresh_partition(def, &partition.fresh),
        "the fresh partition, made as the library makes partitions",
    );
    if let Some(live) = s.shape.live {
        let settings = Settings {
            storage: partition.storage.clone(),
            ..Settings::default()
        };
        for (sql, _) in sql::set_settings(def, live, &fresh, &settings) {
            s.new_table(
                Stage::Prepare,
                sql,
                "the partition's storage parameters (as planning read them)",
            );
        }
    }
    s.hook(NewTableKind::Intermediate, &partition.fresh);
}

/// The step that creates the partitions the staged rows need, when the call
/// creates partitions: after the `ALTER`s in place (a partition is made like
/// the parent), before the rows go in.
pub(super) fn partitions(s: &mut Steps<'_>, stage: Stage) {
    let shape = s.shape;
    if !shape.partitions() || !shape.staged() {
        return;
    }
    let live = shape.live.and_then(|l| l.partitioning.as_ref());
    let Some(query) = sql::missing_partitions(shape.def, live, &shape.staging_qualified()) else {
        return;
    };
    if let (true, None) = (shape.partition_locks, shape.slice) {
        if let Some(keys) = sql::staged_partition_keys(shape.def, &shape.staging_qualified()) {
            s.push(
                stage,
                lock::advisory_partitions(shape.def, &keys),
                Some(LockMode::AdvisoryPartitions),
                "each partition the batch goes into, made or not: a call on one of them \
                 waits until this one's transaction ends",
                Run::Execute,
            );
        }
    }
    s.push(
        stage,
        query,
        Some(LockMode::ShareUpdateExclusive),
        "the partitions the batch needs, each made (CREATE TABLE ... LIKE the table) and \
         attached: readers and writers of the table go on (ACCESS EXCLUSIVE on a default \
         partition, which is scanned)",
        Run::Partitions,
    );
}

/// The steps of a partition swap after the fresh partition is loaded: its
/// key and indexes, its bound's `CHECK`, the old partition's owner,
/// privileges and comments; then, under the table's `ACCESS EXCLUSIVE`
/// lock, the old partition's rows counted and the swap.
pub(super) fn partition_swap(s: &mut Steps<'_>, partition: &SlicePartition) {
    let def = s.shape.def;
    let fresh = &partition.fresh;
    keys_and_indexes(s, fresh, Stage::Finish);
    s.new_table(
        Stage::Finish,
        sql::bound_check(def, fresh, &partition.constraint),
        "the partition's constraint (as planning read it): ATTACH PARTITION then \
         doesn't scan the fresh partition",
    );
    for sql in sql::carry(def, fresh, &partition.carried) {
        s.new_table(
            Stage::Finish,
            sql,
            "the partition's owner, privileges and comments (as planning read them)",
        );
    }
    let lock = Some(LockMode::AccessExclusive);
    s.push(
        Stage::Swap,
        lock::lock_table(&s.shape.name(), LockMode::AccessExclusive),
        lock,
        "taken last, in attempts of at most the lock timeout; readers and writers of \
         every partition wait until the caller commits",
        Run::SwapLock { first: Vec::new() },
    );
    s.push(
        Stage::Swap,
        partition.query.clone(),
        lock,
        "the partition read again (the slice's values bound): the call fails, changing \
         nothing, if it changed since it was read",
        Run::SamePartition {
            planned: Box::new(partition.clone()),
        },
    );
    s.push(
        Stage::Swap,
        sql::count_rows(def, &partition.name),
        lock,
        "the old partition's rows (one scan), counted as deleted",
        Run::Counted,
    );
    for sql in sql::swap_partition(def, &partition.name, &partition.bound, fresh) {
        s.push(Stage::Swap, sql, lock, "", Run::Execute);
    }
}
