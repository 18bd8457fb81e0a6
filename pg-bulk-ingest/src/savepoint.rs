//! Trying statements in a savepoint: a failure the plan foresees (one
//! SQLSTATE) rolls the savepoint back and leaves the transaction usable, so
//! that the call can go on another way.

use postgres::error::SqlState;
use postgres::Transaction;

/// What [`attempt`] gives: the value, or the foreseen error (after which the
/// transaction is usable).
pub(crate) type Attempt<T> = Result<T, postgres::Error>;

/// Runs `f` in a savepoint of `sp`. `Ok(Ok(value))` when it succeeds (the
/// savepoint is released); `Ok(Err(error))` when it fails with SQLSTATE
/// `foreseen` (the savepoint is rolled back); any other error as `Err`.
pub(crate) fn attempt<T>(
    sp: &mut Transaction<'_>,
    foreseen: &SqlState,
    f: impl FnOnce(&mut Transaction<'_>) -> Result<T, postgres::Error>,
) -> Result<Attempt<T>, postgres::Error> {
    match isolated(sp, f)? {
        Err(e) if e.code() != Some(foreseen) => Err(e),
        done => Ok(done),
    }
}

/// Runs `f` in a savepoint of `sp`: `Ok(Ok(value))` when it succeeds (the
/// savepoint is released), `Ok(Err(error))` when it fails in any way (the
/// savepoint is rolled back, the transaction usable).
pub(crate) fn isolated<T>(
    sp: &mut Transaction<'_>,
    f: impl FnOnce(&mut Transaction<'_>) -> Result<T, postgres::Error>,
) -> Result<Attempt<T>, postgres::Error> {
    let mut savepoint = sp.transaction()?;
    match f(&mut savepoint) {
        Ok(value) => {
            savepoint.commit()?;
            Ok(Ok(value))
        }
        Err(e) => {
            savepoint.rollback()?;
            Ok(Err(e))
        }
    }
}
