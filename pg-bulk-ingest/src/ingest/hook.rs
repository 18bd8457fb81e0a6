//! The `on_new_table` hook: the caller's code, run on each table a call
//! creates, right after it is created and before any row goes in, in a
//! savepoint of the call's transaction.

use postgres::Transaction;

use super::batches::BoxError;
use super::Ingest;
use crate::error::{Error, OnTable, Result};
use crate::ident::QualifiedName;
use crate::plan::NewTableKind;
use crate::table::TableDef;

/// The hook, as the executor calls it.
pub(crate) type NewTableHook<'p> =
    dyn FnMut(&mut Transaction<'_>, &NewTable<'_>) -> Result<(), BoxError> + 'p;

/// A table a call has just created, as the
/// [`on_new_table`](Ingest::on_new_table) hook is told.
#[derive(Clone, Copy, Debug)]
pub struct NewTable<'a> {
    def: &'static TableDef,
    name: &'a str,
    kind: NewTableKind,
}

impl<'a> NewTable<'a> {
    pub(crate) fn new(def: &'static TableDef, name: &'a str, kind: NewTableKind) -> Self {
        NewTable { def, name, kind }
    }

    /// What the table is for: the table the call loads, created
    /// ([`NewTableKind::Created`]); a new table swapped in under the live
    /// table's name at the end of the call ([`NewTableKind::Intermediate`]);
    /// or a temporary staging table ([`NewTableKind::Staging`]).
    pub fn kind(&self) -> NewTableKind {
        self.kind
    }

    /// The table's schema, not quoted: the definition's, or `pg_temp` for
    /// a staging table.
    pub fn schema(&self) -> &str {
        match self.kind {
            NewTableKind::Staging => "pg_temp",
            _ => self.def.schema,
        }
    }

    /// The table's name now, not quoted (an intermediate table's is
    /// `<table>_pgbi_new`, or with a number when that is taken).
    pub fn name(&self) -> &'a str {
        self.name
    }

    /// The table's name now, schema-qualified; its `Display` quotes it, ready
    /// to paste into a statement: `"public"."events_pgbi_new"`.
    pub fn qualified(&self) -> QualifiedName<'_> {
        QualifiedName::new(self.schema(), self.name)
    }

    /// The table the call loads, schema-qualified (quoted by `Display`): the
    /// name an intermediate table has once it is swapped in; the live table
    /// it replaces, until then; for a created table, the table itself.
    pub fn table(&self) -> QualifiedName<'static> {
        self.def.name()
    }

    /// The definition of the table the call loads (its columns, key and
    /// indexes: a staging table has the columns the struct sends, and a
    /// column for the row's input position first).
    pub fn definition(&self) -> &'static TableDef {
        self.def
    }
}

