//! The decision: from a table's definition, what the catalog says about it
//! and the call's options, the path the call takes and its steps. Pure: every
//! catalog read it needs comes in [`Gathered`]; it reads and changes nothing.
//! Every choice lives here: the path, the refusals, the upsert strategy, the
//! isolation a rebuild needs, the objects a swap would lose.

use std::time::Duration;

use super::steps::{self, Shape};
use super::{Mode, Path, Plan, Step};
use crate::catalog::{Basis, DependentView, Facts, Gathered, LiveTable, Relation, SwapFacts};
use crate::conflict::OnConflict;
use crate::diff::{same_type, Change, Refusal};
use crate::table::TableDef;

/// How [`upsert`](crate::upsert) brings the rows into a table that exists.
///
/// Both ways are atomic with the caller's transaction and give the same rows
/// in the end (the last row of each key in the input wins), with one
/// difference: where a key in the input equals a stored one without being
/// byte for byte the same (`1.0` and `1.00` as `numeric`), the merge keeps
/// the stored key and the rebuild stores the input's. They differ in speed
/// and in locking.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum UpsertStrategy {
    /// Rebuild when the batch is large against the table and the rebuild
    /// gives the same table back, merge otherwise. It rebuilds when all of
    /// these hold:
    ///
    /// - the input's length is known in advance (its iterator's `size_hint`,
    ///   which slices, `Vec`s and most adapters of them give), at least
    ///   100,000 rows (below that the time saved is too small to be worth a
    ///   swap) and at least half the table's estimated row count
    ///   (`reltuples`, kept by `VACUUM`, `ANALYZE` and index builds; a table
    ///   without an estimate is merged into);
    /// - the call loads one table, is not [`in_place`](crate::Ingest::in_place), and
    ///   runs in a `READ COMMITTED` transaction without open cursors;
    /// - the table has nothing a rebuild doesn't carry (see
    ///   [`Rebuild`](UpsertStrategy::Rebuild)), no dependent views, and its
    ///   columns in the definition's order;
    /// - the role may create the new table as the owner's (member of the
    ///   owner role, `CREATE` on the schema);
    /// - the `EXCLUSIVE` lock can be had within 2 seconds (or the call's
    ///   [`lock_timeout`](crate::Ingest::lock_timeout), when shorter): while another
    ///   session is writing to the table, it merges (during those seconds new
    ///   writers queue behind the request). The plan's
    ///   [`fallback`](crate::Plan::fallback) is that merge.
    ///
    /// The lock, once taken, is held until the caller commits: writers wait
    /// for the whole call.
    #[default]
    Auto,
    /// Rows go into a temporary staging table, then `INSERT ... ON CONFLICT
    /// (key) DO UPDATE` merges them into the table; rows whose values are
    /// already the same are not rewritten. The table is locked only in `ROW
    /// EXCLUSIVE` mode: other writers go on. The cost grows with the batch,
    /// not with the table. A table that needs a migration is still
    /// rebuilt, with the live rows copied first and the batch merged into
    /// them.
    Merge,
    /// The table is locked `EXCLUSIVE` first (writers wait until the
    /// caller commits; readers go on). Rows go into a new table; the live
    /// rows whose key the batch doesn't hold are copied after them; the key
    /// and indexes are built and the new table is swapped in, as for a
    /// migration: the swap takes a short `ACCESS EXCLUSIVE` lock, with the
    /// same attempts and
    /// [`terminate_blockers_after`](crate::Ingest::terminate_blockers_after) as other
    /// swaps. The cost grows with the table: about twice as fast as the merge
    /// when the batch is as large as the table. The table's owner,
    /// privileges, comments, settings (storage parameters, a replica identity
    /// `FULL` or `NOTHING`, row level security and policies, column settings), indexes and
    /// dependent views are carried; a table
    /// with anything else hanging off it (foreign keys into it, triggers,
    /// other people's indexes, identity or generated columns the
    /// definition doesn't declare, forced row level security, publications, ...)
    /// fails the call with [`Error::Dependents`](crate::Error::Dependents),
    /// before any row is loaded. It applies only to the default choices on
    /// the primary key: with [`OnConflict::Skip`](crate::OnConflict) or
    /// `Error`, another [`ConflictKey`](crate::ConflictKey), columns the
    /// database fills ([`Generated`](crate::Generated): a rebuild would fill
    /// them again for stored keys) or a [`mirror`](crate::Ingest::mirror),
    /// the call fails with [`Error::Options`](crate::Error::Options) (`Auto`
    /// merges). The new table has no planner statistics until it is analyzed
    /// (autovacuum does it soon; `ANALYZE` after the commit does it at once).
    /// A rebuild needs a `READ COMMITTED` transaction (in `REPEATABLE READ`
    /// rows other sessions commit after the transaction's snapshot would be
    /// lost; the call fails with
    /// [`Error::Unsupported`](crate::Error::Unsupported)), as migrations that
    /// rebuild do.
    Rebuild,
}

