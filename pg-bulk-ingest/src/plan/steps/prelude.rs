//! The steps of the prelude that lock the table's name: the advisory lock
//! taken before the catalog is read, exclusive or shared.

use crate::lock::{self, LockMode};
use crate::plan::{Lock, Run, Stage, Step};
use crate::table::TableDef;

/// The step that serialises calls on the table: a second call waits here
/// until the first one's transaction ends. Taken before the catalog is read.
pub(crate) fn advisory(def: &TableDef) -> Step {
    Step {
        stage: Stage::Prelude,
        sql: lock::advisory_table(def),
        lock: Some(Lock::new(LockMode::Advisory, def.name().to_string())),
        note: "serialises calls on the table".to_owned(),
        run: Run::Execute,
    }
}

/// The same lock, shared: calls that write rows into partitions run
/// together (each also locks the partitions it writes into); a call that
/// changes the table's definition waits for them, and they for it. With
/// `let_go`, the shared lock the call took while planning and let go of (in
/// a savepoint rolled back) before taking the exclusive one, since the plan
/// does not share it.
pub(crate) fn advisory_shared(def: &TableDef, let_go: bool) -> Step {
    Step {
        stage: Stage::Prelude,
        sql: lock::advisory_table_shared(def),
        lock: (!let_go).then(|| Lock::new(LockMode::AdvisoryShared, def.name().to_string())),
        note: if let_go {
            "taken while planning and let go of (its savepoint rolled back): the call \
             takes the lock exclusively"
        } else {
            "shared with calls that write into other partitions; a call changing the \
             table's definition waits for it"
        }
        .to_owned(),
        run: Run::Execute,
    }
}
