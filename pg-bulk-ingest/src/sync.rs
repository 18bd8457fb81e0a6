//! Keeping a table in sync with a source: a mirror ([`Delete`]), which
//! deletes or marks the stored rows a full snapshot no longer has, and a
//! slice replace ([`Slice`]), which replaces the rows of one slice of the
//! table.

use std::fmt;
use std::sync::Arc;

use postgres::types::ToSql;

/// What a mirror ([`Ingest::mirror`](crate::Ingest::mirror)) does with a
/// stored row whose key the batch (a full snapshot of the source) doesn't
/// have.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Delete {
    /// `DELETE` it.
    Rows,
    /// Mark it: set the named column, which the struct declares as nullable
    /// `timestamptz`, `timestamp` or `date` (set to the transaction's
    /// `now()`, `CURRENT_DATE`) or as `boolean` (set to `true`); rows
    /// already marked are left alone. The batch's rows carry the column
    /// unmarked (`None`, `false`), so a marked row that comes back is
    /// unmarked by the upsert.
    Mark(String),
}

impl Delete {
    /// [`Delete::Mark`] of column `column`.
    pub fn mark(column: impl Into<String>) -> Delete {
        Delete::Mark(column.into())
    }
}

/// The rows of a table a slice replace
/// ([`Ingest::replace_slice`](crate::Ingest::replace_slice)) replaces: those
/// whose columns have the given values. The values are bound as parameters,
/// typed as their columns (PostgreSQL infers the type of `$n` from the
/// column), never written into the SQL.
///
/// ```
/// use pg_bulk_ingest::Slice;
///
/// let day = chrono::NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
/// let slice = Slice::equal("day", day).and_equal("tenant", 7_i32);
/// assert_eq!(slice.columns(), ["day", "tenant"]);
/// ```
#[derive(Clone)]
pub struct Slice {
    pub(crate) conditions: Vec<(String, Condition)>,
}

/// One column's condition of a [`Slice`].
#[derive(Clone)]
pub(crate) enum Condition {
    /// `column = $n`.
    Equal(Value),
    /// `column >= $n AND column < $n+1`.
    Range(Value, Value),
}

/// A value bound as a parameter.
pub(crate) type Value = Arc<dyn ToSql + Send + Sync>;

/// The slice's `values` at indexes `at`, as parameters `$1`, `$2`, ... (an
/// index past them is left out: the statement then fails on its count).
pub(crate) fn bind<'v>(values: &'v [Value], at: &[usize]) -> Vec<&'v (dyn ToSql + Sync)> {
    at.iter()
        .filter_map(|&i| values.get(i))
        .map(|v| &**v as &(dyn ToSql + Sync))
        .collect()
}

impl Slice {
    /// The rows whose `column` equals `value`.
    pub fn equal(column: impl Into<String>, value: impl ToSql + Send + Sync + 'static) -> Slice {
        Slice {
            conditions: vec![(column.into(), Condition::Equal(Arc::new(value)))],
        }
    }

    /// The rows whose `column` is at least `from` and less than `to` (a
    /// half-open range: a day is `[midnight, next midnight)`).
    pub fn range(
        column: impl Into<String>,
        from: impl ToSql + Send + Sync + 'static,
        to: impl ToSql + Send + Sync + 'static,
    ) -> Slice {
        Slice {
            conditions: vec![(
                column.into(),
                Condition::Range(Arc::new(from), Arc::new(to)),
            )],
        }
    }

    /// And the rows whose `column` equals `value`.
    pub fn and_equal(
        mut self,
        column: impl Into<String>,
        value: impl ToSql + Send + Sync + 'static,
    ) -> Slice {
        self.conditions
            .push((column.into(), Condition::Equal(Arc::new(value))));
        self
    }

    /// And the rows whose `column` is in `[from, to)`.
    pub fn and_range(
        mut self,
        column: impl Into<String>,
        from: impl ToSql + Send + Sync + 'static,
        to: impl ToSql + Send + Sync + 'static,
    ) -> Slice {
        self.conditions.push((
            column.into(),
            Condition::Range(Arc::new(from), Arc::new(to)),
        ));
        self
    }

    /// The slice's columns, in order.
    pub fn columns(&self) -> Vec<&str> {
        self.conditions.iter().map(|(c, _)| c.as_str()).collect()
    }

    /// The values, in parameter order (`$1`, `$2`, ...).
    pub(crate) fn values(&self) -> Vec<Value> {
        let mut out = Vec::new();
        for (_, condition) in &self.conditions {
            match condition {
                Condition::Equal(v) => out.push(v.clone()),
                Condition::Range(a, b) => {
                    out.push(a.clone());
                    out.push(b.clone());
                }
            }
        }
        out
    }

    /// The shape of the slice, without its values: what planning needs.
    pub(crate) fn shape(&self) -> SliceShape {
        SliceShape {
            conditions: self
                .conditions
                .iter()
                .map(|(c, condition)| (c.clone(), matches!(condition, Condition::Range(..))))
                .collect(),
        }
    }
}

impl fmt::Debug for Slice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        for (column, condition) in &self.conditions {
            match condition {
                Condition::Equal(v) => list.entry(&format_args!("{column} = {v:?}")),
                Condition::Range(a, b) => list.entry(&format_args!("{column} in [{a:?}, {b:?})")),
            };
        }
        list.finish()
    }
}

/// A slice's columns, each with whether it is a range: planning's view of a
/// [`Slice`] (its values are bound when the steps run).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SliceShape {
    pub conditions: Vec<(String, bool)>,
}

/// A mirror's choices: what happens to rows the snapshot lacks, and the most
/// of the table it may delete or mark (parts per million of the rows the table
/// held when the call started; `None`: no limit).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Mirror {
    pub delete: Delete,
    pub guard_ppm: Option<u32>,
}