/// A table counts as large for [`UpsertStrategy::Auto`] from this share of the
/// table's estimated rows. Measured on the benchmark's table (1M rows into 1M,
/// half of them new), the rebuild took 3.7–4.5 s against the merge's 9.7 s;
/// at a tenth of the table the merge is faster.
const AUTO_REBUILD_SHARE: f64 = 0.5;

/// How long [`UpsertStrategy::Auto`] waits for the lock of a rebuild before
/// it merges instead. Longer than `deadlock_timeout` (1 s by default), after
/// which an autovacuum in the way is cancelled.
const AUTO_LOCK_WAIT: Duration = Duration::from_secs(2);

/// The smallest batch [`UpsertStrategy::Auto`] rebuilds for.
pub(crate) const AUTO_REBUILD_MIN_ROWS: u64 = 100_000;

/// What the call is, beyond its options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Input {
    pub mode: Mode,
    /// Lower bound of the input's length (0 when unknown).
    pub rows_hint: u64,
    /// Whether the call loads only this table.
    pub single_table: bool,
    /// Whether the call may share the table's advisory lock (see
    /// [`shares_lock`](partitioned::shares_lock)): it then takes it shared
    /// before it plans, and keeps it when the plan changes nothing in the
    /// table; else it lets go of it and takes it exclusively.
    pub shared: bool,
    /// The call let go of the shared lock and holds the exclusive one.
    pub escalated: bool,
}

/// Why a call can't go ahead; the caller turns it into an
/// [`Error`](crate::Error) naming the table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The table can't be made to match its definition, or not without losing
    /// data.
    Changes(Vec<Refusal>),
    /// A swap would lose what hangs off the table.
    Dependents(Vec<String>),
    /// The call can't be done this way.
    Unsupported(&'static str),
    /// The call's options don't fit the table.
    Options(String),
}

/// Whether the call needs what a swap relies on ([`SwapFacts`]), judged
/// before it is read: `replace`, a change the call can't make in place, or an
/// upsert that may rebuild.
pub(crate) fn may_swap(
    def: &TableDef,
    changes: &[Change],
    facts: &Facts,
    options: &Options,
    input: &Input,
) -> bool {
    let rebuilds = !changes.is_empty() && !in_place(def, changes, facts, options);
    let upsert_may_rebuild = input.mode == Mode::Upsert
        && match options.strategy {
            UpsertStrategy::Merge => false,
            UpsertStrategy::Rebuild => true,
            UpsertStrategy::Auto => {
                input.single_table && !options.in_place && input.rows_hint >= AUTO_REBUILD_MIN_ROWS
            }
        };
    input.mode == Mode::Replace || rebuilds || upsert_may_rebuild
}

