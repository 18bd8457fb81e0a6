//! A call executes exactly the plan it shows: for every path, the statements
//! the call sent to the server (read back from the server's log, with
//! `log_statement = 'all'` for the call's session) are the plan's steps, in
//! order, and that plan is the one `plan()` returned before the call.
//!
//! What the log holds besides the steps and is left out of the comparison:
//! the catalog reads of planning (and of the steps that read it again), its
//! probes (temporary tables in a savepoint rolled back at once), the
//! savepoints the executor wraps steps in, the `SET LOCAL lock_timeout` of
//! each attempt at a lock, the call's `client_connection_check_interval`
//! (a setting of the session for the call, not a step of a table's plan),
//! and the test's own transaction statements.

use pg_bulk_ingest::plan::{Path, Stage};
use pg_bulk_ingest::{BulkTable, Ingest, Mode, Plan, Report, UpsertStrategy};
use pg_bulk_ingest_testkit::major;
use postgres::Client;

/// The server log of the throw-away cluster. These tests read what the server
/// received, so they need one (not a `DATABASE_URL` server).
fn server_log() -> std::path::PathBuf {
    pg_bulk_ingest_testkit::server()
        .cluster()
        .expect(
            "these tests read the server's log: run them on a throw-away cluster \
             (unset DATABASE_URL)",
        )
        .server_log()
}

fn connect(name: &str) -> (pg_bulk_ingest_testkit::TestDb, Client) {
    let db = pg_bulk_ingest_testkit::server().create_database(name);
    let client = db.connect();
    (db, client)
}

/// Every statement backend `pid` logged after byte `from` of the log, one
/// entry per round trip (a simple query of several statements is one entry).
fn logged(pid: i32, from: u64) -> Vec<String> {
    let log = std::fs::read(server_log()).unwrap();
    let log = String::from_utf8_lossy(&log[from as usize..]).into_owned();
    let tag = format!("[{pid}] ");
    let mut out: Vec<String> = Vec::new();
    let mut current: Option<String> = None;
    for line in log.lines() {
        // A new log line starts with the timestamp; others continue the last.
        let starts = line.len() > 4 && line[..4].bytes().all(|b| b.is_ascii_digit());
        if !starts {
            // The server indents the lines after the first with a tab.
            if let Some(statement) = current.as_mut() {
                statement.push('\n');
                statement.push_str(line.strip_prefix('\t').unwrap_or(line));
            }
            continue;
        }
        if let Some(statement) = current.take() {
            out.push(statement);
        }
        let Some(at) = line.find(&tag) else { continue };
        let rest = &line[at + tag.len()..];
        let statement = rest.strip_prefix("LOG:  statement: ").or_else(|| {
            rest.strip_prefix("LOG:  execute ")
                .and_then(|r| r.split_once(": ").map(|(_, s)| s))
        });
        current = statement.map(str::to_owned);
    }
    out.extend(current);
    out
}

/// The statements backend `pid` logged after byte `from` of the log, without
/// catalog reads, savepoints, lock timeouts and transaction statements. The
/// load stage's queries (`reads`: an upsert's greatest stored key, its
/// comparison before staging, its count of repeated appended keys) are
/// kept; the comparison's (`compare`), sent once per run of rows, is kept
/// once where it repeats.
fn sent(pid: i32, from: u64, compare: Option<&str>, reads: &[&str]) -> Vec<String> {
    let mut out = logged(pid, from);
    out.dedup_by(|a, b| Some(a.as_str()) == compare && a == b);
    out.retain(|s| {
        if reads.contains(&s.as_str()) {
            return true;
        }
        let upper = s.trim_start().to_ascii_uppercase();
        let wrapper = [
            "SAVEPOINT",
            "RELEASE",
            "ROLLBACK",
            "START TRANSACTION",
            "COMMIT",
            "SET LOCAL LOCK_TIMEOUT",
            "SET LOCAL CLIENT_CONNECTION_CHECK_INTERVAL",
            "RESET LOG_STATEMENT",
        ]
        .iter()
        .any(|w| upper.starts_with(w));
        // The merge is a `WITH merged AS (INSERT ...) SELECT count(*) ...`.
        // The merge counted by the row counters is one simple query that
        // starts with a SELECT of them.
        let catalog_read = (upper.starts_with("SELECT") || upper.starts_with("WITH"))
            && !upper.contains("PG_ADVISORY_XACT_LOCK")
            && !upper.contains("; MERGE INTO")
            && !upper.contains("; INSERT INTO")
            && !upper.starts_with("WITH MERGED AS (INSERT")
            && !upper.contains("), MERGED AS (INSERT");
        // Planning's probes: temporary tables in a savepoint rolled back.
        let probe = upper.contains("PG_BULK_INGEST_REWRITE_PROBE")
            || upper.contains("PG_BULK_INGEST_DEFAULT_PROBE");
        !wrapper && !catalog_read && !probe
    });
    out
}

