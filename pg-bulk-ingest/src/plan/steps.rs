//! The steps of each path, in the order they run: the one place that order
//! is written down. [`build`] turns a decided [`Shape`] into steps; the
//! executor runs them as they are and `Display` shows them as they are.

use std::time::Duration;

use super::decide::Keys;
use super::{Counting, Staged};
use super::{Lock, Mode, NewTableKind, Path, Plan, Run, Stage, Step};
use crate::catalog::{LiveTable, Session, SlicePartition, SwapFacts};
use crate::conflict::Duplicates;
use crate::diff::Change;
use crate::ident::QualifiedName;
use crate::lock;
use crate::lock::LockMode;
use crate::sql::{self, Keep};
use crate::sync::{Mirror, SliceShape};
use crate::table::Filled;
use crate::table::TableDef;

/// What [`decide`](super::decide()) chose, and what the steps are built from.
#[derive(Clone)]
pub(super) struct Shape<'a> {
    pub def: &'static TableDef,
    pub mode: Mode,
    pub path: Path,
    /// The table's schema does not exist yet.
    pub create_schema: bool,
    pub live: Option<&'a LiveTable>,
    pub changes: &'a [Change],
    /// What a swap relies on, read when the call may swap.
    pub swap: Option<&'a SwapFacts>,
    /// Whether a COPY into a table created by the call may use `FREEZE`
    /// (PostgreSQL refuses it with open cursors, and in a transaction whose
    /// snapshot is older than the statement).
    pub freeze: bool,
    /// For an upsert by rebuild: how long the `EXCLUSIVE` lock is waited for
    /// before the fallback runs instead (`None`: as long as the lock timeout).
    pub lock_wait: Option<Duration>,
    pub single_table: bool,
    /// The key rows match on, and what happens to rows whose key is stored
    /// or repeats.
    pub keys: Keys,
    /// A mirror's choices (an upsert).
    pub mirror: Option<&'a Mirror>,
    /// A slice replace's slice (an insert).
    pub slice: Option<&'a SliceShape>,
    /// A slice replace asked to swap a fresh partition in
    /// ([`Ingest::swap_partition`](crate::Ingest::swap_partition)), and the
    /// partition that is exactly its slice, when there is one.
    pub swap_partition: bool,
    pub slice_partition: Option<&'a SlicePartition>,
    /// The caller's `on_new_table` hook runs on each table created.
    pub hook: bool,
    /// The server and the session's settings (the merge's form).
    pub session: Session,
    /// The call shares the table's advisory lock with calls on other
    /// partitions, and takes one on each partition it writes into.
    pub partition_locks: bool,
    /// The call took the table's advisory lock shared while it planned, to
    /// let go of it when the plan does not share it.
    pub probed: bool,
}

impl Shape<'_> {
    fn name(&self) -> String {
        self.def.name().to_string()
    }

    fn intermediate(&self) -> &str {
        &self
            .swap
            .expect("a path with a new table reads what a swap relies on")
            .intermediate
    }

    /// Whether the rows wait in a staging table: merged by an upsert, or
    /// appended after the `ALTER`s in place.
    ///
    /// Keys repeated in the batch decide the rest: `KeepLast` and
    /// `KeepFirst` stage to keep one row of each key (a table the call loads
    /// whole, `replace` and upsert by rebuild, is de-duplicated in place
    /// instead), and an `insert` with `Error` stages into a table that exists
    /// to name both rows.
    fn staged(&self) -> bool {
        let keyed = !self.keys.key.is_empty();
        let keeps = self.keep().is_some();
        match self.path {
            Path::InPlace => true,
            Path::UpsertByRebuild | Path::Replace => false,
            Path::Create => (keyed && keeps) || self.slice.is_some() || self.partitions(),
            Path::Nothing => {
                self.mode == Mode::Upsert
                    || self.slice.is_some()
                    || self.partitions()
                    || (keyed && self.keys.duplicates != Duplicates::AssumeUnique)
            }
            Path::Rebuild => self.mode == Mode::Upsert || self.slice.is_some() || (keyed && keeps),
        }
    }

    /// Whether the call creates the partitions its rows need (a range or
    /// list partitioning the definition declares): the rows are staged
    /// first, since a partition must exist before a row goes in.
    fn partitions(&self) -> bool {
        sql::creates_partitions(self.def)
    }

    /// Which row of a key the batch repeats stays, if one does.
    fn keep(&self) -> Option<Keep> {
        match self.keys.duplicates {
            Duplicates::KeepLast => Some(Keep::Last),
            Duplicates::KeepFirst => Some(Keep::First),
            _ => None,
        }
    }

    /// The table the rows go into, unqualified.
    fn target(&self) -> &str {
        match self.path {
            Path::Rebuild | Path::UpsertByRebuild | Path::Replace => self.intermediate(),
            Path::Nothing | Path::Create | Path::InPlace => self.def.table,
        }
    }

    fn staging(&self) -> String {
        sql::staging_name(self.def)
    }

    fn staging_qualified(&self) -> String {
        sql::staging_qualified(self.def)
    }

    fn position_column(&self) -> String {
        let mut column = sql::STAGING_POSITION.to_owned();
        while self.def.column(&column).is_some() {
            column.push('_');
        }
        column
    }
}