impl<'p, M> Ingest<'p, M> {
    /// Calls `f` on each table the call creates, right after its `CREATE
    /// TABLE`, before any row goes into it, in the call's transaction: the
    /// table the call loads when it doesn't exist, the new table of a swap
    /// (`replace`, a rebuild, an upsert by rebuild) and the temporary
    /// staging table of a merge (see [`NewTable::kind`]). A Citus user
    /// distributes the table there (see `docs/citus.md` in the repository);
    /// anyone may give it storage parameters, statistics targets, and so on.
    ///
    /// ```no_run
    /// # use pg_bulk_ingest::{BulkTable, Ingest, NewTableKind};
    /// # #[derive(BulkTable)] struct Event { #[bulk(primary_key)] id: i64, tenant_id: i64 }
    /// # fn run(tx: &mut postgres::Transaction<'_>, events: Vec<Event>) -> pg_bulk_ingest::Result<()> {
    /// Ingest::new()
    ///     .on_new_table(|tx, table| {
    ///         if table.kind() != NewTableKind::Staging {
    ///             // qualified() is quoted: "public"."event_pgbi_new"
    ///             tx.batch_execute(&format!("ALTER TABLE {} SET (fillfactor = 70)", table.qualified()))?;
    ///         }
    ///         Ok(())
    ///     })
    ///     .replace(tx, &events)?;
    /// # Ok(()) }
    /// ```
    ///
    /// - **When.** Once per table created, in the call's first stage
    ///   ([`Stage::Prepare`](crate::plan::Stage)): a call that creates no
    ///   table (an insert into a table that matches) doesn't run it. A new
    ///   table to be swapped in is given the live table's settings first
    ///   (see below), so what `f` sets wins. A rebuild runs `f` before
    ///   the live rows are copied into the new table. Not run on the
    ///   temporary table in which a [`mirror`](Ingest::mirror) keeps the
    ///   stored keys (it is made from a query, filled).
    /// - **What is kept.** Every swap carries these settings of the live
    ///   table to the new table, as the call's planning read them: storage
    ///   parameters (and its TOAST table's); a replica identity `FULL` or
    ///   `NOTHING`; `ENABLE ROW LEVEL SECURITY` and the table's policies
    ///   (`CREATE POLICY` with the expressions as the server renders them);
    ///   and, for each column of the new table, the settings of the live
    ///   column that holds its values (of its name, or renamed from it):
    ///   statistics targets and options (`n_distinct`, ...), with storage
    ///   (`SET STORAGE`) and compression (PostgreSQL 14) only where the
    ///   column keeps its type (with another, they are not carried). So a value `f` set stays when a later call swaps
    ///   without `f`, and a re-run with `f` changes nothing (the new table
    ///   has the policies already: `f` drops a policy it makes first, with
    ///   `DROP POLICY IF EXISTS`). What a swap can't carry makes a later
    ///   swap fail with [`Error::Dependents`] before it does anything,
    ///   whether or not `f` would make it again: a replica identity `USING
    ///   INDEX`, `FORCE ROW LEVEL SECURITY` (the call's own load, and a
    ///   rebuild's copy of the live rows, would be subject to the policies),
    ///   a policy that reads a column the new table lacks or types
    ///   otherwise, a policy whose expressions name the table itself (a
    ///   subquery over it, a whole row of it: made again, they would name
    ///   the live table), column collations, triggers, an unlogged table, a
    ///   tablespace, publications, ...
    /// - **Transaction and locks.** `f` is given a savepoint of the call's
    ///   transaction: what it does commits or rolls back with the call, and
    ///   it must not end the transaction. It runs with the call's locks held
    ///   (the advisory lock serialising calls on the table; for a rebuild
    ///   the live table's `EXCLUSIVE` lock). No other session sees the new
    ///   table until the caller commits, so statements on it wait for no one;
    ///   any lock `f` takes is held until the caller's transaction ends.
    /// - **Plans.** [`plan`](Ingest::plan) shows a step where `f` runs, with
    ///   an empty [`sql`](crate::plan::Step::sql) and a note naming the
    ///   table; `f`'s statements are the caller's, not the plan's
    ///   ([`Plan::statements`](crate::Plan::statements) doesn't list them).
    ///
    /// # Errors
    /// An error from `f` fails the call with [`Error::NewTableHook`], and so
    /// does returning `Ok` after a statement failed (the transaction is
    /// then aborted): the savepoint is rolled back, the live table is as it
    /// was and the caller's transaction usable.
    pub fn on_new_table(
        mut self,
        f: impl FnMut(
                &mut Transaction<'_>,
                &NewTable<'_>,
            ) -> Result<(), Box<dyn std::error::Error + Send + Sync>>
            + 'p,
    ) -> Self {
        self.on_new_table = Some(Box::new(f));
        self.options.on_new_table = true;
        self
    }
}

/// Runs `hook` on `new` in a savepoint of `sp`: released when the hook
/// succeeds, rolled back when it fails (or left the savepoint aborted).
pub(super) fn run(
    sp: &mut Transaction<'_>,
    hook: &mut NewTableHook<'_>,
    new: &NewTable<'_>,
) -> Result<()> {
    let table = new.table().to_string();
    log::info!(
        "{table}: on_new_table on {} ({})",
        new.qualified(),
        new.kind
    );
    let failed = |source: BoxError| Error::NewTableHook {
        table: table.clone(),
        new_table: new.qualified().to_string(),
        source,
    };
    let mut savepoint = sp.transaction().on(&table)?;
    match hook(&mut savepoint, new) {
        Ok(()) => savepoint.commit().map_err(|e| failed(Box::new(e))),
        // Dropping the savepoint rolls it back.
        Err(source) => Err(failed(source)),
    }
}