/// Plans the call for table `def`. `changes` is the comparison of `def` with
/// the live table (empty when there is none, and for `replace`); `prelude`
/// the steps taken before the catalog was read.
pub(crate) fn decide(
    def: &'static TableDef,
    gathered: &Gathered,
    changes: &[Change],
    options: &Options,
    input: &Input,
    prelude: Vec<Step>,
) -> Result<Plan, Refused> {
    let keys = options.keys(def, input.mode).map_err(Refused::Options)?;
    let mut shape = Shape {
        def,
        mode: input.mode,
        path: Path::Create,
        create_schema: !gathered.schema_exists,
        live: None,
        changes,
        swap: None,
        freeze: gathered.session.read_committed && !gathered.session.open_cursors,
        lock_wait: None,
        single_table: input.single_table,
        keys,
        mirror: options.mirror.as_ref(),
        slice: options.slice.as_ref(),
        swap_partition: options.swap_partition,
        slice_partition: gathered.slice_partition.as_ref(),
        hook: options.on_new_table,
        session: gathered.session,
        partition_locks: false,
        probed: input.shared && partitioned::shares_lock(def, options, input.mode),
    };
    partitioned::refuse_replace(def, &gathered.live, input.mode)?;
    let live = match &gathered.live {
        Relation::Missing => return Ok(plan(shape, prelude, None, None)),
        Relation::Other(relkind) => {
            return Err(Refused::Changes(vec![Refusal::NotATable {
                relkind: *relkind,
            }]))
        }
        Relation::Table(live) => live,
    };
    // A partitioned table is never rebuilt: what can be made in place is.
    let (partitioned, options) = partitioned::check(def, live, options)?;
    let options = &*options;
    shape.live = Some(live);
    shape.swap = gathered.swap.as_ref();
    shape.path = if input.mode == Mode::Replace {
        Path::Replace
    } else {
        refuse(def, changes, gathered.facts.has_rows, options)?;
        if changes.is_empty() {
            Path::Nothing
        } else if in_place(def, changes, &gathered.facts, options) {
            Path::InPlace
        } else {
            Path::Rebuild
        }
    };
    partitioned::refuse_rebuild(partitioned, shape.path, changes)?;
    let mut fallback = None;
    // A rebuild replaces stored rows by the batch's: an upsert that never
    // rewrites them (`Skip`, `Error`), or matches on another key than the
    // primary one, merges.
    // Nor where the database fills columns: a rebuild would fill them again
    // for the batch's rows (a new identity value, a new default), where the
    // merge keeps the stored ones.
    // A mirror never swaps: other jobs write to the table it keeps in sync.
    let rebuilds_upsert = keys.primary
        && keys.on_conflict == OnConflict::Update
        && def.sent_count() == def.columns.len()
        && options.mirror.is_none()
        && !partitioned;
    if input.mode == Mode::Upsert
        && shape.path == Path::Nothing
        && options.strategy == UpsertStrategy::Rebuild
        && !rebuilds_upsert
    {
        return Err(Refused::Options(
            "UpsertStrategy::Rebuild replaces stored rows by the batch's on the primary key; \
             with OnConflict::Skip or OnConflict::Error, another conflict key, columns the \
             database fills (a rebuild would fill them again), a mirror or a partitioned table, \
             the upsert merges \
             (UpsertStrategy::Merge or Auto)"
                .to_owned(),
        ));
    }
    if input.mode == Mode::Upsert && rebuilds_upsert && same_key(def, live) {
        match (shape.path, options.strategy) {
            // Merged into the rebuilt table.
            (Path::Rebuild, UpsertStrategy::Merge) => {}
            (Path::Rebuild, _) | (Path::Nothing, UpsertStrategy::Rebuild) => {
                shape.path = Path::UpsertByRebuild;
            }
            (Path::Nothing, UpsertStrategy::Auto)
                if auto_rebuilds(def, gathered, options, input) =>
            {
                fallback = Some(Box::new(plan(
                    shape.clone(),
                    prelude.clone(),
                    Some(live.oid),
                    None,
                )));
                shape.path = Path::UpsertByRebuild;
                shape.lock_wait = Some(
                    options
                        .lock_timeout
                        .map_or(AUTO_LOCK_WAIT, |t| t.min(AUTO_LOCK_WAIT)),
                );
            }
            _ => {}
        }
    }
    if matches!(shape.path, Path::Rebuild | Path::UpsertByRebuild)
        && !gathered.session.read_committed
    {
        // The live rows are read with the transaction's snapshot: rows other
        // sessions commit after it and before the lock would be left behind
        // in the old table, and dropped with it.
        return Err(Refused::Unsupported(
            "rebuilding the table (copying its rows into a new one) in a REPEATABLE READ \
             or SERIALIZABLE transaction, where rows other sessions commit after the \
             transaction's snapshot would be lost; run the call in READ COMMITTED",
        ));
    }
    if shape.path == Path::InPlace {
        let broken = broken_views(def, live, changes, shape.path, &gathered.views);
        if !broken.is_empty() {
            return Err(Refused::Dependents(broken));
        }
    }
    let swaps = matches!(
        shape.path,
        Path::Rebuild | Path::UpsertByRebuild | Path::Replace
    );
    let basis = if swaps {
        let swap = gathered
            .swap
            .as_ref()
            .expect("what a swap relies on is read whenever a call may swap");
        // A swap drops the old table: whatever depends on it, and settings
        // the new one isn't given, would go too.
        let mut lost = blocking(def, live, swap);
        lost.extend(swap.settings.uncarried.iter().cloned());
        lost.extend(unfilled(def, live));
        lost.extend(broken_views(
            def,
            live,
            changes,
            shape.path,
            &gathered.views,
        ));
        if !lost.is_empty() {
            return Err(Refused::Dependents(lost));
        }
        let facts = (shape.path != Path::Replace).then_some(&gathered.facts);
        Some(Basis::of(live, swap, facts))
    } else {
        None
    };
    shape.partition_locks = input.shared
        && !input.escalated
        && shape.path == Path::Nothing
        && partitioned::shares_lock(def, options, input.mode);
    let mut plan = plan(shape, prelude, Some(live.oid), basis);
    plan.fallback = fallback;
    Ok(plan)
}