/// The relation the COPY goes into, unqualified and unquoted (as COPY errors
/// name it), and the staging table's position column when it is staged.
pub(super) fn copy_target(shape: &Shape<'_>) -> (String, Option<String>) {
    if shape.staged() {
        (shape.staging(), Some(shape.position_column()))
    } else {
        (shape.target().to_owned(), None)
    }
}

/// Accumulates steps with their stage, lock and note.
struct Steps<'s> {
    shape: &'s Shape<'s>,
    out: Vec<Step>,
}

impl Steps<'_> {
    fn push(&mut self, stage: Stage, sql: String, lock: Option<LockMode>, note: &str, run: Run) {
        let on = self.shape.name();
        self.out.push(Step {
            stage,
            sql,
            lock: lock.map(|mode| Lock::new(mode, on)),
            note: note.to_owned(),
            run,
        });
    }

    fn new_table(&mut self, stage: Stage, sql: String, note: &str) {
        self.push(stage, sql, None, note, Run::Execute);
    }

    /// The step that runs the caller's hook on `table` (unqualified), when
    /// there is one.
    fn hook(&mut self, kind: NewTableKind, table: &str) {
        if !self.shape.hook {
            return;
        }
        let schema = match kind {
            NewTableKind::Staging => "pg_temp",
            _ => self.shape.def.schema,
        };
        let note = format!(
            "on_new_table runs on {} ({kind}), in a savepoint; its statements are the caller's",
            QualifiedName::new(schema, table)
        );
        let run = Run::NewTable {
            kind,
            table: table.to_owned(),
        };
        self.push(Stage::Prepare, String::new(), None, &note, run);
    }
}

mod partitions;
mod prelude;
mod staged;

use partitions::{fresh_partition, partition_swap, partitions};
pub(crate) use prelude::{advisory, advisory_shared};
use staged::{insert, merge, staged_merge};

const ON_NEW: &str = "on the new table only";
const WRITERS_WAIT: &str = "writers wait until the caller commits, readers go on";

