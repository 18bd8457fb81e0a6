use super::*;
use crate::catalog::swap::{ColumnSettings, Policy, SizeAndSettings};
use crate::catalog::{Carried, Facts, Session};
use crate::diff::changes;
use crate::fixtures::{col, live_orders, ORDERS as TABLE};
use crate::plan::{LockMode, NewTableKind, Run, Stage};

fn live() -> LiveTable {
    live_orders(["id", "customer", "note"])
}

fn swap_facts(estimated_rows: f64) -> SwapFacts {
    SwapFacts {
        carried: Carried {
            owner: "me".into(),
            ..Carried::default()
        },
        dependents: Vec::new(),
        settings: SizeAndSettings {
            estimated_rows: Some(estimated_rows),
            uncarried: Vec::new(),
            kept: Default::default(),
        },
        intermediate: "orders_pgbi_new".into(),
        may_create_as_owner: true,
    }
}

fn gathered(live: Option<LiveTable>, facts: Facts) -> Gathered {
    Gathered {
        schema_exists: live.is_some(),
        live: live.map_or(Relation::Missing, Relation::Table),
        facts,
        session: Session {
            read_committed: true,
            open_cursors: false,
            ..Session::default()
        },
        swap: Some(swap_facts(1000.0)),
        views: Vec::new(),
        slice_partition: None,
    }
}

fn input(mode: Mode, rows_hint: u64) -> Input {
    Input {
        mode,
        rows_hint,
        single_table: true,
        shared: false,
        escalated: false,
    }
}

fn plan_with(g: &Gathered, options: Options, input: Input) -> Result<Plan, Refused> {
    let found = match &g.live {
        Relation::Table(live) if input.mode != Mode::Replace => changes(&TABLE, live, &g.facts),
        _ => Vec::new(),
    };
    decide(&TABLE, g, &found, &options, &input, Vec::new())
}

fn sql(plan: &Plan, stage: Stage) -> Vec<&str> {
    plan.steps_of(stage).flat_map(Step::statements).collect()
}

