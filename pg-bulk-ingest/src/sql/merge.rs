//! The statements that bring staged rows into a table: the upsert's merge in
//! its three [`OnConflict`] forms, the insert of staged rows, the
//! de-duplication of repeated keys, and the queries that name a repeated or
//! stored key for an error.

use super::same_key;
use crate::conflict::OnConflict;
use crate::ident::{Ident, IdentList, Literal, QualifiedName};
use crate::table::TableDef;

/// `names`, each qualified by `prefix`, joined: `t."a", t."b"`.
fn prefixed(prefix: &str, names: &[&str]) -> String {
    names
        .iter()
        .map(|c| format!("{prefix}.{}", Ident(c)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Which row of a repeated key stays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Keep {
    First,
    Last,
}

impl Keep {
    fn order(self) -> &'static str {
        match self {
            Keep::First => "ASC",
            Keep::Last => "DESC",
        }
    }
}

/// `work_mem` (kB) for a merge that sorts the staged rows, and the
/// session's, put back after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct WorkMem {
    pub during: u64,
    pub before: u64,
}

/// The `work_mem` a merge that sorts the staged rows gets, at least: a sort
/// of 100,000 rows of a seven-column table takes about 13 MB, and spills to
/// disk under PostgreSQL's default of 4 MB.
pub(crate) const SORT_WORK_MEM_KB: u64 = 64 * 1024;

/// Staged rows going into a table: the table's definition, the key rows
/// match on, the table they go into (quoted), where they come from (the
/// staging table, or a [`staged_range`](super::staged_range) of it) and the
/// staging table's position column.
pub(crate) struct Merge<'a> {
    pub def: &'a TableDef,
    pub key: &'a [&'a str],
    pub into: &'a str,
    pub source: &'a str,
    pub position: &'a str,
    /// Whether `into` is a partitioned table, whose `RETURNING` has no
    /// system columns (see [`Merge::upsert`]).
    pub partitioned: bool,
}

