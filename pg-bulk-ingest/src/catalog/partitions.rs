//! A partitioned table's partitioning, as the catalog has it
//! (`pg_partitioned_table`, `pg_inherits`): its method and key, and its
//! partitions with their bounds and the constraint each puts on its rows.

use postgres::types::Type;
use postgres::GenericClient;

/// How a live table is partitioned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LivePartitioning {
    /// `pg_partitioned_table.partstrat`: `r`ange, `l`ist or `h`ash.
    pub strategy: char,
    /// The key's columns, in order; empty when any part of the key is an
    /// expression (a key no definition declares).
    pub columns: Vec<String>,
    /// The partitions, by name.
    pub partitions: Vec<LivePartition>,
}

impl LivePartitioning {
    /// `RANGE`, `LIST` or `HASH`, as the definition's
    /// [`keyword`](crate::table::PartitionDef::keyword).
    pub(crate) fn keyword(&self) -> &'static str {
        match self.strategy {
            'r' => "RANGE",
            'l' => "LIST",
            'h' => "HASH",
            _ => "?",
        }
    }
}

/// One partition of a live partitioned table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LivePartition {
    /// Its OID.
    pub oid: u32,
    /// Its schema and name.
    pub schema: String,
    pub name: String,
    /// `pg_get_expr(relpartbound)`: `FOR VALUES ...`, or `DEFAULT`.
    pub bound: String,
    /// `pg_get_partition_constraintdef`: the condition its rows meet, over
    /// the table's columns (unqualified); `None` for the default partition,
    /// whose condition is that no other partition takes the row.
    pub constraint: Option<String>,
}

/// Reads how the partitioned table `oid` is partitioned.
pub(crate) fn read_partitioning(
    client: &mut impl GenericClient,
    oid: u32,
) -> Result<LivePartitioning, postgres::Error> {
    let row = client.query_typed_one(
        "SELECT p.partstrat::text, \
                ARRAY(SELECT coalesce(a.attname::text, '') \
                      FROM unnest(p.partattrs::int2[]) WITH ORDINALITY AS k(attnum, ord) \
                      LEFT JOIN pg_catalog.pg_attribute a \
                        ON a.attrelid = p.partrelid AND a.attnum = k.attnum \
                      ORDER BY k.ord), \
                p.partexprs IS NOT NULL \
         FROM pg_catalog.pg_partitioned_table p WHERE p.partrelid = $1",
        &[(&oid, Type::OID)],
    )?;
    let strategy: String = row.get(0);
    let columns: Vec<String> = row.get(1);
    let expressions: bool = row.get(2);
    let partitions = client
        .query_typed(
            "SELECT c.oid, n.nspname::text, c.relname::text, \
                    pg_catalog.pg_get_expr(c.relpartbound, c.oid), \
                    CASE WHEN NOT c.relpartbound IS NULL \
                          AND pg_catalog.pg_get_expr(c.relpartbound, c.oid) <> 'DEFAULT' \
                         THEN pg_catalog.pg_get_partition_constraintdef(c.oid) END \
             FROM pg_catalog.pg_inherits i \
             JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE i.inhparent = $1 \
             ORDER BY 3",
            &[(&oid, Type::OID)],
        )?
        .into_iter()
        .map(|r| LivePartition {
            oid: r.get(0),
            schema: r.get(1),
            name: r.get(2),
            bound: r.get::<_, Option<String>>(3).unwrap_or_default(),
            constraint: r.get(4),
        })
        .collect();
    Ok(LivePartitioning {
        strategy: strategy.chars().next().unwrap_or('?'),
        columns: if expressions || columns.iter().any(String::is_empty) {
            Vec::new()
        } else {
            columns
        },
        partitions,
    })
}

/// The partition of a table that is exactly a slice, read for a partition
/// swap ([`sql::slice_partition`](crate::sql::slice_partition)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SlicePartition {
    /// Its OID.
    pub oid: u32,
    /// Its name, in the table's schema.
    pub name: String,
    /// `pg_get_expr(relpartbound)`: the `FOR VALUES ...` it is attached with.
    pub bound: String,
    /// `pg_get_partition_constraintdef`: the condition its rows meet.
    pub constraint: String,
    /// Its storage parameters, then its TOAST table's (`toast.` before each).
    pub storage: Vec<String>,
    /// What it has that a fresh table would not get, described; the slice
    /// is replaced by a `DELETE` when there is any.
    pub own: Vec<String>,
    /// Its owner, privileges and comments.
    pub carried: super::Carried,
    /// A name for the fresh partition, free in the table's schema, and so
    /// are the names of its key, indexes and bound constraint.
    pub fresh: String,
    /// The query that found it, and the slice's values it binds (by their
    /// indexes): run again under the swap's lock.
    pub query: String,
    pub params: Vec<usize>,
}

impl SlicePartition {
    /// How `now` (the partition read again) differs from the partition as
    /// planned, described; empty when a swap may go ahead.
    pub(crate) fn changed(&self, now: Option<&SlicePartition>) -> Vec<String> {
        let Some(now) = now else {
            return vec![format!(
                "partition {} is no longer the slice's partition",
                self.name
            )];
        };
        let mut changed = now.own.clone();
        if (now.oid, &now.name, &now.bound, &now.constraint)
            != (self.oid, &self.name, &self.bound, &self.constraint)
        {
            changed.push(format!("partition {} was replaced meanwhile", self.name));
        }
        if now.storage != self.storage {
            changed.push(format!(
                "partition {}'s storage parameters changed meanwhile",
                self.name
            ));
        }
        changed
    }
}

/// Reads the partition of the partitioned table `parent` that is exactly the
/// slice, with `query` (a `sql::slice_partition`) and the slice's values
/// `params`, and, with `carried`, its owner, privileges and comments;
/// `None` when no partition is.
pub(crate) fn read_slice_partition(
    client: &mut impl GenericClient,
    query: &str,
    params: &[&(dyn postgres::types::ToSql + Sync)],
    carried: bool,
) -> Result<Option<SlicePartition>, postgres::Error> {
    let Some(row) = client.query_opt(query, params)? else {
        return Ok(None);
    };
    let oid: u32 = row.get(0);
    let carried = if carried {
        let mut carried = super::read_carried(client, oid)?;
        // A view that reads it makes `own` not empty: none is made again.
        carried.views.clear();
        carried
    } else {
        super::Carried::default()
    };
    Ok(Some(SlicePartition {
        oid,
        name: row.get(1),
        bound: row.get(2),
        constraint: row.get(3),
        storage: row.get(4),
        own: row.get(5),
        carried,
        fresh: String::new(),
        query: query.to_owned(),
        params: Vec::new(),
    }))
}
