//! `Ingest::on_new_table`: the hook runs on each table a call creates (the
//! table created from nothing, the new table of a swap, the staging table of
//! a merge), right after it is created and before any row goes in, inside the
//! call's transaction; its error changes nothing; what it sets is kept by
//! later swaps, with or without the hook (storage parameters, a replica
//! identity, row level security and policies, column statistics targets),
//! as are storage parameters a user set on the live table.

use std::cell::RefCell;

use pg_bulk_ingest::plan::Path;
use pg_bulk_ingest::{BulkTable, Error, Ingest, Mode, NewTableKind, UpsertStrategy};
use postgres::GenericClient;

#[derive(BulkTable, Debug, Clone, PartialEq)]
#[bulk(schema = "Hook \"s\"", table = "Item s")]
struct Item {
    #[bulk(primary_key)]
    id: i64,
    name: String,
}

/// The same table with one more column: a migration that rebuilds it.
#[derive(BulkTable, Debug, Clone, PartialEq)]
#[bulk(schema = "Hook \"s\"", table = "Item s")]
struct ItemMore {
    #[bulk(primary_key)]
    id: i64,
    name: String,
    more: Option<i32>,
}

const TABLE: &str = r#""Hook ""s"""."Item s""#;

fn items(n: i64, version: &str) -> Vec<Item> {
    (0..n)
        .map(|id| Item {
            id,
            name: format!("{version} {id}"),
        })
        .collect()
}

