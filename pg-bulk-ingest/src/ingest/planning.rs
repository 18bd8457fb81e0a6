//! Before a call sends anything: its options checked against its tables,
//! then each table's plan, gathered and decided, with the step that stores
//! a high watermark.

use postgres::Transaction;

use super::gather::gather;
use crate::error::{Error, OnTable, Result};
use crate::plan::decide::Refused;
use crate::plan::{decide, Input, Mode, Options, Plan, Step};
use crate::sync::Value;
use crate::table::TableDef;

/// The options against the call's tables, before anything is sent: a
/// conflict key for a table the call doesn't load, or one that doesn't fit
/// its table, fails the call with [`Error::Options`].
pub(super) fn check_options(
    options: &Options,
    defs: &[&'static TableDef],
    mode: Mode,
) -> Result<()> {
    if let Some(stray) = options
        .keys
        .iter()
        .find(|k| !defs.iter().any(|d| d.name() == k.table.name()))
    {
        return Err(Error::Options {
            table: stray.table.name().to_string(),
            reason: "a conflict key was given for this table, which the call doesn't load"
                .to_owned(),
        });
    }
    for &def in defs {
        options.keys(def, mode).map_err(|reason| Error::Options {
            table: def.name().to_string(),
            reason,
        })?;
    }
    Ok(())
}

/// Gathers and decides the plan of one table; with a high watermark, adds
/// the step that stores it (its statement made from the comment read now).
pub(super) fn plan_table(
    sp: &mut Transaction<'_>,
    def: &'static TableDef,
    options: &Options,
    input: &Input,
    params: &[Value],
    types: Vec<Step>,
    high_watermark: Option<&str>,
) -> Result<Plan> {
    let name = def.name().to_string();
    let (gathered, changes) = gather(sp, def, options, input, params).on(&name)?;
    let mut prelude = types;
    prelude.push(crate::plan::advisory(def));
    let mut plan = decide(def, &gathered, &changes, options, input, prelude).map_err(
        |refused| match refused {
            Refused::Changes(refusals) => Error::Refused {
                table: name,
                refusals,
            },
            Refused::Dependents(dependents) => Error::Dependents {
                table: name,
                dependents,
            },
            Refused::Unsupported(what) => Error::Unsupported { table: name, what },
            Refused::Options(reason) => Error::Options {
                table: name,
                reason,
            },
        },
    )?;
    if let Some(value) = high_watermark {
        let comment =
            crate::catalog::read_comment(sp, def.schema, def.table).on(&def.name().to_string())?;
        crate::plan::with_watermark(&mut plan, value, comment.as_deref());
    }
    Ok(plan)
}