impl Merge<'_> {
    fn columns(&self) -> IdentList<'_, impl Iterator<Item = &str> + Clone> {
        IdentList(self.def.sent().map(|c| c.name))
    }

    /// The sent columns outside the key: what a merge updates.
    fn others(&self) -> Vec<&str> {
        self.def
            .sent()
            .map(|c| c.name)
            .filter(|c| !self.key.contains(c))
            .collect()
    }

    /// Whether rows `stored` and `staged` (aliases) differ in the sent
    /// columns outside the key, by their binary images:
    /// `ROW(t."a", ...)::record *<> ROW(s."a", ...)::record`.
    fn differ(&self, stored: &str, staged: &str) -> String {
        let others = self.others();
        format!(
            "ROW({})::record *<> ROW({})::record",
            prefixed(stored, &others),
            prefixed(staged, &others)
        )
    }

    /// The staged rows, or the `keep` row of each key: a `FROM` item.
    fn rows(&self, keep: Option<Keep>) -> String {
        match keep {
            None => self.source.to_owned(),
            Some(keep) => format!(
                "(SELECT DISTINCT ON ({key}) * FROM {source} AS staged ORDER BY {key}, {pos} {})",
                keep.order(),
                key = IdentList(self.key.iter().copied()),
                source = self.source,
                pos = Ident(self.position),
            ),
        }
    }

    /// The upsert's merge into a table whose key index exists, returning
    /// three counts: rows inserted, rows written (inserted or updated), and
    /// rows merged after de-duplication (NULL without `keep`: every staged
    /// row). A row is told inserted by `xmax = 0` on the row `RETURNING`
    /// gives (an updated row's version is locked by the merge, a new one
    /// not).
    ///
    /// - [`OnConflict::Update`]: `ON CONFLICT (key) DO UPDATE` of every
    ///   column but the key's, where the stored values differ (`*<>` on
    ///   records compares binary images: `1.0` → `1.00` or `0` → `-0` is a
    ///   change; the `::record` casts keep PostgreSQL from comparing the rows
    ///   column by column, where `*<>` does not exist). With no other column,
    ///   `DO NOTHING`.
    /// - [`OnConflict::Skip`]: `ON CONFLICT (key) DO NOTHING`.
    /// - [`OnConflict::Error`]: a plain `INSERT`; a stored key is a unique
    ///   violation.
    pub(crate) fn upsert(&self, on_conflict: OnConflict, keep: Option<Keep>) -> String {
        let into = self.into;
        let insert = self.on_conflict(on_conflict, keep);
        let counts = "SELECT count(*) FILTER (WHERE inserted), count(*)";
        // A partitioned table's RETURNING has no `xmax`: a row is new when
        // its key was not stored as the statement started (its subqueries
        // see the table as it was then).
        let inserted = if self.partitioned {
            format!(
                "NOT EXISTS (SELECT 1 FROM {into} AS o WHERE {})",
                same_key(self.key, "o", "t")
            )
        } else {
            "t.xmax = 0".to_owned()
        };
        match keep {
            None => format!(
                "WITH merged AS ({insert} RETURNING {inserted} AS inserted) \
                 {counts}, NULL::bigint FROM merged"
            ),
            Some(keep) => format!(
                "WITH s AS {}, merged AS ({insert} RETURNING {inserted} AS inserted) \
                 {counts}, (SELECT count(*) FROM s) FROM merged",
                self.rows(Some(keep))
            ),
        }
    }

    /// The `INSERT ... ON CONFLICT` of [`upsert`](Merge::upsert) alone,
    /// without counts; with `keep`, it reads the rows kept from `s` (a `WITH`
    /// item the caller adds).
    pub(crate) fn on_conflict(&self, on_conflict: OnConflict, keep: Option<Keep>) -> String {
        let columns = self.columns();
        let into = self.into;
        let mut insert = match keep {
            Some(_) => format!("INSERT INTO {into} AS t ({columns}) SELECT {columns} FROM s"),
            None => format!(
                "INSERT INTO {into} AS t ({columns}) SELECT {columns} FROM {} AS s",
                self.source
            ),
        };
        let others = self.others();
        let key = IdentList(self.key.iter().copied());
        match on_conflict {
            OnConflict::Update if !others.is_empty() => {
                let set: Vec<String> = others
                    .iter()
                    .map(|c| format!("{0} = EXCLUDED.{0}", Ident(c)))
                    .collect();
                insert.push_str(&format!(
                    " ON CONFLICT ({key}) DO UPDATE SET {} WHERE {}",
                    set.join(", "),
                    self.differ("t", "EXCLUDED")
                ));
            }
            OnConflict::Update | OnConflict::Skip => {
                insert.push_str(&format!(" ON CONFLICT ({key}) DO NOTHING"));
            }
            OnConflict::Error => {}
        }
        insert
    }

    /// The merge of [`OnConflict::Update`] as one `MERGE` (PostgreSQL 15,
    /// "MERGE"): a staged row whose key is stored updates the stored row
    /// where the values differ (`*<>`, as [`upsert`](Merge::upsert)), and a
    /// row whose key is not stored is inserted. Unlike `ON CONFLICT DO
    /// UPDATE ... WHERE`, a stored row whose values are the same is neither
    /// written nor locked. A key stored by another session after the
    /// statement's snapshot is a unique violation, where `ON CONFLICT` would
    /// update (the caller runs [`on_conflict`](Merge::on_conflict) then); a
    /// key repeated in the batch is a cardinality violation or a unique
    /// violation, as with `ON CONFLICT`. `None` when every sent column is
    /// part of the key (nothing to update).
    pub(crate) fn merge_command(&self) -> Option<String> {
        let others = self.others();
        if others.is_empty() {
            return None;
        }
        let set: Vec<String> = others
            .iter()
            .map(|c| format!("{0} = s.{0}", Ident(c)))
            .collect();
        let sent: Vec<&str> = self.def.sent().map(|c| c.name).collect();
        Some(format!(
            "MERGE INTO {into} AS t USING {source} AS s ON {on} \
             WHEN MATCHED AND {differ} \
             THEN UPDATE SET {set} \
             WHEN NOT MATCHED THEN INSERT ({columns}) VALUES ({values})",
            into = self.into,
            source = self.source,
            on = same_key(self.key, "t", "s"),
            differ = self.differ("t", "s"),
            set = set.join(", "),
            columns = self.columns(),
            values = prefixed("s", &sent),
        ))
    }

    /// The stored rows of one run of a batch whose key is one integer
    /// column, for the comparison before staging: the columns the struct
    /// sends, in the order its COPY sends them, of the rows whose key is
    /// between `$1` and `$2` (`bigint`), in key order, at most `$3` of them.
    pub(crate) fn stored_run(&self) -> String {
        let key = Ident(self.key[0]);
        format!(
            "SELECT {} FROM {} WHERE {key} >= $1::int8 AND {key} <= $2::int8 \
             ORDER BY {key} LIMIT $3::int8",
            self.columns(),
            self.into
        )
    }

    /// The greatest stored key (one integer column) as a `bigint`, NULL
    /// when no row is stored: keys above it are new.
    pub(crate) fn stored_max(&self) -> String {
        format!(
            "SELECT max({})::int8 FROM {}",
            Ident(self.key[0]),
            self.into
        )
    }

    /// For the report, where later rows of the batch repeat keys appended
    /// straight into [`into`](Merge::into): of the keys a bitmap marks
    /// (`$3`, a `bytea` whose bit `n`, as `get_bit` numbers it, is key `$1 +
    /// n`; keys `$1` to `$2`, `bigint`), the number the staged rows hold and
    /// the table too, and the number whose last staged row (the one the
    /// merge takes) has the stored values (`*<>` is false: the merge leaves
    /// the row as it is). `CASE` keeps `get_bit` to the bitmap's keys.
    pub(crate) fn appended_repeats(&self) -> String {
        let key = Ident(self.key[0]);
        format!(
            "SELECT count(*)::int8, count(*) FILTER (WHERE NOT {differ})::int8 \
             FROM {into} AS t JOIN (SELECT DISTINCT ON ({key}) * FROM {source} AS staged \
             WHERE CASE WHEN {key} BETWEEN $1::int8 AND $2::int8 \
             THEN pg_catalog.get_bit($3::bytea, {key} - $1::int8) = 1 ELSE false END \
             ORDER BY {key}, {pos} DESC) AS s ON t.{key} = s.{key}",
            differ = self.differ("t", "s"),
            into = self.into,
            source = self.source,
            pos = Ident(self.position),
        )
    }

    /// `statement` (a merge into [`into`](Merge::into)) with its counts
    /// taken from the transaction's row counters rather than `RETURNING`,
    /// as one simple query of three statements: the counters of the
    /// table's partitions (or of the table), the statement, the counters
    /// again (both in the same transaction: what the backend has not yet
    /// reported of earlier transactions is in both, and cancels out). Rows
    /// inserted are the difference of
    /// `pg_stat_get_xact_tuples_inserted` less that of
    /// `pg_stat_get_xact_tuples_deleted` (PostgreSQL counts an insertion
    /// `ON CONFLICT` takes back as a deletion; the statement deletes
    /// nothing else); rows written are the statement's row count. Needs
    /// `track_counts` (PostgreSQL's default).
    ///
    /// With `settings` (the session's `enable_hashjoin`, `enable_mergejoin`
    /// and `jit`), the first statement turns the three off for the
    /// statement, and the last puts them back: the staged rows are then
    /// matched through the key's index, one probe each, as `ON CONFLICT`
    /// does, never by reading the whole table; and no time goes into
    /// compiling expressions that run once per row of a batch (measured:
    /// 50 ms more for 100,000 unchanged rows with `jit` on).
    pub(crate) fn counted(
        &self,
        statement: &str,
        settings: Option<[bool; 3]>,
        work_mem: Option<WorkMem>,
    ) -> String {
        // The table itself (a partitioned table counts nothing itself), and
        // the leaves of its partition tree (none for a plain table).
        let counter = format!(
            "(SELECT coalesce(sum(pg_catalog.pg_stat_get_xact_tuples_inserted(p.relid) \
                                - pg_catalog.pg_stat_get_xact_tuples_deleted(p.relid)), 0)::int8 \
              FROM (SELECT {table}::regclass AS relid UNION \
                    SELECT l.relid FROM pg_catalog.pg_partition_tree({table}::regclass) AS l \
                    WHERE l.isleaf) AS p)",
            table = Literal(self.into)
        );
        let set = |values: [bool; 3]| {
            let [hash, merge, jit] = values.map(|on| Literal(if on { "on" } else { "off" }));
            format!(
                ", pg_catalog.set_config('enable_hashjoin', {hash}, true), \
                 pg_catalog.set_config('enable_mergejoin', {merge}, true), \
                 pg_catalog.set_config('jit', {jit}, true)"
            )
        };
        let (mut off, mut back) = match settings {
            Some(before) => (set([false; 3]), set(before)),
            None => (String::new(), String::new()),
        };
        if let Some(WorkMem { during, before }) = work_mem {
            let set = |kb: u64| {
                format!(
                    ", pg_catalog.set_config('work_mem', {}, true)",
                    Literal(&format!("{kb}kB"))
                )
            };
            off.push_str(&set(during));
            back.push_str(&set(before));
        }
        format!("SELECT {counter}{off}; {statement}; SELECT {counter}{back}")
    }

    /// `INSERT ... SELECT` of the staged rows, or of the `keep` row of each
    /// key, into a table (no `ON CONFLICT`: a stored key is a unique
    /// violation); in input order when `ordered`.
    pub(crate) fn insert(&self, keep: Option<Keep>, ordered: bool) -> String {
        let columns = self.columns();
        let mut sql = format!(
            "INSERT INTO {} ({columns}) SELECT {columns} FROM {} AS s",
            self.into,
            self.rows(keep)
        );
        if ordered {
            sql.push_str(&format!(" ORDER BY {}", Ident(self.position)));
        }
        sql
    }
}

