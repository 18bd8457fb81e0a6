//! Batch calls: each batch in a transaction of its own, committed with its
//! high watermark; resumable from the last batch committed; the
//! `on_before_visible` callback in each batch's transaction.

use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};

use pg_bulk_ingest::plan::Path;
use pg_bulk_ingest::{
    high_watermark, Batch, BulkRows, BulkTable, Error, HighWatermark, Ingest, Phase, Report,
    UpsertStrategy, Visible,
};
use postgres::Client;

#[derive(BulkTable, Clone, Debug)]
#[bulk(schema = "b")]
struct Order {
    #[bulk(primary_key)]
    id: i64,
    note: String,
}

/// The same table, one more column: a migration.
#[derive(BulkTable, Clone, Debug)]
#[bulk(schema = "b", table = "order")]
struct OrderV2 {
    #[bulk(primary_key)]
    id: i64,
    note: String,
    extra: Option<i32>,
}

/// A table without a key.
#[derive(BulkTable, Clone, Debug)]
#[bulk(schema = "b")]
struct Event {
    at: i64,
}

#[derive(BulkTable, Clone, Debug)]
#[bulk(schema = "b")]
struct Line {
    #[bulk(primary_key)]
    order_id: i64,
    #[bulk(primary_key)]
    n: i32,
}

#[derive(BulkRows, Clone, Debug)]
enum Sale {
    Order(Order),
    Line(Line),
}

const ORDER: &str = r#""b"."order""#;

fn connect(prefix: &str) -> (pg_bulk_ingest_testkit::TestDb, Client) {
    let db = pg_bulk_ingest_testkit::server().create_database(prefix);
    let client = db.connect();
    (db, client)
}

fn orders(ids: std::ops::Range<i64>, note: &str) -> Vec<Order> {
    ids.map(|id| Order {
        id,
        note: note.to_owned(),
    })
    .collect()
}

type Source<R> = Vec<Result<Batch<R>, String>>;

/// Batches `(watermark, rows)`, each `Ok`.
fn ok<R>(batches: Vec<(&str, R)>) -> Source<R> {
    batches
        .into_iter()
        .map(|(w, rows)| Ok(Batch::new(w, rows)))
        .collect()
}

fn count(client: &mut Client, table: &str) -> i64 {
    client
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .unwrap()
        .get(0)
}

fn oid(client: &mut Client, table: &str) -> u32 {
    client
        .query_one("SELECT to_regclass($1)::oid", &[&table])
        .unwrap()
        .get(0)
}

fn hwm(client: &mut Client) -> Option<String> {
    high_watermark::<Order>(client).unwrap()
}

