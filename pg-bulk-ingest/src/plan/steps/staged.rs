//! The steps over the staging table: an upsert's merge (with a mirror's
//! delete or mark after it), and an insert of the staged rows (with a slice
//! replace's check and delete before it).

use super::{Counting, Shape, Staged, Steps};
use crate::conflict::OnConflict;
use crate::ident::QualifiedName;
use crate::lock::LockMode;
use crate::plan::{Mode, Path, Run, Stage};
use crate::sql::{self, Keep};
use crate::sync::Delete;

/// The [`sql::Merge`] of the staged rows into `into` (quoted), or of a
/// range of them (`range`).
pub(super) fn staged_merge<'a>(
    shape: &'a Shape<'_>,
    into: &'a str,
    source: &'a str,
    position: &'a str,
) -> sql::Merge<'a> {
    sql::Merge {
        def: shape.def,
        key: shape.keys.key,
        into,
        source,
        position,
        partitioned: shape.live.is_some_and(|l| l.partitioning.is_some())
            || shape.def.partition.is_some(),
    }
}

/// Before an upsert's load into its staging table, where rows equal to the
/// stored ones need not be staged: the query that reads the stored rows of
/// each run of the batch's keys ([`Run::Compare`]). Only where nothing else
/// needs every row of the batch staged: a table that matches its
/// definition, one table in the call, no mirror, a stored row updated by a
/// differing one ([`OnConflict::Update`]), the last row of a repeated key
/// kept ([`Keep::Last`]: a row left out stays as good as its stored row),
/// and a key of one integer column (its runs are ranges). And only where the
/// merge is a `MERGE` (PostgreSQL 15, with `track_counts`), which neither
/// fires a trigger nor checks a constraint for a row whose values are the
/// same: `INSERT ... ON CONFLICT` runs `BEFORE INSERT` row triggers and the
/// table's checks on every staged row, whose effects a row left out would
/// not have. Not on a partitioned table whose calls share its lock (their
/// per-partition locks come after the load).
pub(super) fn compare(s: &mut Steps<'_>) {
    let shape = s.shape;
    let keys = shape.keys;
    if shape.path != Path::Nothing
        || shape.mode != Mode::Upsert
        || !shape.single_table
        || shape.mirror.is_some()
        || shape.live.is_none()
        || keys.on_conflict != OnConflict::Update
        || shape.keep() != Some(Keep::Last)
        || shape.def.sent_count() == keys.key.len()
        || shape.def.integer_key(keys.key).is_none()
        || shape.session.server_version < 150_000
        || !shape.session.track_counts
        || shape.partition_locks
    {
        return;
    }
    let into = QualifiedName::new(shape.def.schema, shape.target()).to_string();
    let (staging, position) = (shape.staging_qualified(), shape.position_column());
    let merge = staged_merge(shape, &into, &staging, &position);
    let append = appends(shape);
    if append {
        s.push(
            Stage::Load,
            merge.stored_max(),
            Some(LockMode::AccessShare),
            "sent once, first: the greatest stored key; a row whose key is above it is new",
            Run::StoredMax,
        );
    }
    s.push(
        Stage::Load,
        merge.stored_run(),
        Some(LockMode::AccessShare),
        "sent once per run of rows whose keys increase (1,024 rows, then twice as many as \
         the last, up to 8,192; not at all when the first keys come out of order): the \
         stored rows of the run's key range, in key order; the lock is held from the first \
         run on, and no writer waits for it; a row equal to its stored row in every column sent, \
         as PostgreSQL's binary output gives it, is not staged and is counted unchanged; \
         after a run of which fewer than half are equal, or once the keys stop increasing, \
         the rest is staged without comparing; the COPY into the staging table is then \
         sent once per MiB of rows to stage, and once for the rest",
        Run::Compare,
    );
}