/// Deletes every row of table `name` (loaded by this call) but the `keep`
/// row of each key. Rows of a table loaded by this call are stored in the
/// order they were loaded, so `ctid` order is input order.
pub(crate) fn dedupe_loaded(def: &TableDef, key: &[&str], name: &str, keep: Keep) -> String {
    let op = match keep {
        Keep::Last => "<",
        Keep::First => ">",
    };
    format!(
        "DELETE FROM {0} AS a USING {0} AS b WHERE {1} AND a.ctid {op} b.ctid",
        QualifiedName::new(def.schema, name),
        same_key(key, "a", "b")
    )
}

/// The first row (in `order`) whose key an earlier row has: `(position of
/// the earlier row, position of the row, the key's values as text...)`, or
/// no row. `source` is a `FROM` item with the `order` column (`bigint`) and
/// the key columns.
pub(crate) fn repeated_key(source: &str, key: &[&str], order: &str) -> String {
    let keys = IdentList(key.iter().copied());
    let as_text: Vec<String> = key
        .iter()
        .map(|k| format!("r.{}::text", Ident(k)))
        .collect();
    format!(
        "SELECT r.earlier, r.later, {} FROM (SELECT {order} AS later, lag({order}) OVER \
         (PARTITION BY {keys} ORDER BY {order}) AS earlier, {keys} FROM {source}) AS r \
         WHERE r.earlier IS NOT NULL ORDER BY r.later LIMIT 1",
        as_text.join(", "),
        order = Ident(order),
    )
}