fn contents(client: &mut impl GenericClient) -> Vec<String> {
    client
        .query(
            &format!("SELECT x::text FROM {TABLE} AS x ORDER BY id"),
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

fn oid(client: &mut impl GenericClient) -> u32 {
    client
        .query_one("SELECT $1::text::regclass::oid", &[&TABLE])
        .unwrap()
        .get(0)
}

/// The table's storage parameters, then its TOAST table's (prefixed `toast.`).
fn reloptions(client: &mut impl GenericClient) -> Vec<String> {
    client
        .query_one(
            "SELECT coalesce(c.reloptions, '{}') || ARRAY(SELECT 'toast.' || o \
             FROM pg_catalog.pg_class t, pg_catalog.unnest(t.reloptions) o \
             WHERE t.oid = c.reltoastrelid) \
             FROM pg_catalog.pg_class c WHERE c.oid = $1::text::regclass",
            &[&TABLE],
        )
        .unwrap()
        .get(0)
}

/// What the hook saw: its kind, the table's quoted name, the table the call
/// loads, and how many rows the new table held.
type Seen = RefCell<Vec<(NewTableKind, String, String, i64)>>;

/// An `Ingest` whose hook records what it sees and sets `fillfactor` on
/// every table but the staging one.
fn recording(seen: &Seen, fillfactor: u32) -> Ingest<'_> {
    Ingest::new().on_new_table(move |tx, table| {
        let rows: i64 = tx
            .query_one(&format!("SELECT count(*) FROM {}", table.qualified()), &[])?
            .get(0);
        seen.borrow_mut().push((
            table.kind(),
            table.qualified().to_string(),
            table.table().to_string(),
            rows,
        ));
        if table.kind() != NewTableKind::Staging {
            tx.batch_execute(&format!(
                "ALTER TABLE {} SET (fillfactor = {fillfactor})",
                table.qualified()
            ))?;
        }
        Ok(())
    })
}

#[test]
fn the_hook_runs_on_each_table_a_call_creates_before_its_rows() {
    let db = pg_bulk_ingest_testkit::server().create_database("hook_runs");
    let mut client = db.connect();
    let seen = Seen::default();
    let take = || std::mem::take(&mut *seen.borrow_mut());
    let intermediate = r#""Hook ""s"""."Item s_pgbi_new""#.to_owned();

    // Created from nothing.
    let mut tx = client.transaction().unwrap();
    recording(&seen, 70)
        .insert(&mut tx, items(10, "v1"))
        .unwrap();
    tx.commit().unwrap();
    assert_eq!(
        take(),
        [(NewTableKind::Created, TABLE.into(), TABLE.into(), 0)]
    );
    assert_eq!(reloptions(&mut client), ["fillfactor=70"]);

    // An insert into a table that matches creates nothing.
    let mut tx = client.transaction().unwrap();
    recording(&seen, 70)
        .insert(
            &mut tx,
            [Item {
                id: 10,
                name: "v1 10".into(),
            }],
        )
        .unwrap();
    tx.commit().unwrap();
    assert_eq!(take(), []);

    // The new table of a replace.
    let mut tx = client.transaction().unwrap();
    recording(&seen, 60)
        .replace(&mut tx, items(20, "v2"))
        .unwrap();
    tx.commit().unwrap();
    assert_eq!(
        take(),
        [(
            NewTableKind::Intermediate,
            intermediate.clone(),
            TABLE.into(),
            0
        )]
    );
    assert_eq!(reloptions(&mut client), ["fillfactor=60"]);
    assert_eq!(contents(&mut client).len(), 20);

    // The new table of an upsert by rebuild: before the live rows are copied.
    let mut tx = client.transaction().unwrap();
    recording(&seen, 50)
        .upsert_strategy(UpsertStrategy::Rebuild)
        .upsert(&mut tx, items(5, "v3"))
        .unwrap();
    tx.commit().unwrap();
    assert_eq!(
        take(),
        [(NewTableKind::Intermediate, intermediate, TABLE.into(), 0)]
    );
    assert_eq!(reloptions(&mut client), ["fillfactor=50"]);
    let rows = contents(&mut client);
    assert_eq!((rows.len(), &rows[0][..]), (20, r#"(0,"v3 0")"#));

    // The staging table of a merge.
    let mut tx = client.transaction().unwrap();
    recording(&seen, 40)
        .upsert_strategy(UpsertStrategy::Merge)
        .upsert(&mut tx, items(3, "v4"))
        .unwrap();
    tx.commit().unwrap();
    let seen_now = take();
    assert_eq!(seen_now.len(), 1);
    let (kind, name, table, rows) = &seen_now[0];
    assert_eq!(
        (*kind, &table[..], *rows),
        (NewTableKind::Staging, TABLE, 0)
    );
    assert!(
        name.starts_with(r#""pg_temp"."pg_bulk_ingest_staging_Item s_"#),
        "{name}"
    );
    assert_eq!(reloptions(&mut client), ["fillfactor=50"]);
}

#[test]
fn what_the_hook_does_is_part_of_the_callers_transaction() {
    let db = pg_bulk_ingest_testkit::server().create_database("hook_tx");
    let mut client = db.connect();
    let seen = Seen::default();
    let mut tx = client.transaction().unwrap();
    recording(&seen, 70)
        .insert(&mut tx, items(3, "v1"))
        .unwrap();
    tx.commit().unwrap();

    // Rolled back with the caller's transaction.
    let mut tx = client.transaction().unwrap();
    recording(&seen, 30)
        .replace(&mut tx, items(3, "v2"))
        .unwrap();
    assert_eq!(reloptions(&mut tx), ["fillfactor=30"]);
    tx.rollback().unwrap();
    assert_eq!(reloptions(&mut client), ["fillfactor=70"]);
    assert_eq!(seen.borrow().len(), 2);
}

#[test]
fn a_hook_error_changes_nothing_and_leaves_the_transaction_usable() {
    let db = pg_bulk_ingest_testkit::server().create_database("hook_error");
    let mut client = db.connect();
    let mut tx = client.transaction().unwrap();
    pg_bulk_ingest::insert(&mut tx, items(5, "v1")).unwrap();
    tx.commit().unwrap();
    let (before, rows) = (oid(&mut client), contents(&mut client));

    // The hook's own error.
    let mut tx = client.transaction().unwrap();
    let err = Ingest::new()
        .on_new_table(|_, _| Err("not on this cluster".into()))
        .replace(&mut tx, items(9, "v2"))
        .unwrap_err();
    match &err {
        Error::NewTableHook {
            table, new_table, ..
        } => {
            assert_eq!(table, TABLE);
            assert_eq!(new_table, r#""Hook ""s"""."Item s_pgbi_new""#);
        }
        other => panic!("expected NewTableHook, got {other:?}"),
    }
    assert!(err.to_string().contains("not on this cluster"), "{err}");
    // The transaction goes on, and the table is as it was.
    assert_eq!(contents(&mut tx), rows);
    pg_bulk_ingest::insert(
        &mut tx,
        [Item {
            id: 5,
            name: "x".into(),
        }],
    )
    .unwrap();
    tx.commit().unwrap();
    assert_eq!(oid(&mut client), before);
    assert_eq!(contents(&mut client).len(), 6);
    assert_eq!(reloptions(&mut client), Vec::<String>::new());

    // A server error the hook passes on, and one it drops (the savepoint is
    // then aborted): both fail the call the same way.
    for swallow in [false, true] {
        let mut tx = client.transaction().unwrap();
        let err = Ingest::new()
            .on_new_table(move |tx, table| {
                let sql = format!("ALTER TABLE {} SET (no_such_option = 1)", table.qualified());
                match tx.batch_execute(&sql) {
                    Err(_) if swallow => Ok(()),
                    other => Ok(other?),
                }
            })
            .upsert_strategy(UpsertStrategy::Rebuild)
            .upsert(&mut tx, items(2, "v3"))
            .unwrap_err();
        assert!(matches!(err, Error::NewTableHook { .. }), "{err:?}");
        assert_eq!(contents(&mut tx).len(), 6);
        tx.commit().unwrap();
        assert_eq!(oid(&mut client), before);
    }
}

#[test]
fn what_the_hook_sets_is_kept_and_a_rerun_plans_nothing() {
    let db = pg_bulk_ingest_testkit::server().create_database("hook_kept");
    let mut client = db.connect();
    let seen = Seen::default();
    let mut tx = client.transaction().unwrap();
    recording(&seen, 70)
        .insert(&mut tx, items(5, "v1"))
        .unwrap();
    tx.commit().unwrap();

    // A re-run, with or without the hook, changes nothing.
    for ingest in [recording(&seen, 70), Ingest::new()] {
        for mode in [Mode::Insert, Mode::Upsert] {
            let plans = ingest.plan::<Item>(&mut client, mode).unwrap();
            assert_eq!(plans[0].path(), Path::Nothing, "{}", plans[0]);
        }
    }

    // The plan of a replace shows the carried storage parameters, and the
    // hook's step where it has one.
    let plans = recording(&seen, 70)
        .plan::<Item>(&mut client, Mode::Replace)
        .unwrap();
    let shown = plans[0].to_string();
    assert!(
        shown.contains(r#"ALTER TABLE "Hook ""s"""."Item s_pgbi_new" SET ("fillfactor" = '70')"#),
        "{shown}"
    );
    assert!(shown.contains("-- on_new_table runs on"), "{shown}");
    let plans = Ingest::new()
        .plan::<Item>(&mut client, Mode::Replace)
        .unwrap();
    assert!(!plans[0].to_string().contains("on_new_table"));

    // A replace without the hook keeps what the hook set.
    let mut tx = client.transaction().unwrap();
    pg_bulk_ingest::replace(&mut tx, items(4, "v2")).unwrap();
    tx.commit().unwrap();
    assert_eq!(reloptions(&mut client), ["fillfactor=70"]);
    assert_eq!(contents(&mut client).len(), 4);
}

#[test]
fn storage_parameters_a_user_set_are_carried_by_every_swap() {
    let db = pg_bulk_ingest_testkit::server().create_database("hook_storage");
    let mut client = db.connect();
    let mut tx = client.transaction().unwrap();
    pg_bulk_ingest::insert(&mut tx, items(5, "v1")).unwrap();
    tx.commit().unwrap();
    client
        .batch_execute(&format!(
            "ALTER TABLE {TABLE} SET (fillfactor = 80, autovacuum_enabled = false, \
             toast.autovacuum_enabled = false, autovacuum_vacuum_scale_factor = 0.05)"
        ))
        .unwrap();
    let set = reloptions(&mut client);
    assert_eq!(set.len(), 4, "{set:?}");

    let mut tx = client.transaction().unwrap();
    pg_bulk_ingest::replace(&mut tx, items(7, "v2")).unwrap();
    tx.commit().unwrap();
    assert_eq!(reloptions(&mut client), set);

    let before = oid(&mut client);
    let mut tx = client.transaction().unwrap();
    Ingest::new()
        .upsert_strategy(UpsertStrategy::Rebuild)
        .upsert(&mut tx, items(3, "v3"))
        .unwrap();
    tx.commit().unwrap();
    assert_ne!(oid(&mut client), before);
    assert_eq!(reloptions(&mut client), set);
    assert_eq!(contents(&mut client).len(), 7);

    // A migration's rebuild carries them too.
    let before = oid(&mut client);
    let mut tx = client.transaction().unwrap();
    let more = ItemMore {
        id: 100,
        name: "more".into(),
        more: Some(1),
    };
    pg_bulk_ingest::insert(&mut tx, [more]).unwrap();
    tx.commit().unwrap();
    assert_ne!(oid(&mut client), before);
    assert_eq!(reloptions(&mut client), set);
    assert_eq!(contents(&mut client).len(), 8);

    // With a hook, the hook's value wins over the carried one.
    let seen = Seen::default();
    let mut tx = client.transaction().unwrap();
    recording(&seen, 55)
        .replace(
            &mut tx,
            [ItemMore {
                id: 1,
                name: "v4".into(),
                more: None,
            }],
        )
        .unwrap();
    tx.commit().unwrap();
    let now = reloptions(&mut client);
    assert!(now.contains(&"fillfactor=55".to_owned()), "{now:?}");
    assert_eq!(now.len(), 4, "{now:?}");
}

#[test]
fn storage_parameters_changed_while_a_replace_runs_fail_its_swap() {
    let db = pg_bulk_ingest_testkit::server().create_database("hook_changed");
    let mut client = db.connect();
    let mut tx = client.transaction().unwrap();
    pg_bulk_ingest::insert(&mut tx, items(5, "v1")).unwrap();
    tx.commit().unwrap();
    let before = oid(&mut client);

    // The hook runs while the call does: another session changes the live
    // table then (ALTER TABLE SET takes a lock the call doesn't block).
    let mut tx = client.transaction().unwrap();
    let err = Ingest::new()
        .on_new_table(|_, _| {
            let mut other = db.connect();
            other.batch_execute(&format!("ALTER TABLE {TABLE} SET (fillfactor = 90)"))?;
            Ok(())
        })
        .replace(&mut tx, items(3, "v2"))
        .unwrap_err();
    tx.commit().unwrap();
    match &err {
        Error::Dependents { dependents, .. } => assert_eq!(
            dependents,
            &["storage parameters (fillfactor=90) (changed while the call ran)"]
        ),
        other => panic!("expected Dependents, got {other:?}"),
    }
    assert_eq!(oid(&mut client), before);
    assert_eq!(contents(&mut client).len(), 5);
}

/// The settings of the table a swap carries besides storage parameters:
/// `relreplident`, `relrowsecurity`, its policies (name, roles, `USING`) and
/// the statistics target of `name` (`None` for the default: -1 up to
/// PostgreSQL 16, NULL from 17).
type Kept = (
    String,
    bool,
    Vec<(String, Vec<String>, String)>,
    Option<i32>,
);

fn kept(client: &mut impl GenericClient) -> Kept {
    let row = client
        .query_one(
            "SELECT c.relreplident::text, c.relrowsecurity, \
                    (SELECT CASE WHEN a.attstattarget >= 0 THEN a.attstattarget::int4 END \
                     FROM pg_catalog.pg_attribute a \
                     WHERE a.attrelid = c.oid AND a.attname = 'name') \
             FROM pg_catalog.pg_class c WHERE c.oid = $1::text::regclass",
            &[&TABLE],
        )
        .unwrap();
    let policies = client
        .query(
            "SELECT policyname::text, roles::text[], qual FROM pg_catalog.pg_policies \
             WHERE schemaname = 'Hook \"s\"' AND tablename = 'Item s' ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    (row.get(0), row.get(1), policies, row.get(2))
}

/// A hook that gives a swap's new table a replica identity, row level
/// security with a policy (made again on a re-run) and a statistics target.
fn with_settings<'a>() -> Ingest<'a> {
    Ingest::new().on_new_table(|tx, table| {
        if table.kind() == NewTableKind::Intermediate {
            let t = table.qualified();
            tx.batch_execute(&format!(
                "ALTER TABLE {t} REPLICA IDENTITY FULL, ENABLE ROW LEVEL SECURITY, \
                   ALTER COLUMN name SET STATISTICS 321;
                 DROP POLICY IF EXISTS \"it's mine\" ON {t};
                 CREATE POLICY \"it's mine\" ON {t} AS RESTRICTIVE FOR SELECT \
                   TO CURRENT_USER USING (name <> 'hidden')"
            ))?;
        }
        Ok(())
    })
}

#[test]
fn replica_identity_row_security_and_statistics_the_hook_sets_are_kept() {
    let db = pg_bulk_ingest_testkit::server().create_database("hook_settings");
    let mut client = db.connect();
    let user: String = client
        .query_one("SELECT current_user::text", &[])
        .unwrap()
        .get(0);
    let mut tx = client.transaction().unwrap();
    pg_bulk_ingest::insert(&mut tx, items(5, "v1")).unwrap();
    tx.commit().unwrap();
    assert_eq!(kept(&mut client), ("d".into(), false, vec![], None));

    let mut tx = client.transaction().unwrap();
    with_settings().replace(&mut tx, items(6, "v2")).unwrap();
    tx.commit().unwrap();
    let set: Kept = (
        "f".into(),
        true,
        vec![(
            "it's mine".into(),
            vec![user.clone()],
            "(name <> 'hidden'::text)".into(),
        )],
        Some(321),
    );
    assert_eq!(kept(&mut client), set);

    // A replace without the hook is not refused, and keeps them; its plan
    // shows them.
    let plans = Ingest::new()
        .plan::<Item>(&mut client, Mode::Replace)
        .unwrap();
    let shown = plans[0].to_string();
    assert!(
        shown.contains(
            r#"ALTER TABLE "Hook ""s"""."Item s_pgbi_new" REPLICA IDENTITY FULL, ENABLE ROW LEVEL SECURITY, ALTER COLUMN "name" SET STATISTICS 321"#
        ),
        "{shown}"
    );
    assert!(
        shown.contains(&format!(
            r#"CREATE POLICY "it's mine" ON "Hook ""s"""."Item s_pgbi_new" AS RESTRICTIVE FOR SELECT TO "{user}" USING ((name <> 'hidden'::text))"#
        )),
        "{shown}"
    );
    let before = oid(&mut client);
    let mut tx = client.transaction().unwrap();
    pg_bulk_ingest::replace(&mut tx, items(7, "v3")).unwrap();
    tx.commit().unwrap();
    assert_ne!(oid(&mut client), before);
    assert_eq!(kept(&mut client), set);
    assert_eq!(contents(&mut client).len(), 7);

    // An upsert by rebuild and a migration's rebuild keep them too, and so
    // does a replace with the hook again.
    let mut tx = client.transaction().unwrap();
    Ingest::new()
        .upsert_strategy(UpsertStrategy::Rebuild)
        .upsert(&mut tx, items(8, "v4"))
        .unwrap();
    let more = ItemMore {
        id: 100,
        name: "more".into(),
        more: Some(1),
    };
    pg_bulk_ingest::insert(&mut tx, [more]).unwrap();
    tx.commit().unwrap();
    assert_eq!(kept(&mut client), set);
    assert_eq!(contents(&mut client).len(), 9);
    let mut tx = client.transaction().unwrap();
    let again = (0..2).map(|id| ItemMore {
        id,
        name: format!("v5 {id}"),
        more: None,
    });
    with_settings().replace(&mut tx, again).unwrap();
    tx.commit().unwrap();
    assert_eq!(kept(&mut client), set);
    assert_eq!(contents(&mut client).len(), 2);
}

#[derive(BulkTable, Debug, Clone, PartialEq)]
#[bulk(schema = "carry", table = "doc")]
struct Doc {
    #[bulk(primary_key)]
    id: i64,
    owner_name: String,
}

/// The same table with `owner_name` renamed to `owner`.
#[derive(BulkTable, Debug, Clone, PartialEq)]
#[bulk(schema = "carry", table = "doc")]
struct DocRenamed {
    #[bulk(primary_key)]
    id: i64,
    #[bulk(rename_from = "owner_name")]
    owner: String,
}

fn replace_docs(client: &mut postgres::Client) -> pg_bulk_ingest::Result<pg_bulk_ingest::Report> {
    let mut tx = client.transaction().unwrap();
    let result = pg_bulk_ingest::replace(
        &mut tx,
        vec![Doc {
            id: 1,
            owner_name: "a".into(),
        }],
    );
    tx.commit().unwrap();
    result
}

/// Policies a new table can't have as they are (one whose expression
/// reads the table itself, one of another table that reads it) fail a
/// swap before it does anything; a renamed column keeps its statistics
/// target.
#[test]
fn policies_naming_the_table_are_refused_and_renamed_columns_keep_their_settings() {
    let db = pg_bulk_ingest_testkit::server().create_database("carry_refused");
    let mut client = db.connect();
    replace_docs(&mut client).unwrap();
    let before = client
        .query_one("SELECT 'carry.doc'::regclass::oid", &[])
        .unwrap()
        .get::<_, u32>(0);
    let refused = |client: &mut postgres::Client, what: &str| match replace_docs(client) {
        Err(Error::Dependents { dependents, .. }) => {
            assert!(
                dependents.iter().any(|d| d.contains(what)),
                "{dependents:?}"
            );
            let now: u32 = client
                .query_one("SELECT 'carry.doc'::regclass::oid", &[])
                .unwrap()
                .get(0);
            assert_eq!(now, before, "the table was swapped");
        }
        other => panic!("{other:?}"),
    };

    // A policy whose expression reads its own table.
    client
        .batch_execute(
            "ALTER TABLE carry.doc ENABLE ROW LEVEL SECURITY; \
             CREATE POLICY own ON carry.doc USING \
               (owner_name IN (SELECT d.owner_name FROM carry.doc d WHERE d.id = 1))",
        )
        .unwrap();
    refused(
        &mut client,
        "policy own (its expressions name the table itself)",
    );
    client
        .batch_execute("DROP POLICY own ON carry.doc")
        .unwrap();

    // A policy of another table that reads this one.
    client
        .batch_execute(
            "CREATE TABLE carry.other (id int8); \
             ALTER TABLE carry.other ENABLE ROW LEVEL SECURITY; \
             CREATE POLICY reads_doc ON carry.other USING \
               (EXISTS (SELECT 1 FROM carry.doc d WHERE d.id = other.id))",
        )
        .unwrap();
    refused(&mut client, "reads_doc");
    client.batch_execute("DROP TABLE carry.other").unwrap();

    // A rebuild that renames a column keeps the column's statistics target.
    client
        .batch_execute("ALTER TABLE carry.doc ALTER COLUMN owner_name SET STATISTICS 321")
        .unwrap();
    let mut tx = client.transaction().unwrap();
    let report = pg_bulk_ingest::Ingest::new()
        .upsert_strategy(pg_bulk_ingest::UpsertStrategy::Rebuild)
        .upsert(
            &mut tx,
            vec![DocRenamed {
                id: 2,
                owner: "b".into(),
            }],
        )
        .unwrap();
    tx.commit().unwrap();
    assert!(report.tables[0]
        .plan
        .to_string()
        .contains("SET STATISTICS 321"));
    let target: Option<i32> = client
        .query_one(
            "SELECT CASE WHEN attstattarget >= 0 THEN attstattarget::int4 END \
             FROM pg_attribute WHERE attrelid = 'carry.doc'::regclass AND attname = 'owner'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(target, Some(321));
}