/// Whether an upsert that compares rows before staging ([`compare`]) also
/// COPYs the rows whose key is above the greatest stored one straight into
/// the table ([`Run::Append`]): where that COPY does what the `MERGE`'s
/// insert of them would do, and no more (no user trigger, whose statement
/// triggers would fire once per COPY, no rule, no row level security,
/// which refuses a COPY, an immediate key: [`LiveTable::plain_inserts`](crate::catalog::LiveTable)),
/// and not into a partitioned table.
fn appends(shape: &Shape<'_>) -> bool {
    shape
        .live
        .is_some_and(|l| l.plain_inserts && l.partitioning.is_none())
        && shape.def.partition.is_none()
}

/// After the staging COPY of an upsert that compares rows and appends
/// ([`appends`]): the COPY of the rows of new keys straight into the table
/// ([`Run::Append`]), and the count of appended keys a later row repeats
/// ([`Run::AppendRepeats`]).
pub(super) fn append_steps(s: &mut Steps<'_>) {
    let shape = s.shape;
    if !s.out.iter().any(|step| step.run == Run::StoredMax) {
        return;
    }
    let into = QualifiedName::new(shape.def.schema, shape.target()).to_string();
    let (staging, position) = (shape.staging_qualified(), shape.position_column());
    s.push(
        Stage::Load,
        sql::copy_in(shape.def, &into, None, false),
        Some(LockMode::RowExclusive),
        "the first rows of keys above the greatest stored one (of the 8,388,608 keys above \
         it; on an empty table, from the first row's key on), in any order of the batch: \
         sent once 1 MiB of such rows is waiting, then twice as much as the last time, up to \
         2 MiB (or 65,536 runs of input positions), and once for the rest, at most 32 times \
         (later rows are staged); each in a savepoint, between the COPYs into the staging \
         table (the one under way ends, and another starts after it); not at all when there \
         is no such row. Later rows of such a key are staged and win. The rows go straight \
         into the table, as the merge would insert them; when a row fails a COPY (a key \
         another session stored meanwhile, a check or a foreign key that only an earlier \
         row of a key fails), its savepoint is rolled back, and its rows and the rest are \
         staged",
        Run::Append,
    );
    s.push(
        Stage::Load,
        staged_merge(shape, &into, &staging, &position).appended_repeats(),
        Some(LockMode::AccessShare),
        "sent only when a later row repeated a key appended straight into the table (it was \
         staged, and the merge takes it), with those keys as a bitmap: how many of them, and \
         how many of their last rows equal the appended one, so that the report counts each \
         such key once as inserted and its other rows as duplicates",
        Run::AppendRepeats,
    );
}

/// The lock a statement on `into` takes on the live table: none on a new
/// table, `ROW EXCLUSIVE` on the live one, or, in the swap stage (in place),
/// the `ACCESS EXCLUSIVE` already held.
fn table_lock(shape: &Shape<'_>, stage: Stage, into: &str) -> Option<LockMode> {
    (into == shape.name()).then_some(if stage == Stage::Swap {
        LockMode::AccessExclusive
    } else {
        LockMode::RowExclusive
    })
}