/// Whether the changes are made in place: asked for, and every one
/// catalog-only, also as PostgreSQL makes it (see
/// [`read_rewrites`](crate::catalog::read_rewrites)).
///
/// An added identity or generated column is never catalog-only: PostgreSQL
/// fills it in every stored row, rewriting the table.
fn in_place(def: &TableDef, changes: &[Change], facts: &Facts, options: &Options) -> bool {
    options.in_place
        && changes.iter().all(|change| {
            change.is_catalog_only()
                && match change {
                    Change::AddColumn { column } => {
                        !facts.rewrites.contains(column)
                            && def.column(column).is_some_and(|c| {
                                matches!(c.filled, None | Some(crate::table::Filled::Default))
                            })
                    }
                    Change::AlterType { column, .. } => !facts.rewrites.contains(column),
                    _ => true,
                }
        })
}

fn plan(shape: Shape<'_>, prelude: Vec<Step>, oid: Option<u32>, basis: Option<Basis>) -> Plan {
    let mut steps = prelude;
    let exclusive = crate::lock::advisory_table(shape.def);
    if let Some(at) = steps.iter().position(|s| s.sql == exclusive) {
        if shape.partition_locks {
            steps[at] = steps::advisory_shared(shape.def, false);
        } else if shape.probed {
            steps.insert(at, steps::advisory_shared(shape.def, true));
        }
    }
    steps.extend(steps::build(&shape));
    let (copy_relname, position_column) = steps::copy_target(&shape);
    Plan {
        table: shape.def,
        mode: shape.mode,
        path: shape.path,
        changes: match shape.path {
            Path::Rebuild | Path::InPlace | Path::UpsertByRebuild => shape.changes.to_vec(),
            _ => Vec::new(),
        },
        steps,
        fallback: None,
        oid,
        carried: match shape.path {
            Path::Rebuild | Path::UpsertByRebuild | Path::Replace => {
                shape.swap.map(|s| s.carried.clone())
            }
            _ => None,
        },
        basis,
        copy_relname,
        position_column,
        new_table: match shape.path {
            Path::Rebuild | Path::UpsertByRebuild | Path::Replace => {
                shape.swap.map(|s| s.intermediate.clone())
            }
            _ => None,
        },
        keys: shape.keys,
    }
}

/// The refusals of a migration: a new `NOT NULL` column without a default on
/// a table with rows, `NOT NULL` on a column holding NULLs, and data loss
/// unless allowed.
fn refuse(
    def: &TableDef,
    changes: &[Change],
    has_rows: bool,
    options: &Options,
) -> Result<(), Refused> {
    let mut refusals = Vec::new();
    for change in changes {
        match change {
            Change::AddColumn { column } => {
                let declared = def.column(column).expect("declared column");
                if !declared.nullable && declared.default.is_none() && has_rows {
                    refusals.push(Refusal::NotNullWithoutDefault {
                        column: column.clone(),
                    });
                }
            }
            Change::SetNotNull {
                column,
                has_nulls: true,
            } => refusals.push(Refusal::NullsInNotNull {
                column: column.clone(),
            }),
            Change::Fill { column, from, to } => refusals.push(Refusal::Fill {
                column: column.clone(),
                what: format!("filled by {to} instead of {from}"),
            }),
            _ => {}
        }
        if let Some(what) = change.loss() {
            if !options.allow_data_loss && has_rows {
                refusals.push(Refusal::DataLoss { what });
            }
        }
    }
    if refusals.is_empty() {
        Ok(())
    } else {
        Err(Refused::Changes(refusals))
    }
}