#[test]
fn empty_batches_store_each_watermark_and_the_next_call_resumes() {
    let (_db, mut client) = connect("batches_empty");
    let handed = RefCell::new(Vec::new());
    let report = Ingest::new()
        .upsert_batches(&mut client, HighWatermark::Latest, |since| {
            handed.borrow_mut().push(since.map(str::to_owned));
            ok(vec![
                ("1", Vec::<Order>::new()),
                ("2", Vec::new()),
                ("3", Vec::new()),
            ])
        })
        .unwrap();
    assert_eq!(report.batches, 3);
    assert_eq!(report.rows, 0);
    assert_eq!(report.high_watermark.as_deref(), Some("3"));
    assert_eq!(report.tables[0].plan.path(), Path::Create);
    assert_eq!(hwm(&mut client).as_deref(), Some("3"));
    Ingest::new()
        .upsert_batches(&mut client, HighWatermark::Latest, |since| {
            handed.borrow_mut().push(since.map(str::to_owned));
            ok::<Vec<Order>>(vec![])
        })
        .unwrap();
    assert_eq!(*handed.borrow(), [None, Some("3".to_owned())]);

    // A table without a key, with insert_batches.
    let handed = RefCell::new(Vec::new());
    for _ in 0..2 {
        Ingest::new()
            .insert_batches(&mut client, HighWatermark::Latest, |since| {
                handed.borrow_mut().push(since.map(str::to_owned));
                ok(vec![
                    ("1", vec![Event { at: 1 }]),
                    ("2", vec![]),
                    ("3", vec![Event { at: 3 }]),
                ])
            })
            .unwrap();
    }
    assert_eq!(*handed.borrow(), [None, Some("3".to_owned())]);
    assert_eq!(count(&mut client, r#""b"."event""#), 4);
}

#[test]
fn an_explicit_or_the_earliest_watermark_reaches_the_source() {
    let (_db, mut client) = connect("batches_start");
    let mut handed = Vec::new();
    Ingest::new()
        .upsert_batches(&mut client, HighWatermark::Value("10".into()), |since| {
            handed.push(since.map(str::to_owned));
            ok(vec![("11", orders(0..3, "a"))])
        })
        .unwrap();
    assert_eq!(hwm(&mut client).as_deref(), Some("11"));
    Ingest::new()
        .upsert_batches(&mut client, HighWatermark::Earliest, |since| {
            handed.push(since.map(str::to_owned));
            ok::<Vec<Order>>(vec![])
        })
        .unwrap();
    assert_eq!(handed, [Some("10".to_owned()), None]);
    // No batch: the stored watermark stays.
    assert_eq!(hwm(&mut client).as_deref(), Some("11"));
}

#[test]
fn a_source_that_fails_after_a_batch_leaves_that_batch_committed() {
    let (_db, mut client) = connect("batches_fail");
    let source = |_: Option<&str>| {
        vec![
            Ok(Batch::new("1", orders(0..5, "a"))),
            Err("the source went away".to_owned()),
            Ok(Batch::new("2", orders(5..10, "a"))),
        ]
    };
    let err = Ingest::new()
        .upsert_batches(&mut client, HighWatermark::Latest, source)
        .unwrap_err();
    let Error::Source { batch, source } = &err else {
        panic!("{err}")
    };
    assert_eq!(*batch, 2);
    assert_eq!(source.to_string(), "the source went away");
    assert_eq!(count(&mut client, ORDER), 5);
    assert_eq!(hwm(&mut client).as_deref(), Some("1"));
    let mut handed = None;
    Ingest::new()
        .upsert_batches(&mut client, HighWatermark::Latest, |since| {
            handed = since.map(str::to_owned);
            ok(vec![("2", orders(5..10, "a"))])
        })
        .unwrap();
    assert_eq!(handed.as_deref(), Some("1"));
    assert_eq!(count(&mut client, ORDER), 10);

    // A panic in the source is not caught, and leaves the same.
    let panicked = catch_unwind(AssertUnwindSafe(|| {
        Ingest::new().upsert_batches(&mut client, HighWatermark::Latest, |_| {
            (0..3).map(|i| -> Result<Batch<Vec<Order>>, String> {
                assert!(i < 1, "the source panics");
                Ok(Batch::new("3", orders(10..12, "a")))
            })
        })
    }));
    assert!(panicked.is_err());
    assert_eq!(count(&mut client, ORDER), 12);
    assert_eq!(hwm(&mut client).as_deref(), Some("3"));
    // A panic in a batch's rows rolls that batch back.
    let panicked = catch_unwind(AssertUnwindSafe(|| {
        Ingest::new().upsert_batches(&mut client, HighWatermark::Latest, |_| {
            let rows = (20..30).map(|id| {
                assert!(id < 25, "the rows panic");
                Order {
                    id,
                    note: "p".into(),
                }
            });
            vec![Ok::<_, String>(Batch::new("4", rows))]
        })
    }));
    assert!(panicked.is_err());
    assert_eq!(count(&mut client, ORDER), 12);
    assert_eq!(hwm(&mut client).as_deref(), Some("3"));
}

#[test]
fn a_source_that_fails_before_its_first_batch_changes_nothing() {
    let (_db, mut client) = connect("batches_nothing");
    Ingest::new()
        .upsert_batches(&mut client, HighWatermark::Latest, |_| {
            ok(vec![("1", orders(0..5, "a"))])
        })
        .unwrap();
    let before = oid(&mut client, ORDER);
    // A migration is due, but the source fails first.
    let err = Ingest::new()
        .upsert_batches(&mut client, HighWatermark::Latest, |_| {
            vec![Err::<Batch<Vec<OrderV2>>, _>("no connection".to_owned())]
        })
        .unwrap_err();
    assert!(matches!(err, Error::Source { batch: 1, .. }), "{err}");
    assert_eq!(oid(&mut client, ORDER), before);
    assert_eq!(hwm(&mut client).as_deref(), Some("1"));
    let columns: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_attribute WHERE attrelid = 'b.order'::regclass AND attnum > 0",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(columns, 2);
}

#[test]
fn two_tables_through_one_stream_over_three_calls() {
    let (_db, mut client) = connect("batches_multi");
    let mut handed = Vec::new();
    for call in 0..3i64 {
        let report = Ingest::new()
            .upsert_batches(&mut client, HighWatermark::Latest, |since| {
                handed.push(since.map(str::to_owned));
                (0..2i64).map(move |b| {
                    let base = call * 100 + b * 10;
                    let rows: Vec<Sale> = (base..base + 10)
                        .flat_map(|id| {
                            [
                                Sale::Order(Order {
                                    id,
                                    note: "o".into(),
                                }),
                                Sale::Line(Line { order_id: id, n: 1 }),
                            ]
                        })
                        .collect();
                    Ok::<_, String>(Batch::new(format!("{call}.{b}"), rows))
                })
            })
            .unwrap();
        assert_eq!(report.batches, 2);
        assert_eq!(report.rows, 40);
        assert_eq!(report.tables[0].rows, 20);
        assert_eq!(report.tables[1].rows, 20);
        assert_eq!(report.high_watermark, Some(format!("{call}.1")));
    }
    assert_eq!(handed, [None, Some("0.1".into()), Some("1.1".into())]);
    assert_eq!(count(&mut client, ORDER), 60);
    assert_eq!(count(&mut client, r#""b"."line""#), 60);
    assert_eq!(
        high_watermark::<Sale>(&mut client).unwrap().as_deref(),
        Some("2.1")
    );
    assert_eq!(
        high_watermark::<Line>(&mut client).unwrap().as_deref(),
        Some("2.1")
    );
}

#[test]
fn on_before_visible_runs_in_the_batch_s_transaction() {
    let (db, mut client) = connect("batches_visible");
    client
        .batch_execute("CREATE TABLE public.jobs (batch bigint, watermark text, meta text)")
        .unwrap();
    let mut reader = db.connect();
    let mut seen = Vec::new();
    let report = Ingest::new()
        .on_before_visible(|tx, visible: &Visible<'_, String>| {
            let table = visible.tables()[0].to_string();
            let inside: i64 = tx
                .query_one(&format!("SELECT count(*) FROM {table}"), &[])?
                .get(0);
            // Another session sees only the batches committed.
            let outside: i64 = match visible.batch() {
                1 => 0,
                _ => reader
                    .query_one(&format!("SELECT count(*) FROM {table}"), &[])?
                    .get(0),
            };
            seen.push((visible.batch(), visible.rows(), inside, outside));
            tx.execute(
                "INSERT INTO public.jobs VALUES ($1, $2, $3)",
                &[
                    &(visible.batch() as i64),
                    &visible.high_watermark(),
                    visible.metadata(),
                ],
            )?;
            if visible.metadata() == "fail" {
                return Err("the job's bookkeeping failed".into());
            }
            Ok(())
        })
        .upsert_batches(&mut client, HighWatermark::Latest, |_| {
            vec![
                Ok::<_, String>(Batch::with_metadata("1", "a".to_owned(), orders(0..3, "a"))),
                Ok(Batch::with_metadata("2", "b".to_owned(), orders(3..5, "b"))),
                Ok(Batch::with_metadata(
                    "3",
                    "fail".to_owned(),
                    orders(5..9, "c"),
                )),
                Ok(Batch::with_metadata(
                    "4",
                    "d".to_owned(),
                    orders(9..10, "d"),
                )),
            ]
        });
    let err = report.unwrap_err();
    let Error::BeforeVisible { batch: 3, source } = &err else {
        panic!("{err}")
    };
    assert_eq!(source.to_string(), "the job's bookkeeping failed");
    assert_eq!(seen, [(1, 3, 3, 0), (2, 2, 5, 3), (3, 4, 9, 5)]);
    // The callback's writes committed with batches 1 and 2; batch 3 is gone.
    let jobs: Vec<(i64, String, String)> = client
        .query("SELECT * FROM public.jobs ORDER BY 1", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        jobs,
        [(1, "1".into(), "a".into()), (2, "2".into(), "b".into())]
    );
    assert_eq!(count(&mut client, ORDER), 5);
    assert_eq!(hwm(&mut client).as_deref(), Some("2"));
}

#[test]
fn replace_batches_swap_in_the_first_and_append_the_rest() {
    let (_db, mut client) = connect("batches_replace");
    Ingest::new()
        .upsert_batches(&mut client, HighWatermark::Latest, |_| {
            ok(vec![("0", orders(100..110, "old"))])
        })
        .unwrap();
    client
        .batch_execute("CREATE VIEW b.notes AS SELECT id, note FROM b.order")
        .unwrap();
    // No batch at all: the rows stay.
    let report = Ingest::new()
        .replace_batches(&mut client, HighWatermark::Latest, |_| {
            ok::<Vec<Order>>(vec![])
        })
        .unwrap();
    assert_eq!(report.batches, 0);
    assert_eq!(count(&mut client, ORDER), 10);

    let before = oid(&mut client, ORDER);
    let mut paths = Vec::new();
    let mut phases = Vec::new();
    let report = Ingest::new()
        .on_progress(|p| phases.push((p.batch, p.phase, p.rows, p.total_rows)))
        .on_before_visible(|tx, visible: &Visible<'_>| {
            // A swapped table already has the name readers see.
            let name = visible.tables()[0].to_string();
            let n: i64 = tx
                .query_one(&format!("SELECT count(*) FROM {name}"), &[])?
                .get(0);
            paths.push((visible.report().tables[0].plan.path(), n));
            Ok(())
        })
        .replace_batches(&mut client, HighWatermark::Latest, |since| {
            assert_eq!(since, Some("0"));
            ok(vec![
                ("1", orders(0..4, "new")),
                ("2", orders(4..6, "new")),
                ("3", orders(6..7, "new")),
            ])
        })
        .unwrap();
    assert_eq!(
        paths,
        [(Path::Replace, 4), (Path::Nothing, 6), (Path::Nothing, 7)]
    );
    assert_ne!(oid(&mut client, ORDER), before);
    assert_eq!(count(&mut client, ORDER), 7);
    assert_eq!(count(&mut client, "b.notes"), 7);
    assert_eq!(hwm(&mut client).as_deref(), Some("3"));
    assert_eq!(report.rows, 7);
    assert_eq!(report.tables[0].plan.path(), Path::Replace);
    let done: Vec<_> = phases
        .iter()
        .filter(|p| p.1 == Phase::Done)
        .map(|p| (p.0, p.2, p.3))
        .collect();
    assert_eq!(done, [(1, 4, 4), (2, 2, 6), (3, 1, 7)]);
}

#[test]
fn only_the_first_batch_migrates_or_rebuilds() {
    let (_db, mut client) = connect("batches_migrate");
    Ingest::new()
        .upsert_batches(&mut client, HighWatermark::Latest, |_| {
            ok(vec![("1", orders(0..10, "a"))])
        })
        .unwrap();
    let before = oid(&mut client, ORDER);
    let v2 = |ids: std::ops::Range<i64>| -> Vec<OrderV2> {
        ids.map(|id| OrderV2 {
            id,
            note: "v2".into(),
            extra: Some(1),
        })
        .collect()
    };
    let mut oids = Vec::new();
    let report = Ingest::new()
        .upsert_strategy(UpsertStrategy::Rebuild)
        .on_before_visible(|tx, visible: &Visible<'_>| {
            let oid: u32 = tx.query_one("SELECT 'b.order'::regclass::oid", &[])?.get(0);
            oids.push((visible.report().tables[0].plan.path(), oid));
            Ok(())
        })
        .upsert_batches(&mut client, HighWatermark::Latest, |_| {
            ok(vec![("2", v2(5..15)), ("3", v2(15..20)), ("4", v2(0..2))])
        })
        .unwrap();
    assert_eq!(report.tables[0].plan.path(), Path::UpsertByRebuild);
    assert_eq!(oids[0].0, Path::UpsertByRebuild);
    assert_ne!(oids[0].1, before);
    for later in &oids[1..] {
        assert_eq!(*later, (Path::Nothing, oids[0].1));
    }
    assert_eq!(count(&mut client, ORDER), 20);
    assert_eq!(hwm(&mut client).as_deref(), Some("4"));
    let report_rows: Report = report;
    assert_eq!((report_rows.rows, report_rows.tables[0].rows), (17, 17));
}