/// The steps of `shape`'s path after the prelude, in order.
pub(super) fn build(shape: &Shape<'_>) -> Vec<Step> {
    let mut s = Steps {
        shape,
        out: Vec::new(),
    };
    let def = shape.def;
    let name = shape.name();
    let staged = shape.staged();

    // Prepare: locks first, so that the catalog can be read again under them.
    if let (true, Some(slice)) = (shape.partition_locks, shape.slice) {
        if let Some((keys, params)) = sql::slice_partition_keys(def, slice) {
            s.push(
                Stage::Prepare,
                lock::advisory_partitions(def, &keys),
                Some(LockMode::AdvisoryPartitions),
                "each partition the slice may hold rows in (the slice's values bound): a \
                 call on one of them waits until this one's transaction ends",
                Run::Bound { params },
            );
        }
    }
    if matches!(shape.path, Path::Rebuild | Path::UpsertByRebuild) {
        let run = match shape.lock_wait {
            Some(wait) => Run::TryLock { wait },
            None => Run::Execute,
        };
        let note = match shape.lock_wait {
            Some(wait) => format!("{WRITERS_WAIT}; waits at most {wait:?}, else the fallback"),
            None => WRITERS_WAIT.to_owned(),
        };
        s.push(
            Stage::Prepare,
            lock::lock_table(&name, LockMode::Exclusive),
            Some(LockMode::Exclusive),
            &note,
            run,
        );
        s.push(
            Stage::Prepare,
            String::new(),
            None,
            "the catalog read again under the lock: the call is planned again if the \
             table changed meanwhile",
            Run::Verify,
        );
    }
    if shape.path == Path::Create {
        if shape.create_schema {
            s.new_table(Stage::Prepare, sql::create_schema(def.schema), "");
        }
        s.new_table(Stage::Prepare, sql::create_table(def, def.table), "");
        for sql in sql::fixed_partitions(def) {
            s.new_table(Stage::Prepare, sql, "a partition made with the table");
        }
        s.hook(NewTableKind::Created, def.table);
    }
    if matches!(
        shape.path,
        Path::Rebuild | Path::UpsertByRebuild | Path::Replace
    ) {
        s.new_table(
            Stage::Prepare,
            sql::create_table(def, shape.intermediate()),
            "",
        );
        // The live table's settings, before the hook: what it sets wins.
        let new = QualifiedName::new(def.schema, shape.intermediate());
        if let (Some(swap), Some(live)) = (shape.swap, shape.live) {
            for (sql, note) in sql::set_settings(def, live, &new, &swap.settings.kept) {
                s.new_table(Stage::Prepare, sql, note);
            }
        }
        for sql in advance_identities(shape) {
            s.new_table(
                Stage::Prepare,
                sql,
                "the new table's identity sequence goes on from the live one's",
            );
        }
        s.hook(NewTableKind::Intermediate, shape.intermediate());
    }
    if shape.path == Path::Rebuild {
        let live = shape.live.expect("a rebuild has a live table");
        s.push(
            Stage::Prepare,
            sql::copy_live_rows(def, live, shape.intermediate(), false),
            None,
            "reads the live table",
            Run::CopyLive,
        );
        if staged {
            // Staged rows go in after the key and indexes: the live rows
            // are told from the batch's by the key.
            keys_and_indexes(&mut s, shape.intermediate(), Stage::Prepare);
        }
    }
    if shape.path == Path::Nothing && shape.mode == Mode::Insert && shape.swapped().is_none() {
        // The lock the COPY takes, taken first by a plain statement: a lock
        // timeout (or missing privilege) is then an ordinary error, where at
        // the start of a COPY it would leave the connection unusable.
        s.push(
            Stage::Prepare,
            lock::lock_table(&name, LockMode::RowExclusive),
            Some(LockMode::RowExclusive),
            "",
            Run::Execute,
        );
    }
    // In place, the table is read once it is altered (the mark column may be
    // new): under the swap's lock, just before the merge.
    if let (Some(mirror), true) = (
        shape.mirror,
        !matches!(shape.path, Path::Create | Path::InPlace),
    ) {
        let target = QualifiedName::new(def.schema, shape.target()).to_string();
        s.push(
            Stage::Prepare,
            sql::snapshot_keys(def, shape.keys.key, &target, &mirror.delete),
            None,
            "the keys the table holds as the call starts: all the mirror may delete or mark \
             (rows other sessions add later are never touched)",
            Run::Execute,
        );
    }
    if staged {
        s.new_table(
            Stage::Prepare,
            sql::create_staging(def, &shape.staging_qualified(), &shape.position_column()),
            "a temporary table of this session",
        );
        s.hook(NewTableKind::Staging, &shape.staging());
    }
    if let Some(partition) = shape.swapped() {
        fresh_partition(&mut s, partition);
    }

    // Load.
    let creates = !matches!(shape.path, Path::Nothing | Path::InPlace);
    // FREEZE only where the batch is all the new table holds: rows written
    // frozen are visible to every snapshot, and live rows copied in by this
    // transaction are not, so a reader whose snapshot predates the commit
    // would see some of the new table. Without FREEZE it sees none of a
    // rebuilt table (as after PostgreSQL's own rewrites), and with it all of
    // a created or replaced one.
    // PostgreSQL refuses FREEZE on a partitioned table.
    let freeze = matches!(shape.path, Path::Create | Path::Replace)
        && !staged
        && shape.freeze
        && def.partition.is_none();
    let into = if staged {
        shape.staging_qualified()
    } else {
        QualifiedName::new(def.schema, shape.target()).to_string()
    };
    let position = staged.then(|| shape.position_column());
    let (lock, note) = match (staged, creates) {
        (false, false) => (Some(LockMode::RowExclusive), ""),
        (true, _) => (None, "into the staging table"),
        (false, true) if freeze => (
            None,
            "into the new table; rows written frozen, so no later VACUUM has to freeze them",
        ),
        (false, true) => (None, "into the new table"),
    };
    if staged {
        staged::compare(&mut s);
    }
    s.push(
        Stage::Load,
        sql::copy_in(def, &into, position.as_deref(), freeze),
        lock,
        note,
        Run::Load,
    );
    if staged {
        staged::append_steps(&mut s);
    }

    // Finish.
    let into = QualifiedName::new(def.schema, shape.target()).to_string();
    let key_first = shape.path == Path::Rebuild && staged;
    if shape.path != Path::InPlace && shape.swapped().is_none() {
        partitions(&mut s, Stage::Finish);
    }
    match (shape.path, shape.mode) {
        (Path::Create, Mode::Upsert) if staged => {
            // Into a table this call created empty, one row of each key goes
            // in and the key is built after them.
            let (staging, position) = (shape.staging_qualified(), shape.position_column());
            s.push(
                Stage::Finish,
                staged_merge(shape, &into, &staging, &position).insert(shape.keep(), false),
                None,
                "one row of each key",
                Run::Staged(Box::new(Staged {
                    counting: Counting::RowCount,
                    instead: None,
                    unordered: None,
                    check_first: None,
                    dedupe: None,
                    repeated: None,
                    stored: None,
                    locate: None,
                })),
            );
            s.new_table(
                Stage::Finish,
                sql::drop_table(&shape.staging_qualified()),
                "",
            );
        }
        (Path::Nothing | Path::Rebuild, Mode::Upsert) => merge(&mut s, Stage::Finish, &into),
        (Path::Nothing | Path::Rebuild | Path::Create, Mode::Insert) if staged => {
            insert(&mut s, Stage::Finish, &into)
        }
        (Path::UpsertByRebuild, _) => {
            let live = shape.live.expect("a rebuild has a live table");
            s.push(
                Stage::Finish,
                sql::copy_live_rows(def, live, shape.intermediate(), true),
                None,
                "reads the live table: its rows whose key the batch doesn't hold",
                Run::Execute,
            );
        }
        _ => {}
    }
    if let Some(partition) = shape.swapped() {
        partition_swap(&mut s, partition);
    }
    if creates && !key_first {
        keys_and_indexes(&mut s, shape.target(), Stage::Finish);
    }
    if let (true, Some(swap)) = (creates && shape.path != Path::Create, shape.swap) {
        for sql in sql::carry(def, shape.target(), &swap.carried) {
            s.push(
                Stage::Finish,
                sql,
                None,
                "owner, privileges and comments as they are at this point (read again)",
                Run::Carry,
            );
        }
    }

    // Swap: the ACCESS EXCLUSIVE lock, held until the caller commits.
    let views = shape.swap.map_or(&[][..], |s| &s.carried.views[..]);
    let swaps = matches!(
        shape.path,
        Path::Rebuild | Path::UpsertByRebuild | Path::Replace
    );
    if swaps || shape.path == Path::InPlace {
        // Views read the table by OID: they are dropped (deepest first) in
        // the same attempt as the lock and made again on the new table.
        let first = if swaps {
            views.iter().rev().map(sql::drop_view).collect()
        } else {
            Vec::new()
        };
        s.push(
            Stage::Swap,
            lock::lock_table(&name, LockMode::AccessExclusive),
            Some(LockMode::AccessExclusive),
            "taken last, in attempts of at most the lock timeout; readers wait until the \
             caller commits",
            Run::SwapLock { first },
        );
    }
    if shape.path == Path::InPlace {
        for change in shape.changes {
            s.push(
                Stage::Swap,
                sql::alteration(def, change),
                Some(LockMode::AccessExclusive),
                "catalog only",
                Run::Execute,
            );
        }
        partitions(&mut s, Stage::Swap);
        match shape.mode {
            Mode::Upsert => merge(&mut s, Stage::Swap, &name),
            _ => insert(&mut s, Stage::Swap, &name),
        }
    }
    if swaps {
        for sql in advance_identities(shape) {
            s.push(
                Stage::Swap,
                sql,
                Some(LockMode::AccessExclusive),
                "again, for ids the live table handed out meanwhile",
                Run::Execute,
            );
        }
        let live = shape.live.expect("a swap has a live table");
        for sql in sql::move_serials(def, live, shape.intermediate()) {
            s.push(
                Stage::Swap,
                sql,
                Some(LockMode::AccessExclusive),
                "a serial's sequence, kept with its position",
                Run::Execute,
            );
        }
        for sql in sql::swap(def, shape.intermediate()) {
            s.push(
                Stage::Swap,
                sql,
                Some(LockMode::AccessExclusive),
                "",
                Run::Execute,
            );
        }
        for view in views {
            for sql in sql::create_view(view) {
                s.push(Stage::Swap, sql, None, "a view made again", Run::Execute);
            }
        }
    }
    s.out
}