/// The upsert's merge of the staging table into `into` (quoted), and the
/// staging table's drop.
pub(super) fn merge(s: &mut Steps<'_>, stage: Stage, into: &str) {
    let shape = s.shape;
    let (staging, position) = (shape.staging_qualified(), shape.position_column());
    let range = sql::staged_range(&staging, &position);
    let all = staged_merge(shape, into, &staging, &position);
    let some = staged_merge(shape, into, &range, &position);
    let keys = shape.keys;
    let keep = shape.keep();
    // `ON CONFLICT DO NOTHING` lets a key repeat in the batch without a word:
    // the batch is de-duplicated first, or checked.
    let nothing = keys.on_conflict == OnConflict::Skip
        || (keys.on_conflict == OnConflict::Update && shape.def.sent_count() == keys.key.len());
    let repeated = sql::repeated_key(&staging, keys.key, &position);
    let check = sql::has_repeats(&staging, keys.key);
    let (sql, staged, note) = if nothing {
        let (check_first, note) = match keep {
            Some(_) => (None, "one row of each key, in the batch sorted by key; rows whose key is stored are skipped"),
            None => (Some(check), "after a check that no key repeats in the batch; rows whose key is stored are skipped"),
        };
        (
            all.upsert(keys.on_conflict, keep),
            Staged {
                counting: Counting::Returning,
                instead: None,
                unordered: None,
                check_first,
                dedupe: None,
                repeated: Some(repeated),
                stored: None,
                locate: Some(some.upsert(keys.on_conflict, keep)),
            },
            note,
        )
    } else {
        // `DO UPDATE ... WHERE` (rows whose values are the same are not
        // rewritten) does not always see a repeated key: PostgreSQL fails a
        // command that affects a row twice, and a row whose first repeat
        // changed nothing was not affected. Keeping the last row of each key
        // comes out right all the same (each later row updates the row);
        // every other choice checks first. A plain `INSERT` (`Error`) fails
        // on any repeat.
        //
        // A `MERGE` compares each row with the stored row as the statement's
        // snapshot has it: of a repeated key whose last row equals the stored
        // one, an earlier different row would win. It always checks first.
        let session = shape.session;
        let merge = (session.server_version >= 150_000)
            .then(|| all.merge_command())
            .flatten()
            .filter(|_| keys.on_conflict == OnConflict::Update && session.track_counts);
        let check_first = (keys.on_conflict == OnConflict::Update
            && (keep != Some(Keep::Last) || merge.is_some()))
        .then_some(check);
        let note = match (keys.on_conflict, keep) {
            (OnConflict::Update, Some(Keep::Last)) if merge.is_some() => "after a check whether a key repeats in the batch, unless its keys came in increasing order (if one repeats, the merge keeps the last row of each key; if they came out of order, the merge reads the staged rows sorted by key); rows whose stored values are the same are neither rewritten nor locked",
            (OnConflict::Update, Some(Keep::Last)) => "rows whose stored values are the same are not rewritten; if a key repeats in the batch, the merge runs again keeping the last row of each key",
            (OnConflict::Update, Some(_)) => "after a check that no key repeats in the batch (else the merge keeps the first row of each key); rows whose stored values are the same are not rewritten",
            (OnConflict::Update, None) => "after a check that no key repeats in the batch; rows whose stored values are the same are not rewritten",
            (_, Some(_)) => "a stored key fails the call; if a key repeats in the batch, the insert runs again keeping one row of each key",
            (_, None) => "a stored key, or a key repeated in the batch, fails the call",
        };
        // With the transaction's row counters, the counts cost no
        // `RETURNING`; from PostgreSQL 15 the update is a `MERGE`, which
        // leaves the rows whose values are the same unlocked.
        let plain = all.on_conflict(keys.on_conflict, None);
        let settings = Some([session.hash_join, session.merge_join, session.jit]);
        let sorted = sql::sorted_by(&staging, keys.key);
        let by_key = staged_merge(shape, into, &sorted, &position);
        // The sort of the staged rows gets the memory to stay off disk.
        let sorting = Some(sql::WorkMem {
            during: session.work_mem_kb.max(sql::SORT_WORK_MEM_KB),
            before: session.work_mem_kb,
        })
        .filter(|w| w.before > 0 && w.during != w.before);
        let (sql, counting, instead, unordered) = match (session.track_counts, merge) {
            (true, Some(merge)) => (
                all.counted(&merge, settings, None),
                Counting::Statistics,
                Some(all.counted(&plain, settings, None)),
                by_key
                    .merge_command()
                    .map(|merge| all.counted(&merge, settings, sorting)),
            ),
            (true, None) => (
                all.counted(&plain, settings, None),
                Counting::Statistics,
                None,
                None,
            ),
            (false, _) => (
                all.upsert(keys.on_conflict, None),
                Counting::Returning,
                None,
                None,
            ),
        };
        (
            sql,
            Staged {
                counting,
                instead,
                unordered,
                check_first,
                dedupe: keep.map(|keep| all.upsert(keys.on_conflict, Some(keep))),
                repeated: Some(repeated),
                stored: (keys.on_conflict == OnConflict::Error)
                    .then(|| sql::stored_key(&staging, keys.key, &position, into)),
                locate: Some(some.upsert(keys.on_conflict, keep)),
            },
            note,
        )
    };
    let lock = table_lock(shape, stage, into);
    if let (Some(mirror), Path::InPlace) = (shape.mirror, shape.path) {
        s.push(
            stage,
            sql::snapshot_keys(shape.def, keys.key, into, &mirror.delete),
            None,
            "the rows the table holds: all the mirror may delete or mark",
            Run::Execute,
        );
    }
    s.push(stage, sql, lock, note, Run::Staged(Box::new(staged)));
    if let (Some(mirror), false) = (shape.mirror, shape.path == Path::Create) {
        let limit = mirror.guard_ppm.map_or_else(
            || "no limit".to_owned(),
            |ppm| format!("at most {} % of them", f64::from(ppm) / 10_000.0),
        );
        s.push(
            stage,
            sql::mirror_count(shape.def, keys.key, &staging),
            None,
            &format!("the guard: how many stored keys the batch lacks ({limit})"),
            Run::MirrorGuard {
                limit_ppm: mirror.guard_ppm,
            },
        );
        let note = match &mirror.delete {
            Delete::Rows => "the stored rows whose key the batch lacks",
            Delete::Mark(_) => "marks the stored rows whose key the batch lacks",
        };
        s.push(
            stage,
            sql::mirror_delete(shape.def, keys.key, into, &staging, &mirror.delete),
            lock,
            note,
            Run::Deletes { params: false },
        );
        s.new_table(stage, sql::drop_table(&sql::mirror_snapshot(shape.def)), "");
    }
    s.new_table(stage, sql::drop_table(&staging), "");
}