#[test]
fn a_missing_table_is_created_then_keyed_after_the_load() {
    let g = gathered(None, Facts::default());
    let plan = plan_with(&g, Options::default(), input(Mode::Insert, 0)).unwrap();
    assert_eq!(plan.path, Path::Create);
    assert_eq!(
        sql(&plan, Stage::Prepare),
        [
            r#"CREATE SCHEMA IF NOT EXISTS "sales""#,
            r#"CREATE TABLE "sales"."orders" ("id" bigint NOT NULL, "customer" character varying(32) NOT NULL, "note" text)"#
        ]
    );
    assert_eq!(
        sql(&plan, Stage::Load),
        [r#"COPY "sales"."orders" ("id", "customer", "note") FROM STDIN (FORMAT binary, FREEZE)"#]
    );
    assert_eq!(
        sql(&plan, Stage::Finish),
        [
            r#"ALTER TABLE "sales"."orders" ADD CONSTRAINT "orders_pkey" PRIMARY KEY ("id")"#,
            r#"CREATE INDEX "orders_customer_idx" ON "sales"."orders" USING "btree" ("customer")"#,
            r#"COMMENT ON INDEX "sales"."orders_customer_idx" IS 'pg-bulk-ingest'"#
        ]
    );
    assert!(sql(&plan, Stage::Swap).is_empty());
    // Without FREEZE where PostgreSQL refuses it.
    let mut g = gathered(None, Facts::default());
    g.session.open_cursors = true;
    let plan = plan_with(&g, Options::default(), input(Mode::Insert, 0)).unwrap();
    assert!(!sql(&plan, Stage::Load)[0].contains("FREEZE"));
}

#[test]
fn a_matching_table_needs_nothing_and_is_locked_before_the_copy() {
    let g = gathered(Some(live()), Facts::default());
    let plan = plan_with(&g, Options::default(), input(Mode::Insert, 0)).unwrap();
    assert_eq!(plan.path, Path::Nothing);
    assert_eq!(
        sql(&plan, Stage::Prepare),
        [r#"LOCK TABLE "sales"."orders" IN ROW EXCLUSIVE MODE"#]
    );
    assert_eq!(
        sql(&plan, Stage::Load),
        [r#"COPY "sales"."orders" ("id", "customer", "note") FROM STDIN (FORMAT binary)"#]
    );
    assert!(sql(&plan, Stage::Finish).is_empty() && sql(&plan, Stage::Swap).is_empty());
    // An upsert merges through a staging table.
    let plan = plan_with(&g, Options::default(), input(Mode::Upsert, 10)).unwrap();
    assert_eq!(plan.path, Path::Nothing);
    let finish = sql(&plan, Stage::Finish);
    assert!(
        finish[0].starts_with(r#"WITH merged AS (INSERT INTO "sales"."orders" AS t"#),
        "{plan}"
    );
    assert!(finish[0].contains("ON CONFLICT"), "{plan}");
    assert_eq!(
        finish[1],
        format!(
            "DROP TABLE pg_temp.\"{}\"",
            crate::sql::staging_name(&TABLE)
        )
    );
    assert!(matches!(
        plan.steps_of(Stage::Finish).next().unwrap().run,
        Run::Staged(_)
    ));
}

#[test]
fn an_upsert_by_rebuild_locks_first_and_copies_the_live_rows_after_the_load() {
    let g = gathered(Some(live()), Facts::default());
    let options = Options {
        strategy: UpsertStrategy::Rebuild,
        ..Options::default()
    };
    let plan = plan_with(&g, options, input(Mode::Upsert, 10)).unwrap();
    assert_eq!(plan.path, Path::UpsertByRebuild, "{plan}");
    let first = &plan.steps[0];
    assert_eq!(
        first.sql,
        r#"LOCK TABLE "sales"."orders" IN EXCLUSIVE MODE"#
    );
    assert_eq!(first.lock().unwrap().mode(), LockMode::Exclusive);
    assert_eq!(plan.steps[1].run, Run::Verify);
    let finish = sql(&plan, Stage::Finish);
    assert!(finish[0].contains("WHERE NOT EXISTS"), "{plan}");
    assert!(finish[1].contains("PRIMARY KEY"), "{plan}");
    assert!(matches!(
        plan.steps_of(Stage::Finish).nth(1).unwrap().run,
        Run::KeyAfterDedupe { .. }
    ));
    assert_eq!(
        sql(&plan, Stage::Swap)[..3],
        [
            r#"LOCK TABLE "sales"."orders" IN ACCESS EXCLUSIVE MODE"#,
            r#"DROP TABLE "sales"."orders""#,
            r#"ALTER TABLE "sales"."orders_pgbi_new" RENAME TO "orders""#
        ]
    );
    // The plan's text shows the order it runs in.
    let text = plan.to_string();
    let copy = text.find("COPY ").unwrap();
    assert!(text.find("IN EXCLUSIVE MODE").unwrap() < copy, "{text}");
    assert!(text.find("WHERE NOT EXISTS").unwrap() > copy, "{text}");
}

#[test]
fn auto_rebuilds_a_large_batch_with_the_merge_as_fallback() {
    let g = gathered(Some(live()), Facts::default());
    let plan = plan_with(&g, Options::default(), input(Mode::Upsert, 600)).unwrap();
    assert_eq!(plan.path, Path::Nothing, "below 100,000 rows: {plan}");
    let mut g = gathered(Some(live()), Facts::default());
    g.swap = Some(swap_facts(150_000.0));
    let plan = plan_with(&g, Options::default(), input(Mode::Upsert, 100_000)).unwrap();
    assert_eq!(plan.path, Path::UpsertByRebuild, "{plan}");
    assert_eq!(
        plan.steps[0].run,
        Run::TryLock {
            wait: AUTO_LOCK_WAIT
        }
    );
    assert_eq!(plan.fallback().unwrap().path, Path::Nothing);
    // Less than half the table: merged.
    let plan = plan_with(&g, Options::default(), input(Mode::Upsert, 70_000)).unwrap();
    assert_eq!(plan.path, Path::Nothing);
    // Something a rebuild can't carry: merged.
    g.swap.as_mut().unwrap().settings.uncarried = vec!["an unlogged table".into()];
    let plan = plan_with(&g, Options::default(), input(Mode::Upsert, 200_000)).unwrap();
    assert_eq!(plan.path, Path::Nothing);
}

#[test]
fn an_upsert_by_rebuild_needs_the_same_key() {
    // No key on the live table: its rows could collide under the new one.
    let mut keyless = live();
    keyless.primary_key.clear();
    let options = Options {
        strategy: UpsertStrategy::Rebuild,
        ..Options::default()
    };
    let g = gathered(Some(keyless), Facts::default());
    let plan = plan_with(&g, options.clone(), input(Mode::Upsert, 10)).unwrap();
    assert_eq!(plan.path, Path::Rebuild, "{plan}");
    // A key column of another type: a cast could make two keys equal.
    let mut narrow = live();
    narrow.columns[0] = col("id", "integer", false);
    let g = gathered(Some(narrow), Facts::default());
    let plan = plan_with(&g, options.clone(), input(Mode::Upsert, 10)).unwrap();
    assert_eq!(plan.path, Path::Rebuild, "{plan}");
    // The live rows go in first, keyed, and the batch is merged into them.
    let prepare = sql(&plan, Stage::Prepare);
    assert!(prepare[2].starts_with("INSERT INTO"), "{plan}");
    assert!(prepare[3].contains("PRIMARY KEY"), "{plan}");
    // A missing table is simply created.
    let g = gathered(None, Facts::default());
    let plan = plan_with(&g, options, input(Mode::Upsert, 10)).unwrap();
    assert_eq!(plan.path, Path::Create);
}

#[test]
fn widening_rebuilds_or_goes_in_place() {
    let mut l = live();
    l.columns[1].sql_type = "character varying(16)".into();
    let g = gathered(Some(l), Facts::default());
    let plan = plan_with(&g, Options::default(), input(Mode::Insert, 0)).unwrap();
    assert_eq!(plan.path, Path::Rebuild);
    assert_eq!(
        sql(&plan, Stage::Prepare)[0],
        r#"LOCK TABLE "sales"."orders" IN EXCLUSIVE MODE"#
    );
    let in_place = Options {
        in_place: true,
        ..Options::default()
    };
    let plan = plan_with(&g, in_place, input(Mode::Insert, 0)).unwrap();
    assert_eq!(plan.path, Path::InPlace);
    assert_eq!(
        sql(&plan, Stage::Swap)[..2],
        [
            r#"LOCK TABLE "sales"."orders" IN ACCESS EXCLUSIVE MODE"#,
            r#"ALTER TABLE "sales"."orders" ALTER COLUMN "customer" TYPE character varying(32)"#
        ]
    );
}

#[test]
fn losses_are_refused_unless_allowed() {
    let mut l = live();
    l.columns[1].sql_type = "character varying(64)".into();
    l.columns.push(col("old", "integer", true));
    let facts = Facts {
        has_rows: true,
        columns_with_data: vec!["old".into()],
        ..Facts::default()
    };
    let g = gathered(Some(l.clone()), facts.clone());
    let Err(Refused::Changes(refused)) = plan_with(&g, Options::default(), input(Mode::Insert, 0))
    else {
        panic!("refused");
    };
    let text: Vec<String> = refused.iter().map(ToString::to_string).collect();
    assert_eq!(
        text,
        [
            r#"would lose values of column "customer" that don't fit when character varying(64) becomes character varying(32)"#,
            r#"would lose column "old" and the data it holds"#,
        ]
    );
    let allowed = Options {
        allow_data_loss: true,
        ..Options::default()
    };
    let plan = plan_with(&g, allowed, input(Mode::Insert, 0)).unwrap();
    assert_eq!(plan.path, Path::Rebuild);
    // Without rows, nothing is lost.
    let g = gathered(Some(l), Facts::default());
    assert!(plan_with(&g, Options::default(), input(Mode::Insert, 0)).is_ok());
}

#[test]
fn a_new_not_null_column_needs_a_default_on_a_table_with_rows() {
    let mut l = live();
    l.columns.retain(|c| c.name != "customer");
    l.indexes.clear();
    let facts = Facts {
        has_rows: true,
        ..Facts::default()
    };
    let g = gathered(Some(l), facts);
    assert_eq!(
        plan_with(&g, Options::default(), input(Mode::Insert, 0)),
        Err(Refused::Changes(vec![Refusal::NotNullWithoutDefault {
            column: "customer".into()
        }]))
    );
}

#[test]
fn rebuilds_need_read_committed_and_nothing_a_swap_would_lose() {
    let mut l = live();
    l.columns[1].sql_type = "character varying(16)".into();
    let mut g = gathered(Some(l), Facts::default());
    g.session.read_committed = false;
    assert!(matches!(
        plan_with(&g, Options::default(), input(Mode::Insert, 0)),
        Err(Refused::Unsupported(_))
    ));
    g.session.read_committed = true;
    g.swap.as_mut().unwrap().settings.uncarried = vec!["an unlogged table".into()];
    assert_eq!(
        plan_with(&g, Options::default(), input(Mode::Replace, 0)),
        Err(Refused::Dependents(vec!["an unlogged table".into()]))
    );
}

#[test]
fn the_auto_lock_is_tried_no_longer_than_the_lock_timeout() {
    let mut g = gathered(Some(live()), Facts::default());
    g.swap = Some(swap_facts(150_000.0));
    let options = Options {
        lock_timeout: Some(Duration::from_millis(300)),
        ..Options::default()
    };
    let plan = plan_with(&g, options, input(Mode::Upsert, 100_000)).unwrap();
    assert_eq!(
        plan.steps[0].run,
        Run::TryLock {
            wait: Duration::from_millis(300)
        }
    );
}

#[test]
fn a_swap_moves_a_serial_and_loses_nothing_else_it_does_not_know() {
    use crate::catalog::swap::Dependent;
    let dependent = |description: &str, index: Option<&str>, sequence: Option<&str>| Dependent {
        description: description.into(),
        index: index.map(Into::into),
        sequence: sequence.map(Into::into),
        view: false,
    };
    let mut l = live();
    l.columns[0].default = Some("nextval('sales._tmp_x_id_seq'::regclass)".into());
    l.columns[0].serial = Some("_tmp_x_id_seq".into());
    let mut g = gathered(Some(l), Facts::default());
    let sequence = dependent("sequence sales._tmp_x_id_seq", None, Some("_tmp_x_id_seq"));
    g.swap.as_mut().unwrap().dependents = vec![sequence.clone()];
    let plan = plan_with(&g, Options::default(), input(Mode::Replace, 0)).unwrap();
    let swap = sql(&plan, Stage::Swap);
    let moved = swap
        .iter()
        .position(|s| {
            *s == "ALTER SEQUENCE \"sales\".\"_tmp_x_id_seq\" OWNED BY \
                   \"sales\".\"orders_pgbi_new\".\"id\""
        })
        .expect("the sequence is moved");
    assert_eq!(
        swap[moved + 1],
        "ALTER TABLE \"sales\".\"orders_pgbi_new\" ALTER COLUMN \"id\" SET DEFAULT \
         pg_catalog.nextval('\"sales\".\"_tmp_x_id_seq\"'::regclass)"
    );
    assert!(swap[moved + 2].starts_with("DROP TABLE"), "{swap:?}");
    // A unique constraint on a column the definition declares no unique
    // index on, and a sequence owned by a column that isn't a serial, would
    // be lost.
    g.swap.as_mut().unwrap().dependents = vec![
        sequence,
        dependent(
            "constraint orders_customer_key on table sales.orders",
            Some("orders_customer_key"),
            None,
        ),
        dependent("sequence sales.other_seq", None, Some("other_seq")),
    ];
    assert_eq!(
        plan_with(&g, Options::default(), input(Mode::Replace, 0)),
        Err(Refused::Dependents(vec![
            "constraint orders_customer_key on table sales.orders".into(),
            "sequence sales.other_seq".into()
        ]))
    );
}

#[test]
fn a_swap_sets_the_live_settings_then_runs_the_hook() {
    let mut g = gathered(Some(live()), Facts::default());
    let kept = &mut g.swap.as_mut().unwrap().settings.kept;
    kept.storage = vec![
        "fillfactor=70".into(),
        "toast.autovacuum_enabled=false".into(),
    ];
    kept.replica_identity = Some('n');
    kept.row_security = true;
    kept.columns = vec![ColumnSettings {
        name: "note".into(),
        statistics: Some(0),
        ..ColumnSettings::default()
    }];
    kept.policies = vec![policy("mine", &["customer"])];
    let options = Options {
        on_new_table: true,
        ..Options::default()
    };
    let plan = plan_with(&g, options.clone(), input(Mode::Replace, 0)).unwrap();
    let prepare: Vec<&Step> = plan.steps_of(Stage::Prepare).collect();
    assert!(prepare[0]
        .sql
        .starts_with(r#"CREATE TABLE "sales"."orders_pgbi_new""#));
    assert_eq!(
        prepare[1].sql,
        r#"ALTER TABLE "sales"."orders_pgbi_new" SET ("fillfactor" = '70', toast."autovacuum_enabled" = 'false'), REPLICA IDENTITY NOTHING, ENABLE ROW LEVEL SECURITY, ALTER COLUMN "note" SET STATISTICS 0"#
    );
    assert_eq!(
        prepare[2].sql,
        r#"CREATE POLICY "mine" ON "sales"."orders_pgbi_new" AS PERMISSIVE FOR ALL TO PUBLIC USING ((customer = CURRENT_USER))"#
    );
    assert_eq!(
        prepare[3].run,
        Run::NewTable {
            kind: NewTableKind::Intermediate,
            table: "orders_pgbi_new".into()
        }
    );
    assert!(prepare[3].sql.is_empty() && prepare[3].statements().is_empty());
    // Without a hook, no step for it; a created table and a staging table
    // get one each.
    let plan = plan_with(&g, Options::default(), input(Mode::Replace, 0)).unwrap();
    assert!(!plan
        .steps
        .iter()
        .any(|s| matches!(s.run, Run::NewTable { .. })));
    let plan = plan_with(&g, options.clone(), input(Mode::Upsert, 10)).unwrap();
    let kinds: Vec<NewTableKind> = plan
        .steps
        .iter()
        .filter_map(|s| match &s.run {
            Run::NewTable { kind, .. } => Some(*kind),
            _ => None,
        })
        .collect();
    assert_eq!(kinds, [NewTableKind::Staging]);
    let g = gathered(None, Facts::default());
    let plan = plan_with(&g, options, input(Mode::Insert, 0)).unwrap();
    assert!(matches!(
        plan.steps_of(Stage::Prepare).nth(2).map(|s| &s.run),
        Some(Run::NewTable {
            kind: NewTableKind::Created,
            ..
        })
    ));
}

fn policy(name: &str, reads: &[&str]) -> Policy {
    Policy {
        name: name.into(),
        permissive: true,
        command: '*',
        roles: vec![None],
        using: Some("(customer = CURRENT_USER)".into()),
        check: None,
        reads: reads.iter().map(|r| r.to_string()).collect(),
        names_its_table: false,
    }
}

#[test]
fn a_policy_that_reads_a_column_the_new_table_lacks_is_refused() {
    let mut g = gathered(Some(live()), Facts::default());
    g.swap.as_mut().unwrap().settings.kept.policies = vec![
        policy("mine", &["customer"]),
        policy("old", &["id", "gone"]),
    ];
    assert_eq!(
        plan_with(&g, Options::default(), input(Mode::Replace, 0)),
        Err(Refused::Dependents(vec![
            "policy old (reads gone, which the new table lacks or types otherwise)".into()
        ]))
    );
}