/// For each identity column the live table has too (as an identity), the
/// statement that moves the new table's sequence up to the live one's.
fn advance_identities(shape: &Shape<'_>) -> Vec<String> {
    let Some(live) = shape.live else {
        return Vec::new();
    };
    let (from, into) = (
        shape.name(),
        QualifiedName::new(shape.def.schema, shape.intermediate()).to_string(),
    );
    shape
        .def
        .columns
        .iter()
        .filter(|c| {
            matches!(
                c.filled,
                Some(Filled::IdentityAlways | Filled::IdentityByDefault)
            )
        })
        .filter_map(|c| {
            let source = live.source_of(c).filter(|l| l.identity.is_some())?;
            Some(sql::advance_identity(
                (&from, &source.name),
                (&into, c.name),
            ))
        })
        .collect()
}

/// The primary key and indexes of a table the call creates (`table`,
/// unqualified), built over the rows in it. A unique violation names the
/// repeated key; for a table a single-table call loaded directly, also its
/// rows' input positions.
fn keys_and_indexes(s: &mut Steps<'_>, table: &str, stage: Stage) {
    let shape = s.shape;
    let def = shape.def;
    let number = shape.position_column();
    let numbered = sql::numbered(def.schema, table, &number);
    let positions = shape.single_table && !shape.staged();
    let repeated = |key: &[&str]| sql::repeated_key(&numbered, key, &number);
    if let Some(key) = sql::add_primary_key(def, table) {
        let dedupes = matches!(shape.path, Path::UpsertByRebuild | Path::Replace);
        let (run, note) = if dedupes {
            let keep = shape.keep();
            (
                Run::KeyAfterDedupe {
                    dedupe: keep.map(|keep| sql::dedupe_loaded(def, def.primary_key, table, keep)),
                    repeated: repeated(def.primary_key),
                    positions,
                },
                if keep.is_some() {
                    "on the new table only; if a key repeats in the batch, one row of each is \
                     kept and the key built again"
                } else {
                    "on the new table only; a key repeated in the batch fails the call"
                },
            )
        } else {
            (
                Run::Unique {
                    repeated: Some(repeated(def.primary_key)),
                    positions,
                },
                ON_NEW,
            )
        };
        s.push(stage, key, None, note, run);
    }
    for index in def.indexes {
        let [create, comment] = sql::index_statements(def, table, index);
        let run = Run::Unique {
            repeated: index.unique.then(|| repeated(index.columns)),
            positions,
        };
        s.push(stage, create, None, ON_NEW, run);
        s.push(stage, comment, None, ON_NEW, Run::Execute);
    }
}