/// Whether the live table's primary key is the definition's, with the same
/// column types, so that live rows can't collide with each other in the new
/// key: what an upsert by rebuild needs.
fn same_key(def: &TableDef, live: &LiveTable) -> bool {
    !def.primary_key.is_empty()
        && def.primary_key.len() == live.primary_key.len()
        && def
            .primary_key
            .iter()
            .zip(&live.primary_key)
            .all(|(&key, live_key)| {
                let column = def.column(key).expect("key columns are declared");
                live.source_of(column).is_some_and(|source| {
                    &source.name == live_key && same_type(source, &column.sql_type)
                })
            })
}

/// Whether [`UpsertStrategy::Auto`] rebuilds a table that matches: the batch
/// is large against it, and a rebuild gives the same table back (nothing it
/// can't carry, no dependent views, the columns in the definition's order),
/// the role can make the new table, and the transaction allows it. The lock
/// is tried by the plan's first step.
fn auto_rebuilds(def: &TableDef, gathered: &Gathered, options: &Options, input: &Input) -> bool {
    let name = def.name();
    let (Relation::Table(live), Some(swap)) = (&gathered.live, &gathered.swap) else {
        return false;
    };
    let why_not = if !input.single_table || options.in_place {
        Some("a call of several tables, or in place".to_owned())
    } else if !gathered.session.read_committed {
        Some("not READ COMMITTED".to_owned())
    } else if input.rows_hint < AUTO_REBUILD_MIN_ROWS {
        Some(format!("{} rows expected", input.rows_hint))
    } else if !swap
        .settings
        .estimated_rows
        .is_some_and(|estimate| input.rows_hint as f64 >= estimate * AUTO_REBUILD_SHARE)
    {
        Some(format!(
            "{} rows expected, about {:?} in the table",
            input.rows_hint, swap.settings.estimated_rows
        ))
    } else if !swap.settings.uncarried.is_empty() {
        Some(format!("not carried: {:?}", swap.settings.uncarried))
    } else if let lost @ [_, ..] = &blocking(def, live, swap)[..] {
        Some(format!("not carried: {lost:?}"))
    } else if !live
        .columns
        .iter()
        .map(|c| c.name.as_str())
        .eq(def.columns.iter().map(|c| c.name))
    {
        Some("the table's columns are in another order".to_owned())
    } else if !swap.carried.views.is_empty() {
        Some("views depend on the table".to_owned())
    } else if !swap.may_create_as_owner {
        Some("the role can't make the new table as the owner's".to_owned())
    } else if gathered.session.open_cursors {
        Some("the transaction has open cursors".to_owned())
    } else {
        None
    };
    if let Some(reason) = &why_not {
        log::debug!("{name}: merging: {reason}");
    }
    why_not.is_none()
}

/// The live identity and generated columns a swap would make plain: those
/// the definition declares without filling them the same way (a migration
/// refuses them as a [`Change::Fill`]; a `replace` would lose them).
fn unfilled(def: &TableDef, live: &LiveTable) -> Vec<String> {
    def.columns
        .iter()
        .filter_map(|c| {
            let l = live.source_of(c)?;
            let same = match c.filled {
                Some(crate::table::Filled::IdentityAlways) => l.identity == Some('a'),
                Some(crate::table::Filled::IdentityByDefault) => l.identity == Some('d'),
                Some(crate::table::Filled::Generated(_)) => l.generated,
                Some(crate::table::Filled::Default) | None => l.identity.is_none() && !l.generated,
            };
            (!same).then(|| {
                format!(
                    "column {}: an identity or generated column the definition declares otherwise",
                    crate::ident::Ident(&l.name)
                )
            })
        })
        .collect()
}

