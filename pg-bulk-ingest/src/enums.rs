//! PostgreSQL enum types of `#[derive(BulkEnum)]` columns: created by a call
//! when missing, checked for labels, and completed by [`prepare`](crate::prepare()).
//!
//! PostgreSQL (12 and later) refuses to use a label added by `ALTER TYPE ...
//! ADD VALUE` until the transaction that added it commits ("unsafe use of new
//! value"), even for a type created in that same transaction. A call runs in
//! the caller's transaction, so it can create a missing type with every label,
//! but it can't add labels to a type that exists: it fails with
//! [`Error::EnumLabelsMissing`] before changing anything, and `prepare` adds
//! them in a transaction of its own.

use postgres::{GenericClient, Transaction};

use crate::catalog::{self, LiveType};
use crate::diff::Refusal;
use crate::error::{Error, OnTable, Result};
use crate::lock;
use crate::lock::LockMode;
use crate::plan::{Lock, Run, Stage, Step};
use crate::sql::{add_enum_label, create_enum, create_schema};
use crate::table::TableDef;
use crate::types::EnumDef;

/// One enum type the tables use: every definition of it (two Rust enums may
/// name the same type), the union of their labels in order, and the first
/// table that uses it (named in errors).
struct Used {
    def: &'static EnumDef,
    labels: Vec<&'static str>,
    table: String,
    /// Index of that table.
    first_table: usize,
}

/// The enum types of `tables`' columns, each once (by schema and name).
fn used(tables: &[&'static TableDef]) -> Vec<Used> {
    let mut out: Vec<Used> = Vec::new();
    for (i, table) in tables.iter().enumerate() {
        for def in table.enums() {
            let found = out
                .iter_mut()
                .find(|u| u.def.schema == def.schema && u.def.name == def.name);
            let used = match found {
                Some(used) => used,
                None => {
                    out.push(Used {
                        def,
                        labels: Vec::new(),
                        table: table.name().to_string(),
                        first_table: i,
                    });
                    out.last_mut().expect("just pushed")
                }
            };
            for label in def.labels {
                if !used.labels.contains(label) {
                    used.labels.push(label);
                }
            }
        }
    }
    out
}

fn refused(used: &Used, typtype: char) -> Error {
    Error::Refused {
        table: used.table.clone(),
        refusals: vec![Refusal::TypeNotAnEnum {
            type_name: used.def.name().to_string(),
            typtype,
        }],
    }
}

/// Takes the transaction-level lock that serialises changes to the type;
/// returns its statement.
fn lock_type(client: &mut impl GenericClient, def: &EnumDef) -> Result<String, postgres::Error> {
    let sql = lock::advisory_enum(def);
    client.batch_execute(&sql)?;
    Ok(sql)
}

/// A step of the prelude: a statement run for an enum type before the
/// tables are read.
fn prelude(sql: String, lock: Option<&EnumDef>) -> Step {
    Step {
        stage: Stage::Prelude,
        lock: lock.map(|def| Lock::new(LockMode::Advisory, def.name().to_string())),
        note: if lock.is_some() {
            "serialises the creation of the enum type".to_owned()
        } else {
            "a missing enum type, created before the table is read".to_owned()
        },
        sql,
        run: Run::Execute,
    }
}

/// For a call: checks every enum type `tables` use, and creates the missing
/// ones (with their schemas) in `sp`. A type lacking labels is
/// [`Error::EnumLabelsMissing`], a name taken by another kind of type
/// [`Error::Refused`]; both before anything is changed. Returns, per table
/// (in `tables`' order), the statements run for the types it is the first
/// to use, as steps of its plan's prelude.
pub(crate) fn ensure(
    sp: &mut Transaction<'_>,
    tables: &[&'static TableDef],
) -> Result<Vec<Vec<Step>>> {
    let used = used(tables);
    let mut statements = vec![Vec::new(); tables.len()];
    // Everything is checked before anything is created.
    let mut missing = Vec::new();
    for u in &used {
        match catalog::read_type(sp, u.def.schema, u.def.name).on(&u.table)? {
            None => missing.push(u),
            Some(live) => check(u, &live)?,
        }
    }
    for u in missing {
        // Another session may be creating it: wait for it, then look again.
        let locked = lock_type(sp, u.def).on(&u.table)?;
        statements[u.first_table].push(prelude(locked, Some(u.def)));
        if let Some(live) = catalog::read_type(sp, u.def.schema, u.def.name).on(&u.table)? {
            check(u, &live)?;
            continue;
        }
        let mut sql = Vec::new();
        if !catalog::schema_exists(sp, u.def.schema).on(&u.table)? {
            sql.push(create_schema(u.def.schema));
        }
        sql.push(create_enum(u.def, &u.labels));
        for s in sql {
            log::info!("{}: {s}", u.table);
            sp.batch_execute(&s).on(&u.table)?;
            statements[u.first_table].push(prelude(s, None));
        }
    }
    Ok(statements)
}

/// An existing type: an enum with every label, or an error.
fn check(used: &Used, live: &LiveType) -> Result<()> {
    let labels = match live {
        LiveType::Enum(labels) => labels,
        LiveType::Other(typtype) => return Err(refused(used, *typtype)),
    };
    let lacking: Vec<String> = used
        .labels
        .iter()
        .filter(|l| !labels.iter().any(|have| have == *l))
        .map(|l| (*l).to_owned())
        .collect();
    if lacking.is_empty() {
        return Ok(());
    }
    Err(Error::EnumLabelsMissing {
        table: used.table.clone(),
        type_name: used.def.name().to_string(),
        labels: lacking,
    })
}

/// For [`prepare`](crate::prepare()): creates the missing types (and their
/// schemas) and adds the missing labels, in `tx`. A missing label goes after
/// the label that precedes it in the Rust enum (or before the one that follows
/// it), so that the type sorts as the enum where it can. Returns the
/// statements run.
pub(crate) fn complete(
    tx: &mut Transaction<'_>,
    tables: &[&'static TableDef],
) -> Result<Vec<String>> {
    let mut statements = Vec::new();
    for u in used(tables) {
        let name = u.def.name().to_string();
        lock_type(tx, u.def).on(&name)?;
        let mut sql = Vec::new();
        match catalog::read_type(tx, u.def.schema, u.def.name).on(&name)? {
            Some(LiveType::Other(typtype)) => return Err(refused(&u, typtype)),
            None => {
                if !catalog::schema_exists(tx, u.def.schema).on(&name)? {
                    sql.push(create_schema(u.def.schema));
                }
                sql.push(create_enum(u.def, &u.labels));
            }
            Some(LiveType::Enum(have)) => {
                let mut have: Vec<&str> = have.iter().map(String::as_str).collect();
                for (i, label) in u.labels.iter().enumerate() {
                    if have.contains(label) {
                        continue;
                    }
                    let before = u.labels[..i].iter().rev().find(|l| have.contains(l));
                    let after = u.labels[i + 1..].iter().find(|l| have.contains(l));
                    let place = match (before, after) {
                        (Some(b), _) => Some((true, *b)),
                        (None, Some(a)) => Some((false, *a)),
                        (None, None) => None,
                    };
                    sql.push(add_enum_label(u.def, label, place));
                    have.push(label);
                }
            }
        }
        for s in &sql {
            log::info!("{}: {s}", u.def.name());
            tx.batch_execute(s).on(&name)?;
        }
        statements.extend(sql);
    }
    Ok(statements)
}