/// Adds to `plan` (and its fallback) the step that stores the high
/// watermark `value` in the comment of the table readers see once the
/// caller commits: the new table of a swap, after its comments are carried
/// (so the watermark wins over the one carried), else the live table, after
/// the rows. `comment` is the live table's comment as planning read it.
pub(crate) fn with_watermark(plan: &mut Plan, value: &str, comment: Option<&str>) {
    if let Some(fallback) = plan.fallback.as_deref_mut() {
        with_watermark(fallback, value, comment);
    }
    let def = plan.table;
    let (table, comment, stage, lock, note) = match plan.path {
        Path::Rebuild | Path::UpsertByRebuild | Path::Replace => (
            plan.new_table.clone().expect("a swap has a new table"),
            plan.carried.as_ref().and_then(|c| c.comment.as_deref()),
            Stage::Finish,
            None,
            "on the new table, after its comments are carried",
        ),
        Path::Create => (def.table.to_owned(), None, Stage::Finish, None, ""),
        Path::Nothing => (
            def.table.to_owned(),
            comment,
            Stage::Finish,
            Some(LockMode::ShareUpdateExclusive),
            "waits for a VACUUM or ANALYZE of the table; readers and writers go on",
        ),
        Path::InPlace => (
            def.table.to_owned(),
            comment,
            Stage::Swap,
            Some(LockMode::ShareUpdateExclusive),
            "under the lock already held",
        ),
    };
    let sql = sql::comment_on_table(
        &QualifiedName::new(def.schema, &table),
        &crate::watermark::with_watermark(comment, value),
    );
    let at = plan
        .steps
        .iter()
        .position(|s| s.stage > stage)
        .unwrap_or(plan.steps.len());
    let step = Step {
        stage,
        sql,
        lock: lock.map(|mode| Lock::new(mode, def.name().to_string())),
        note: format!(
            "the high watermark in the table's comment (read again), its other members kept{}{note}",
            if note.is_empty() { "" } else { "; " }
        ),
        run: Run::Watermark {
            table,
            value: value.to_owned(),
        },
    };
    plan.steps.insert(at, step);
}
