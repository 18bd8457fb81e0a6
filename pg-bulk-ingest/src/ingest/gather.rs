//! Gathering: every catalog read planning one table needs, in a fixed order,
//! into plain data ([`Gathered`]). What a swap relies on is read only when the
//! call may swap.

use postgres::Transaction;

use crate::catalog::{self, Facts, Gathered, Relation, SlicePartition, SwapFacts};
use crate::diff::{changes, Change};
use crate::plan::{Input, Mode, Options};
use crate::sql;
use crate::sync::Value;
use crate::table::TableDef;

/// Reads what planning `def` needs, and compares it with the live table (the
/// changes are empty when there is no table, and for `replace`).
pub(crate) fn gather(
    sp: &mut Transaction<'_>,
    def: &'static TableDef,
    options: &Options,
    input: &Input,
    params: &[Value],
) -> Result<(Gathered, Vec<Change>), postgres::Error> {
    let named = catalog::read_named(sp, def.schema, def.table)?;
    let mut gathered = Gathered {
        schema_exists: named.schema_exists,
        live: named.relation,
        facts: Facts::default(),
        session: named.session,
        swap: None,
        views: Vec::new(),
        slice_partition: None,
    };
    let Relation::Table(table) = &gathered.live else {
        return Ok((gathered, Vec::new()));
    };
    let mut found = Vec::new();
    if input.mode != Mode::Replace {
        gathered.facts.normalized_defaults = catalog::read_defaults(sp, def)?;
        found = changes(def, table, &gathered.facts);
        // What the table holds only decides whether a change loses data:
        // read when there is a change (facts annotate changes, they never
        // make one).
        if !found.is_empty() {
            gathered.facts = Facts {
                normalized_defaults: std::mem::take(&mut gathered.facts.normalized_defaults),
                ..catalog::read_data(sp, def, table)?
            };
            found = changes(def, table, &gathered.facts);
        }
        // A partitioned table is never rebuilt: its changes are made in place.
        let in_place = options.in_place || table.partitioning.is_some();
        if in_place && found.iter().all(Change::is_catalog_only) {
            // Whether PostgreSQL would make them without a rewrite after all.
            let probes: Vec<_> = found
                .iter()
                .filter_map(|c| sql::rewrite_probe(def, c))
                .collect();
            gathered.facts.rewrites = catalog::read_rewrites(sp, &probes)?;
        }
    }
    let oid = table.oid;
    if let (true, Some(slice), Some(_)) =
        (options.swap_partition, &options.slice, &table.partitioning)
    {
        if let Some((query, at)) = sql::slice_partition(def, slice, oid) {
            let bound = crate::sync::bind(params, &at);
            gathered.slice_partition = catalog::read_slice_partition(sp, &query, &bound, true)?
                .map(|partition| -> Result<_, postgres::Error> {
                    Ok(SlicePartition {
                        fresh: free_name(sp, def)?,
                        params: at.clone(),
                        ..partition
                    })
                })
                .transpose()?;
        }
    }
    let swappable = table.partitioning.is_none();
    if swappable && crate::plan::decide::may_swap(def, &found, &gathered.facts, options, input) {
        let swap = SwapFacts {
            carried: catalog::read_carried(sp, oid)?,
            dependents: catalog::read_dependents(sp, oid)?,
            settings: catalog::read_size_and_settings(sp, oid)?,
            intermediate: free_name(sp, def)?,
            may_create_as_owner: catalog::may_create_as_owner(sp, oid)?,
        };
        gathered.views = swap.carried.views.clone();
        gathered.swap = Some(swap);
    } else if found.iter().any(|c| {
        matches!(
            c,
            Change::DropColumn { .. } | Change::RenameColumn { .. } | Change::AlterType { .. }
        )
    }) {
        gathered.views = catalog::read_views(sp, oid)?;
    }
    Ok((gathered, found))
}

/// A name for the new table of a swap, free in the table's schema, and so
/// are the names of its key and indexes.
fn free_name(sp: &mut Transaction<'_>, def: &TableDef) -> Result<String, postgres::Error> {
    for n in 0u32.. {
        let name = sql::intermediate_name(def, n);
        let mut taken = vec![name.clone(), sql::primary_key_name(&name)];
        taken.extend(def.indexes.iter().map(|i| sql::index_name(&name, i)));
        let mut free = true;
        for relation in &taken {
            free &= !catalog::relation_exists(sp, def.schema, relation)?;
        }
        if free {
            return Ok(name);
        }
    }
    unreachable!("some suffix is free")
}