/// Runs `call` in a transaction of `client` with every statement logged, and
/// returns its report and the statements it sent.
fn traced(
    client: &mut Client,
    call: impl FnOnce(&mut postgres::Transaction<'_>) -> pg_bulk_ingest::Result<Report>,
) -> (Report, Vec<String>) {
    let pid: i32 = client
        .query_one("SELECT pg_catalog.pg_backend_pid()", &[])
        .unwrap()
        .get(0);
    client.batch_execute("SET log_statement = 'all'").unwrap();
    let from = std::fs::metadata(server_log()).unwrap().len();
    let mut tx = client.transaction().unwrap();
    let report = call(&mut tx).unwrap();
    tx.commit().unwrap();
    client.batch_execute("RESET log_statement").unwrap();
    let plan = &report.tables[0].plan;
    let sent = sent(pid, from, compare_query(plan), &load_reads(plan));
    (report, sent)
}

/// The queries of the load stage.
fn load_reads(plan: &Plan) -> Vec<&str> {
    plan.steps()
        .iter()
        .filter(|s| s.stage() == Stage::Load && s.sql().starts_with("SELECT "))
        .map(|s| s.sql())
        .collect()
}

/// The statements of the load stage an upsert sends only where the batch
/// calls for them: the comparison's query (not when the first keys come out
/// of order), the COPY of rows appended straight into the table (rows whose
/// key is above the greatest stored one), and the count of appended keys a
/// later row repeats.
fn conditional(plan: &Plan) -> Vec<&str> {
    let appends = plan
        .steps()
        .iter()
        .any(|s| s.sql().starts_with("SELECT max("));
    plan.steps()
        .iter()
        .filter(|s| s.stage() == Stage::Load)
        .map(|s| s.sql())
        .filter(|sql| {
            (sql.starts_with("COPY ") && !sql.starts_with("COPY pg_temp.") && appends)
                || sql.starts_with("SELECT count(*)::int8, count(*) FILTER")
                || Some(*sql) == compare_query(plan)
        })
        .collect()
}

/// The query of an upsert's comparison before staging, when the plan has
/// one: a read in the load stage, of a range of keys.
fn compare_query(plan: &Plan) -> Option<&str> {
    load_reads(plan)
        .into_iter()
        .find(|sql| sql.contains(" LIMIT $3"))
}

/// The call sent exactly the statements of the plan it reports, and that
/// plan is `planned` (what `plan()` showed before the call).
fn check(report: &Report, sent: &[String], planned: &Plan) {
    let executed = &report.tables[0].plan;
    let sent: Vec<&str> = sent.iter().map(String::as_str).collect();
    let conditional = conditional(executed);
    let expected: Vec<&str> = executed
        .statements()
        .into_iter()
        .filter(|s| !conditional.contains(s) || sent.contains(s))
        .collect();
    assert_eq!(sent, expected, "\nthe plan:\n{executed}");
    assert_eq!(
        executed, planned,
        "plan() showed:\n{planned}\nthe call ran:\n{executed}"
    );
}

#[derive(BulkTable, Clone)]
#[bulk(schema = "p", table = "item")]
struct Item {
    #[bulk(primary_key)]
    id: i64,
    #[bulk(sql_type = "varchar(16)", index)]
    name: String,
    note: Option<String>,
}

/// The same table, its `name` wider (a rebuild, or in place).
#[derive(BulkTable, Clone)]
#[bulk(schema = "p", table = "item")]
struct Wider {
    #[bulk(primary_key)]
    id: i64,
    #[bulk(sql_type = "varchar(32)", index)]
    name: String,
    note: Option<String>,
}

fn items(ids: std::ops::Range<i64>) -> Vec<Item> {
    ids.map(|id| Item {
        id,
        name: format!("n{id}"),
        note: None,
    })
    .collect()
}

fn wider(ids: std::ops::Range<i64>) -> Vec<Wider> {
    ids.map(|id| Wider {
        id,
        name: format!("wide {id}"),
        note: Some("x".into()),
    })
    .collect()
}

fn seed(client: &mut Client) {
    let mut tx = client.transaction().unwrap();
    pg_bulk_ingest::insert(&mut tx, items(0..10)).unwrap();
    tx.commit().unwrap();
}

fn path(report: &Report) -> Path {
    report.tables[0].plan.path()
}

#[test]
fn create_for_each_mode() {
    for mode in [Mode::Insert, Mode::Upsert, Mode::Replace] {
        let (_db, mut client) = connect("steps_create");
        let planned = Ingest::new()
            .plan::<Item>(&mut client, mode)
            .unwrap()
            .remove(0);
        assert_eq!(planned.path(), Path::Create);
        let (report, sent) = traced(&mut client, |tx| match mode {
            Mode::Insert => pg_bulk_ingest::insert(tx, items(0..5)),
            Mode::Upsert => pg_bulk_ingest::upsert(tx, items(0..5)),
            _ => pg_bulk_ingest::replace(tx, items(0..5)),
        });
        check(&report, &sent, &planned);
    }
}

#[test]
fn nothing_to_change_insert_and_merge() {
    let (_db, mut client) = connect("steps_nothing");
    seed(&mut client);
    let planned = pg_bulk_ingest::plan::<Item>(&mut client, Mode::Insert).unwrap();
    assert_eq!(planned.path(), Path::Nothing);
    let (report, sent) = traced(&mut client, |tx| pg_bulk_ingest::insert(tx, items(10..20)));
    check(&report, &sent, &planned);

    let planned = pg_bulk_ingest::plan::<Item>(&mut client, Mode::Upsert).unwrap();
    assert_eq!(planned.path(), Path::Nothing);
    let (report, sent) = traced(&mut client, |tx| pg_bulk_ingest::upsert(tx, items(15..25)));
    check(&report, &sent, &planned);
    // The merge: MERGE from PostgreSQL 15, INSERT ... ON CONFLICT before.
    let merge = if major(&mut client) >= 15 {
        "; MERGE INTO"
    } else {
        "ON CONFLICT"
    };
    assert!(sent.iter().any(|s| s.contains(merge)), "{sent:#?}");
}

/// An upsert whose keys come out of order, some of them new: the
/// comparison's query is not sent (the first keys are out of order), the
/// rows of new keys go into the table after the COPY into the staging table
/// (from PostgreSQL 15), and the statements sent are the plan's, in its
/// order.
#[test]
fn new_keys_out_of_order_go_in_where_the_plan_says() {
    let (_db, mut client) = connect("steps_append_unordered");
    seed(&mut client);
    let planned = pg_bulk_ingest::plan::<Item>(&mut client, Mode::Upsert).unwrap();
    assert_eq!(planned.path(), Path::Nothing);
    let rows: Vec<Item> = [15, 12, 3, 14, 11]
        .into_iter()
        .flat_map(|id| items(id..id + 1))
        .collect();
    let (report, sent) = traced(&mut client, |tx| pg_bulk_ingest::upsert(tx, rows));
    check(&report, &sent, &planned);
    let appended = sent.iter().any(|s| s.starts_with(r#"COPY "p"."item""#));
    assert_eq!(appended, major(&mut client) >= 15, "{sent:#?}");
    let compared = compare_query(&report.tables[0].plan);
    assert!(
        !sent.iter().any(|s| Some(s.as_str()) == compared),
        "{sent:#?}"
    );
    let t = &report.tables[0];
    // Key 3 is stored with the same values.
    assert_eq!(
        (t.inserted, t.updated, t.unchanged),
        (Some(4), Some(0), Some(1))
    );
}

#[test]
fn in_place_for_insert_and_upsert() {
    for mode in [Mode::Insert, Mode::Upsert] {
        let (_db, mut client) = connect("steps_in_place");
        seed(&mut client);
        let ingest = || Ingest::new().in_place(true);
        let planned = ingest().plan::<Wider>(&mut client, mode).unwrap().remove(0);
        assert_eq!(planned.path(), Path::InPlace);
        let (report, sent) = traced(&mut client, |tx| match mode {
            Mode::Insert => ingest().insert(tx, wider(10..12)),
            _ => ingest().upsert(tx, wider(5..12)),
        });
        check(&report, &sent, &planned);
    }
}

#[test]
fn rebuild_for_insert_and_merge_into_the_rebuilt_table() {
    for (mode, strategy) in [
        (Mode::Insert, UpsertStrategy::Auto),
        (Mode::Upsert, UpsertStrategy::Merge),
    ] {
        let (_db, mut client) = connect("steps_rebuild");
        seed(&mut client);
        client
            .batch_execute("GRANT SELECT ON p.item TO PUBLIC; COMMENT ON TABLE p.item IS 'items'")
            .unwrap();
        let ingest = || Ingest::new().upsert_strategy(strategy);
        let planned = ingest().plan::<Wider>(&mut client, mode).unwrap().remove(0);
        assert_eq!(planned.path(), Path::Rebuild);
        let (report, sent) = traced(&mut client, |tx| match mode {
            Mode::Insert => ingest().insert(tx, wider(10..12)),
            _ => ingest().upsert(tx, wider(5..12)),
        });
        check(&report, &sent, &planned);
    }
}

#[test]
fn replace_and_upsert_by_rebuild() {
    let (_db, mut client) = connect("steps_swap");
    seed(&mut client);
    client
        .batch_execute("CREATE VIEW p.named AS SELECT id, name FROM p.item")
        .unwrap();
    let planned = pg_bulk_ingest::plan::<Item>(&mut client, Mode::Replace).unwrap();
    assert_eq!(planned.path(), Path::Replace);
    let (report, sent) = traced(&mut client, |tx| pg_bulk_ingest::replace(tx, items(0..7)));
    check(&report, &sent, &planned);
    assert!(sent.iter().any(|s| s.starts_with("DROP VIEW")), "{sent:#?}");

    client.batch_execute("DROP VIEW p.named").unwrap();
    let rebuild = || Ingest::new().upsert_strategy(UpsertStrategy::Rebuild);
    let planned = rebuild()
        .plan::<Item>(&mut client, Mode::Upsert)
        .unwrap()
        .remove(0);
    assert_eq!(planned.path(), Path::UpsertByRebuild);
    let (report, sent) = traced(&mut client, |tx| rebuild().upsert(tx, items(5..15)));
    check(&report, &sent, &planned);
}

#[test]
fn auto_upsert_by_rebuild_and_its_fallback() {
    let (db, mut client) = connect("steps_auto");
    let mut tx = client.transaction().unwrap();
    pg_bulk_ingest::insert(&mut tx, items(0..100_000)).unwrap();
    tx.commit().unwrap();
    client.batch_execute("ANALYZE p.item").unwrap();
    // The dry run knows no batch: it plans the merge.
    let planned = pg_bulk_ingest::plan::<Item>(&mut client, Mode::Upsert).unwrap();
    assert_eq!(planned.path(), Path::Nothing);
    let (report, sent) = traced(&mut client, |tx| {
        pg_bulk_ingest::upsert(tx, items(50_000..150_000))
    });
    assert_eq!(path(&report), Path::UpsertByRebuild);
    let executed = &report.tables[0].plan;
    assert_eq!(
        executed.fallback(),
        Some(&planned),
        "the fallback is the merge plan() shows"
    );
    let expected: Vec<&str> = executed.statements();
    assert_eq!(sent, expected, "\nthe plan:\n{executed}");

    // A writer holds a conflicting lock (on a row the batch doesn't touch):
    // the fallback, the merge, runs.
    client.batch_execute("ANALYZE p.item").unwrap();
    let planned = pg_bulk_ingest::plan::<Item>(&mut client, Mode::Upsert).unwrap();
    let mut writer = db.connect();
    let mut writing = writer.transaction().unwrap();
    writing
        .batch_execute("UPDATE p.item SET note = 'busy' WHERE id = 149999")
        .unwrap();
    let (report, sent) = traced(&mut client, |tx| {
        pg_bulk_ingest::upsert(tx, items(0..100_000))
    });
    assert_eq!(path(&report), Path::Nothing);
    let mut expected: Vec<&str> = report.tables[0].plan.statements();
    let conditional = conditional(&report.tables[0].plan);
    expected.retain(|s| !conditional.contains(s) || sent.iter().any(|t| t == s));
    // The lock tried first, in vain.
    expected.insert(1, r#"LOCK TABLE "p"."item" IN EXCLUSIVE MODE"#);
    assert_eq!(sent, expected);
    assert_eq!(&report.tables[0].plan, &planned);
    writing.rollback().unwrap();
}

#[test]
fn a_high_watermark_is_a_step_of_every_path() {
    let stored = |client: &mut Client| -> Option<String> {
        pg_bulk_ingest::high_watermark::<Item>(client).unwrap()
    };
    let with = |w: &'static str| Ingest::new().high_watermark(w);
    // Create, then nothing to change (insert, merge).
    let (_db, mut client) = connect("steps_watermark");
    for (w, mode) in [
        ("1", Mode::Insert),
        ("2", Mode::Insert),
        ("3", Mode::Upsert),
    ] {
        let planned = with(w).plan::<Item>(&mut client, mode).unwrap().remove(0);
        let (report, sent) = traced(&mut client, |tx| match mode {
            Mode::Insert => {
                let from = w.parse::<i64>().unwrap() * 10;
                with(w).insert(tx, items(from..from + 10))
            }
            _ => with(w).upsert(tx, items(0..50)),
        });
        check(&report, &sent, &planned);
        assert_eq!(stored(&mut client).as_deref(), Some(w));
    }
    // In place, a rebuild, a replace carrying a view, an upsert by rebuild.
    let (report, sent) = {
        let ingest = || with("4").in_place(true);
        let planned = ingest()
            .plan::<Wider>(&mut client, Mode::Upsert)
            .unwrap()
            .remove(0);
        assert_eq!(planned.path(), Path::InPlace);
        let (report, sent) = traced(&mut client, |tx| ingest().upsert(tx, wider(0..5)));
        check(&report, &sent, &planned);
        (report, sent)
    };
    assert!(
        sent.last().unwrap().starts_with("COMMENT ON TABLE"),
        "{sent:#?}"
    );
    assert_eq!(path(&report), Path::InPlace);
    let narrow = || with("5").allow_data_loss(true);
    let planned = narrow()
        .plan::<Item>(&mut client, Mode::Insert)
        .unwrap()
        .remove(0);
    assert_eq!(planned.path(), Path::Rebuild);
    let (report, sent) = traced(&mut client, |tx| narrow().insert(tx, items(50..60)));
    check(&report, &sent, &planned);
    client
        .batch_execute("CREATE VIEW p.named AS SELECT id, name FROM p.item")
        .unwrap();
    let planned = with("6")
        .plan::<Item>(&mut client, Mode::Replace)
        .unwrap()
        .remove(0);
    let (report, sent) = traced(&mut client, |tx| with("6").replace(tx, items(0..7)));
    check(&report, &sent, &planned);
    assert_eq!(stored(&mut client).as_deref(), Some("6"));
    client.batch_execute("DROP VIEW p.named").unwrap();
    let rebuild = || with("7").upsert_strategy(UpsertStrategy::Rebuild);
    let planned = rebuild()
        .plan::<Item>(&mut client, Mode::Upsert)
        .unwrap()
        .remove(0);
    assert_eq!(planned.path(), Path::UpsertByRebuild);
    let (report, sent) = traced(&mut client, |tx| rebuild().upsert(tx, items(5..15)));
    check(&report, &sent, &planned);
    assert_eq!(stored(&mut client).as_deref(), Some("7"));
    let planned = with("8")
        .plan::<Item>(&mut client, Mode::Upsert)
        .unwrap()
        .remove(0);
    assert!(planned
        .statements()
        .last()
        .unwrap()
        .contains(r#""high-watermark": "8""#));
}

/// The fixed cost of a call on a table that needs no change: its catalog work
/// is the advisory lock and one catalog query (issue 14's target: at most 3
/// round trips), and the whole upsert of keys in increasing order is 13
/// round trips (12 on PostgreSQL 12 and 13, which set no client check), the
/// COPY's two (prepare, then copy) included; on PostgreSQL 15 and later, the
/// comparison before staging adds its query's two (prepare, then read), the
/// greatest stored key one, and the rows whose keys are above it are
/// appended in a savepoint (`SAVEPOINT`, the COPY's two, `RELEASE`).
#[test]
fn round_trips_of_a_call_on_an_unchanged_table() {
    let (_db, mut client) = connect("steps_round_trips");
    seed(&mut client);
    let pid: i32 = client
        .query_one("SELECT pg_catalog.pg_backend_pid()", &[])
        .unwrap()
        .get(0);
    client.batch_execute("SET log_statement = 'all'").unwrap();
    let from = std::fs::metadata(server_log()).unwrap().len();
    let mut tx = client.transaction().unwrap();
    let report = pg_bulk_ingest::upsert(&mut tx, items(5..15)).unwrap();
    tx.commit().unwrap();
    client.batch_execute("RESET log_statement").unwrap();
    assert_eq!(path(&report), Path::Nothing);
    let all = logged(pid, from);
    let compare = compare_query(&report.tables[0].plan);
    // The upsert compares rows before staging where its merge is a MERGE.
    let compared = major(&mut client) >= 15;
    assert_eq!(compare.is_some(), compared);
    let call: Vec<&String> = all
        .iter()
        .filter(|s| {
            !matches!(
                s.as_str(),
                "START TRANSACTION" | "COMMIT" | "RESET log_statement"
            )
        })
        .collect();
    let catalog: Vec<&&String> = call
        .iter()
        .filter(|s| {
            let upper = s.trim_start().to_ascii_uppercase();
            (upper.starts_with("SELECT") || upper.starts_with("WITH R AS"))
                && Some(s.as_str()) != compare
                && !upper.starts_with("SELECT MAX(")
                && !upper.contains("SET_CONFIG")
                && !upper.contains("; INSERT INTO")
                && !upper.contains("; MERGE INTO")
                && !upper.contains("FROM PG_TEMP.")
        })
        .collect();
    assert!(
        catalog.len() <= 3,
        "{} catalog round trips: {catalog:#?}",
        catalog.len()
    );
    assert_eq!(catalog.len(), 2, "{catalog:#?}");
    // The COPY is logged once but takes two round trips (prepare, copy).
    // PostgreSQL 12 and 13 have no client_connection_check_interval: the
    // call sets nothing, so it restores nothing.
    let copies = call.iter().filter(|s| s.starts_with("COPY")).count();
    let restores = call
        .iter()
        .filter(|s| s.contains("set_config('client_connection_check_interval', $1"))
        .count();
    assert_eq!(restores, usize::from(major(&mut client) >= 14), "{call:#?}");
    // The keys came in increasing order: no check for a repeated key.
    assert_eq!(checks(&call), 0, "{call:#?}");
    // The comparison before staging: its query, logged once for the one
    // run of rows, is prepared first (a round trip of its own).
    let compares = call.iter().filter(|s| Some(s.as_str()) == compare).count();
    assert_eq!(compares, usize::from(compared), "{call:#?}");
    // Keys 10 to 14 are above the greatest stored key (9): appended.
    let maxes = call.iter().filter(|s| s.starts_with("SELECT max(")).count();
    let appends = call
        .iter()
        .filter(|s| s.starts_with(r#"COPY "p"."item""#))
        .count();
    assert_eq!((maxes, appends), (compares, compares), "{call:#?}");
    assert_eq!(
        call.len() + copies + compares,
        12 + 3 * compares + 4 * appends + restores,
        "{call:#?}"
    );

    // Out of order, the MERGE (PostgreSQL 15) reads the staged rows sorted
    // by key; a filter of the keys proves them distinct, so no check.
    let upsert = |client: &mut Client, rows: Vec<Item>| {
        let from = std::fs::metadata(server_log()).unwrap().len();
        client.batch_execute("SET log_statement = 'all'").unwrap();
        let mut tx = client.transaction().unwrap();
        pg_bulk_ingest::upsert(&mut tx, rows).unwrap();
        tx.commit().unwrap();
        client.batch_execute("RESET log_statement").unwrap();
        logged(pid, from)
    };
    let fifteen = usize::from(major(&mut client) >= 15);
    let all = upsert(&mut client, items(5..15).into_iter().rev().collect());
    assert_eq!(checks(&all), 0, "{all:#?}");
    let sorted = |all: &[String]| {
        all.iter()
            .filter(|s| {
                s.contains("; MERGE INTO")
                    && s.contains(" USING (SELECT * FROM pg_temp.")
                    // The sort's memory, and the session's given back.
                    && s.contains("set_config('work_mem', '65536kB', true)")
                    && s.contains("set_config('work_mem', '4096kB', true)")
            })
            .count()
    };
    assert_eq!(sorted(&all), fifteen, "{all:#?}");
    // A key the batch repeats: the MERGE checks first (one round trip
    // more), and keeps one row of each key.
    let mut rows = items(5..15);
    rows.extend(items(7..8));
    let all = upsert(&mut client, rows);
    assert_eq!(checks(&all), fifteen, "{all:#?}");
}

/// The checks for a repeated key among `statements`.
fn checks(statements: &[impl AsRef<str>]) -> usize {
    statements
        .iter()
        .filter(|s| {
            s.as_ref()
                .starts_with("SELECT EXISTS (SELECT 1 FROM pg_temp.")
        })
        .count()
}

#[test]
fn the_hooks_statements_are_sent_where_its_step_is() {
    // The hook's statement for each table it runs on.
    fn hook_sql(table: &pg_bulk_ingest::NewTable<'_>) -> String {
        match table.kind() {
            pg_bulk_ingest::NewTableKind::Staging => format!("ANALYZE {}", table.qualified()),
            _ => format!("ALTER TABLE {} SET (fillfactor = 60)", table.qualified()),
        }
    }
    let ran = std::cell::RefCell::new(Vec::new());
    let ingest = || {
        Ingest::new().on_new_table(|tx, table| {
            ran.borrow_mut().push(hook_sql(table));
            Ok(tx.batch_execute(&hook_sql(table))?)
        })
    };
    let (_db, mut client) = connect("steps_hook");
    for (mode, strategy) in [
        (Mode::Insert, UpsertStrategy::Auto),
        (Mode::Replace, UpsertStrategy::Auto),
        (Mode::Upsert, UpsertStrategy::Merge),
        (Mode::Upsert, UpsertStrategy::Rebuild),
    ] {
        let planned = ingest()
            .upsert_strategy(strategy)
            .plan::<Item>(&mut client, mode)
            .unwrap()
            .remove(0);
        let (report, sent) = traced(&mut client, |tx| {
            let ingest = ingest().upsert_strategy(strategy);
            match mode {
                Mode::Insert => ingest.insert(tx, items(0..5)),
                Mode::Upsert => ingest.upsert(tx, items(3..8)),
                _ => ingest.replace(tx, items(0..6)),
            }
        });
        let executed = &report.tables[0].plan;
        assert_eq!(executed, &planned);
        // The plan's statements, with the hook's where its step is.
        let mut expected: Vec<String> = Vec::new();
        let mut hooks = 0;
        for step in executed.steps() {
            if step.sql().is_empty() && step.note().starts_with("on_new_table runs on ") {
                expected.push(ran.borrow()[hooks].clone());
                hooks += 1;
            }
            expected.extend(step.statements().iter().map(|s| s.to_string()));
        }
        let conditional = conditional(executed);
        expected.retain(|s| !conditional.contains(&s.as_str()) || sent.contains(s));
        assert_eq!(hooks, 1, "{executed}");
        assert_eq!(ran.take().len(), 1, "the hook ran once");
        assert_eq!(sent, expected, "\nthe plan:\n{executed}");
    }
}

#[derive(BulkTable, Clone)]
#[bulk(
    schema = "p",
    table = "reading",
    partition_by = "range (day)",
    partition_interval = "month"
)]
struct Reading {
    #[bulk(primary_key)]
    sensor: i32,
    #[bulk(primary_key)]
    day: chrono::NaiveDate,
    value: f64,
}

fn readings(month: u32) -> Vec<Reading> {
    (1..=3)
        .map(|sensor| Reading {
            sensor,
            day: chrono::NaiveDate::from_ymd_opt(2024, month, 10).unwrap(),
            value: f64::from(sensor),
        })
        .collect()
}

/// [`check`] for a call on a partitioned table: the plan's step that makes
/// partitions is the query giving their statements, which the call then
/// sends; it and a slice replace's check are reads, left out here.
fn check_partitioned(report: &Report, sent: &[String], planned: &Plan) {
    let made = |s: &String| {
        s.starts_with("CREATE TABLE p.reading_") || s.starts_with("ALTER TABLE p.reading ATTACH")
    };
    let sent: Vec<String> = sent.iter().filter(|s| !made(s)).cloned().collect();
    let executed = &report.tables[0].plan;
    let expected: Vec<&str> = executed
        .statements()
        .into_iter()
        .filter(|s| {
            !s.starts_with("SELECT n.name, pg_catalog.format('CREATE TABLE")
                && !s.starts_with("SELECT s.\"pg_bulk_ingest_position\"")
        })
        .collect();
    assert_eq!(sent, expected, "\nthe plan:\n{executed}");
    assert_eq!(executed, planned);
}

/// A call on a partitioned table shows the locks it takes: creating the
/// table, the shared lock taken while planning and let go of, then the
/// exclusive one; an insert and a slice replace into partitions, the shared
/// lock and one per partition.
#[test]
fn partitioned_calls_show_their_advisory_locks() {
    use pg_bulk_ingest::plan::LockMode;
    use pg_bulk_ingest::Slice;
    let (_db, mut client) = connect("steps_partitioned");
    let locks = |plan: &Plan| -> Vec<Option<LockMode>> {
        plan.steps()
            .iter()
            .filter(|s| s.sql().contains("pg_advisory_xact_lock"))
            .map(|s| s.lock().map(|l| l.mode()))
            .collect()
    };

    let planned = pg_bulk_ingest::plan::<Reading>(&mut client, Mode::Insert).unwrap();
    assert_eq!(planned.path(), Path::Create);
    assert_eq!(locks(&planned), [None, Some(LockMode::Advisory)]);
    let (report, sent) = traced(&mut client, |tx| pg_bulk_ingest::insert(tx, readings(1)));
    check_partitioned(&report, &sent, &planned);

    let planned = pg_bulk_ingest::plan::<Reading>(&mut client, Mode::Insert).unwrap();
    assert_eq!(planned.path(), Path::Nothing);
    assert_eq!(
        locks(&planned),
        [
            Some(LockMode::AdvisoryShared),
            Some(LockMode::AdvisoryPartitions)
        ]
    );
    let (report, sent) = traced(&mut client, |tx| pg_bulk_ingest::insert(tx, readings(2)));
    check_partitioned(&report, &sent, &planned);

    let day = chrono::NaiveDate::from_ymd_opt(2024, 2, 10).unwrap();
    let slice = || Ingest::new().replace_slice(Slice::equal("day", day));
    let planned = slice()
        .plan::<Reading>(&mut client, Mode::Insert)
        .unwrap()
        .remove(0);
    assert_eq!(
        locks(&planned),
        [
            Some(LockMode::AdvisoryShared),
            Some(LockMode::AdvisoryPartitions)
        ]
    );
    let (report, sent) = traced(&mut client, |tx| slice().insert(tx, readings(2)));
    check_partitioned(&report, &sent, &planned);
}