/// What hangs off the live table that a swap would drop and can't make
/// again, described. Indexes (and unique constraints) the definition declares
/// or the library made are rebuilt (or dropped on purpose), views are made
/// again, and a serial's sequence is moved to the new table (or goes with
/// the column, or with the default, the definition no longer has); anything
/// else would be lost. Policies are made again, but not one that reads a
/// column the new table lacks (by name) or types otherwise, nor one whose
/// expressions name the table itself.
fn blocking(def: &TableDef, live: &LiveTable, swap: &SwapFacts) -> Vec<String> {
    let own_indexes: Vec<&str> = live
        .indexes
        .iter()
        .filter(|i| i.ours || def.indexes.iter().any(|d| i.is(d)))
        .map(|i| i.name.as_str())
        .collect();
    swap.dependents
        .iter()
        .filter(|d| !d.view && !d.index.as_deref().is_some_and(|i| own_indexes.contains(&i)))
        .filter(|d| {
            !d.sequence
                .as_ref()
                .is_some_and(|s| live.columns.iter().any(|c| c.serial.as_ref() == Some(s)))
        })
        .map(|d| d.description.clone())
        .chain(swap.settings.kept.policies.iter().filter_map(|p| {
            // Made again from its expressions, which name columns, by name
            // and as they are typed now.
            if p.names_its_table {
                return Some(format!(
                    "policy {} (its expressions name the table itself)",
                    p.name
                ));
            }
            let missing: Vec<&str> = (p.reads.iter())
                .filter(|r| {
                    !def.columns.iter().any(|c| {
                        c.name == r.as_str()
                            && live
                                .columns
                                .iter()
                                .any(|l| l.name == c.name && same_type(l, &c.sql_type))
                    })
                })
                .map(String::as_str)
                .collect();
            (!missing.is_empty()).then(|| {
                format!(
                    "policy {} (reads {}, which the new table lacks or types otherwise)",
                    p.name,
                    missing.join(", ")
                )
            })
        }))
        .collect()
}

mod options;
mod partitioned;

pub(crate) use options::{Keys, Options};
pub(crate) use partitioned::shares_lock;
#[cfg(test)]
mod tests;

/// The views the call could not keep, described: a swap makes views again
/// from their definitions, which fails for a view that reads a column the new
/// table lacks under its name (dropped or renamed by a rebuild, not in
/// `replace`'s definition); in place, PostgreSQL refuses to drop or retype a
/// column a view reads (a rename, views follow). Found before any work, so
/// that a call never loads a batch only to fail at its last step.
fn broken_views(
    def: &TableDef,
    live: &LiveTable,
    changes: &[Change],
    path: Path,
    views: &[DependentView],
) -> Vec<String> {
    let how = if path == Path::InPlace {
        "in place"
    } else {
        "the rebuild"
    };
    // The live column, and what the call does to it.
    let mut gone: Vec<(&str, String)> = Vec::new();
    if path == Path::Replace {
        for column in &live.columns {
            if def.column(&column.name).is_none() {
                gone.push((&column.name, "the new table lacks it".to_owned()));
            }
        }
    }
    for change in changes {
        match change {
            Change::DropColumn { column, .. } => gone.push((column, format!("{how} drops it"))),
            Change::RenameColumn { from, to } if path != Path::InPlace => gone.push((
                from,
                format!("the rebuild renames it to {}", crate::ident::Ident(to)),
            )),
            Change::AlterType { column, to, .. } if path == Path::InPlace => {
                let declared = def.column(column).expect("declared column");
                if let Some(source) = live.source_of(declared) {
                    gone.push((&source.name, format!("in place makes it {to}")));
                }
            }
            _ => {}
        }
    }
    let remedy = if path == Path::InPlace {
        "rebuild instead (without in_place), or drop the view and make it again after the call"
    } else {
        "make the change in place, or drop the view and make it again after the call"
    };
    let mut out = Vec::new();
    for view in views {
        for (column, what) in &gone {
            if view.reads.iter().any(|r| r == column) {
                out.push(format!(
                    "view {} reads column {}, and {what} ({remedy})",
                    crate::ident::QualifiedName::new(&view.schema, &view.name),
                    crate::ident::Ident(column)
                ));
            }
        }
    }
    out
}