/// Whether any key repeats among the rows of `source` (one hash aggregate
/// over them).
pub(crate) fn has_repeats(source: &str, key: &[&str]) -> String {
    format!(
        "SELECT EXISTS (SELECT 1 FROM {source} GROUP BY {} HAVING count(*) > 1)",
        IdentList(key.iter().copied())
    )
}

/// The rows of table `name` (loaded by this call) numbered from 0 in `ctid`
/// order (input order; live rows copied first come first) as column
/// `column` (a name no column of the table has): a `FROM` item for
/// [`repeated_key`].
pub(crate) fn numbered(schema: &str, name: &str, column: &str) -> String {
    format!(
        "(SELECT row_number() OVER (ORDER BY ctid) - 1 AS {}, * FROM {}) AS numbered",
        Ident(column),
        QualifiedName::new(schema, name)
    )
}

/// The first staged row (in input order) whose key `into` already holds:
/// `(its position, the key's values as text...)`, or no row.
pub(crate) fn stored_key(source: &str, key: &[&str], position: &str, into: &str) -> String {
    let as_text: Vec<String> = key
        .iter()
        .map(|k| format!("s.{}::text", Ident(k)))
        .collect();
    format!(
        "SELECT s.{pos}, {} FROM {source} AS s WHERE EXISTS (SELECT 1 FROM {into} AS t \
         WHERE {}) ORDER BY s.{pos} LIMIT 1",
        as_text.join(", "),
        same_key(key, "t", "s"),
        pos = Ident(position),
    )
}

/// The rows of `source` (the staging table) sorted by `key`: a `FROM` item
/// for a merge that walks the key's index in order.
pub(crate) fn sorted_by(source: &str, key: &[&str]) -> String {
    format!(
        "(SELECT * FROM {source} ORDER BY {})",
        IdentList(key.iter().copied())
    )
}