/// An `insert`'s staged rows into `into` (quoted) in input order, one row of
/// each key or checked for repeated keys, and the staging table's drop.
pub(super) fn insert(s: &mut Steps<'_>, stage: Stage, into: &str) {
    let shape = s.shape;
    let (staging, position) = (shape.staging_qualified(), shape.position_column());
    let range = sql::staged_range(&staging, &position);
    let keyed = !shape.keys.key.is_empty();
    let keep = shape.keep();
    let note = match keep {
        Some(_) if keyed => "one row of each key, in input order; a stored key fails the call",
        _ => "in input order",
    };
    // A partition swap loads the fresh partition, which holds no row yet.
    let swapped = shape
        .swapped()
        .map(|p| QualifiedName::new(shape.def.schema, &p.fresh).to_string());
    let into = swapped.as_deref().unwrap_or(into);
    let all = staged_merge(shape, into, &staging, &position);
    let some = staged_merge(shape, into, &range, &position);
    let lock = table_lock(shape, stage, into);
    if let Some(slice) = shape.slice {
        s.push(
            stage,
            sql::slice_outside(slice, &staging, &position),
            None,
            "the first row outside the slice fails the call (the slice's values are parameters)",
            Run::SliceCheck {
                columns: slice.conditions.iter().map(|(c, _)| c.clone()).collect(),
            },
        );
        if swapped.is_none() {
            let note = "the slice's stored rows (the slice's values are parameters)";
            let note = match shape.not_swapped() {
                Some(why) => format!("{note}; {why}"),
                None => note.to_owned(),
            };
            s.push(
                stage,
                sql::slice_delete(slice, into),
                lock,
                &note,
                Run::Deletes { params: true },
            );
        }
    }
    s.push(
        stage,
        all.insert(keep, true),
        lock,
        note,
        Run::Staged(Box::new(Staged {
            counting: Counting::RowCount,
            instead: None,
            unordered: None,
            // The fresh partition gets its key after its rows: a repeated
            // key is found first.
            check_first: (keyed && keep.is_none() && swapped.is_some())
                .then(|| sql::has_repeats(&staging, shape.keys.key)),
            dedupe: None,
            repeated: (keyed && keep.is_none())
                .then(|| sql::repeated_key(&staging, shape.keys.key, &position)),
            stored: (keyed && swapped.is_none())
                .then(|| sql::stored_key(&staging, shape.keys.key, &position, into)),
            locate: Some(some.insert(keep, true)),
        })),
    );
    s.new_table(stage, sql::drop_table(&staging), "");
}
