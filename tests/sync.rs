//! Keeping a table in sync, against a real server: a mirror that deletes or
//! marks the stored rows a full snapshot lacks (with its guard, and without
//! touching rows other sessions add meanwhile), and a slice replace.

use chrono::{DateTime, NaiveDate, Utc};
use pg_bulk_ingest::{BulkTable, Delete, Error, Ingest, Mode, Phase, Slice};
use postgres::{Client, GenericClient};

#[derive(BulkTable, Debug, Clone, PartialEq)]
#[bulk(table = "product")]
struct Product {
    #[bulk(primary_key)]
    sku: String,
    price: i64,
    deleted_at: Option<DateTime<Utc>>,
}

fn product(sku: &str, price: i64) -> Product {
    Product {
        sku: sku.to_owned(),
        price,
        deleted_at: None,
    }
}

/// `(sku, price, marked, ctid)` by sku.
fn products(client: &mut impl GenericClient) -> Vec<(String, i64, bool, String)> {
    client
        .query(
            "SELECT sku, price, deleted_at IS NOT NULL, ctid::text FROM public.product ORDER BY sku",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect()
}

fn seed(client: &mut Client) {
    let mut tx = client.transaction().unwrap();
    let rows: Vec<Product> = ["a", "b", "c", "d", "e"]
        .iter()
        .zip(1..)
        .map(|(sku, price)| product(sku, price))
        .collect();
    pg_bulk_ingest::insert(&mut tx, &rows).unwrap();
    tx.commit().unwrap();
}

/// The snapshot: `a` unchanged, `b` changed, `c` and `d` gone, `e`
/// unchanged, `f` new.
fn snapshot() -> Vec<Product> {
    vec![
        product("a", 1),
        product("b", 20),
        product("e", 5),
        product("f", 6),
    ]
}

#[test]
fn a_mirror_deletes_what_the_snapshot_lacks_and_rewrites_nothing_else() {
    let db = pg_bulk_ingest_testkit::server().create_database("sync_mirror_rows");
    let mut client = db.connect();
    seed(&mut client);
    let before = products(&mut client);
    let mut tx = client.transaction().unwrap();
    let report = Ingest::new()
        .mirror(Delete::Rows)
        .upsert(&mut tx, snapshot())
        .unwrap();
    tx.commit().unwrap();
    let t = &report.tables[0];
    assert_eq!(
        (t.inserted, t.updated, t.unchanged, t.deleted),
        (Some(1), Some(1), Some(2), 2)
    );
    let after = products(&mut client);
    let skus: Vec<(&str, i64)> = after.iter().map(|r| (r.0.as_str(), r.1)).collect();
    assert_eq!(skus, [("a", 1), ("b", 20), ("e", 5), ("f", 6)]);
    // Unchanged rows were not rewritten.
    for sku in ["a", "e"] {
        let ctid = |rows: &[(String, i64, bool, String)]| {
            rows.iter().find(|r| r.0 == sku).unwrap().3.clone()
        };
        assert_eq!(ctid(&before), ctid(&after), "{sku}");
    }
    // The plan shows the snapshot, the guard and the delete.
    let plans = Ingest::new()
        .mirror(Delete::Rows)
        .plan::<Product>(&mut client, Mode::Upsert)
        .unwrap();
    let text = plans[0].to_string();
    assert!(
        text.contains("CREATE TEMPORARY TABLE pg_temp.\"pg_bulk_ingest_mirror_product"),
        "{text}"
    );
    assert!(text.contains("at most 50 % of them"), "{text}");
    assert!(
        text.contains("DELETE FROM \"public\".\"product\" AS t USING"),
        "{text}"
    );
}

#[test]
fn a_mirror_marks_and_unmarks() {
    let db = pg_bulk_ingest_testkit::server().create_database("sync_mirror_mark");
    let mut client = db.connect();
    seed(&mut client);
    let mark = || Ingest::new().mirror(Delete::mark("deleted_at"));
    let mut tx = client.transaction().unwrap();
    let report = mark().upsert(&mut tx, snapshot()).unwrap();
    tx.commit().unwrap();
    assert_eq!(report.tables[0].deleted, 2);
    let marked: Vec<(String, bool)> = products(&mut client)
        .into_iter()
        .map(|r| (r.0, r.2))
        .collect();
    let expected: Vec<(String, bool)> = [
        ("a", false),
        ("b", false),
        ("c", true),
        ("d", true),
        ("e", false),
        ("f", false),
    ]
    .iter()
    .map(|(s, m)| ((*s).to_owned(), *m))
    .collect();
    assert_eq!(marked, expected);
    let marked_c = products(&mut client)[2].3.clone();
    // `c` comes back (unmarked by the upsert); `d` stays marked, and is not
    // marked again (its row is not rewritten).
    let d_before = products(&mut client)[3].3.clone();
    let mut next = snapshot();
    next.push(product("c", 3));
    let mut tx = client.transaction().unwrap();
    let report = mark().upsert(&mut tx, &next).unwrap();
    tx.commit().unwrap();
    assert_eq!(report.tables[0].deleted, 0);
    let rows = products(&mut client);
    assert!(!rows[2].2, "c is back");
    assert_ne!(rows[2].3, marked_c);
    assert!(rows[3].2, "d stays marked");
    assert_eq!(rows[3].3, d_before, "d is not marked again");
}

#[test]
fn the_guard_refuses_an_empty_snapshot_and_can_be_turned_off() {
    let db = pg_bulk_ingest_testkit::server().create_database("sync_mirror_guard");
    let mut client = db.connect();
    seed(&mut client);
    let before = products(&mut client);
    let mut tx = client.transaction().unwrap();
    let err = Ingest::new()
        .mirror(Delete::Rows)
        .upsert(&mut tx, Vec::<Product>::new())
        .unwrap_err();
    assert!(
        matches!(err, Error::MirrorGuard { rows: 5, of: 5, .. }),
        "{err:?}"
    );
    assert_eq!(products(&mut tx), before, "nothing changed");
    // 3 of 5 is over the default half, under 0.7.
    let err = Ingest::new()
        .mirror(Delete::Rows)
        .upsert(&mut tx, [product("a", 1), product("b", 2)])
        .unwrap_err();
    assert!(
        matches!(err, Error::MirrorGuard { rows: 3, of: 5, .. }),
        "{err:?}"
    );
    Ingest::new()
        .mirror_guard(0.7)
        .mirror(Delete::Rows)
        .upsert(&mut tx, [product("a", 1), product("b", 2)])
        .unwrap();
    assert_eq!(products(&mut tx).len(), 2);
    // Off: an empty snapshot empties the table.
    Ingest::new()
        .mirror(Delete::Rows)
        .mirror_guard(1.0)
        .upsert(&mut tx, Vec::<Product>::new())
        .unwrap();
    assert!(products(&mut tx).is_empty());
    tx.commit().unwrap();
}

#[test]
fn rows_another_session_adds_while_the_mirror_runs_are_kept() {
    let db = pg_bulk_ingest_testkit::server().create_database("sync_mirror_writer");
    let mut client = db.connect();
    seed(&mut client);
    let mut writer = db.connect();
    let mut tx = client.transaction().unwrap();
    // Once the batch is loaded (the mirror's snapshot of the keys is taken
    // before), another session adds a key the snapshot lacks and commits.
    let report = Ingest::new()
        .mirror(Delete::Rows)
        .on_progress(|p| {
            if p.phase == Phase::Finishing {
                writer
                    .execute(
                        "INSERT INTO public.product (sku, price) VALUES ('z', 26)",
                        &[],
                    )
                    .unwrap();
            }
        })
        .upsert(&mut tx, snapshot())
        .unwrap();
    tx.commit().unwrap();
    assert_eq!(report.tables[0].deleted, 2);
    let skus: Vec<String> = products(&mut client).into_iter().map(|r| r.0).collect();
    assert_eq!(skus, ["a", "b", "e", "f", "z"]);
}

#[test]
fn a_row_another_session_changes_while_the_mirror_runs_is_kept() {
    let db = pg_bulk_ingest_testkit::server().create_database("sync_mirror_update");
    let mut client = db.connect();
    seed(&mut client);
    let mut writer = db.connect();
    let mut tx = client.transaction().unwrap();
    // `c` is stored, and not in the snapshot: another session changes it
    // after the mirror read the table. Its change is kept; `d` goes.
    let report = Ingest::new()
        .mirror(Delete::Rows)
        .on_progress(|p| {
            if p.phase == Phase::Finishing {
                writer
                    .execute("UPDATE public.product SET price = 33 WHERE sku = 'c'", &[])
                    .unwrap();
            }
        })
        .upsert(&mut tx, snapshot())
        .unwrap();
    tx.commit().unwrap();
    assert_eq!(report.tables[0].deleted, 1);
    let rows: Vec<(String, i64)> = products(&mut client)
        .into_iter()
        .map(|r| (r.0, r.1))
        .collect();
    let expected: Vec<(String, i64)> = [("a", 1), ("b", 20), ("c", 33), ("e", 5), ("f", 6)]
        .iter()
        .map(|(s, p)| ((*s).to_owned(), *p))
        .collect();
    assert_eq!(rows, expected);
}

#[test]
fn an_in_place_mirror_marks_with_a_column_it_adds() {
    #[derive(BulkTable, Debug, Clone)]
    #[bulk(table = "product")]
    struct Plain {
        #[bulk(primary_key)]
        sku: String,
        price: i64,
    }
    let db = pg_bulk_ingest_testkit::server().create_database("sync_mirror_in_place");
    let mut client = db.connect();
    let mut tx = client.transaction().unwrap();
    let plain: Vec<Plain> = ["a", "b", "c"]
        .iter()
        .map(|s| Plain {
            sku: (*s).to_owned(),
            price: 1,
        })
        .collect();
    pg_bulk_ingest::insert(&mut tx, &plain).unwrap();
    tx.commit().unwrap();
    let mut tx = client.transaction().unwrap();
    let report = Ingest::new()
        .in_place(true)
        .mirror(Delete::mark("deleted_at"))
        .upsert(&mut tx, [product("a", 1), product("b", 1)])
        .unwrap();
    tx.commit().unwrap();
    assert_eq!(
        report.tables[0].plan.path(),
        pg_bulk_ingest::plan::Path::InPlace
    );
    assert_eq!(report.tables[0].deleted, 1);
    let marked: Vec<bool> = products(&mut client).into_iter().map(|r| r.2).collect();
    assert_eq!(marked, [false, false, true]);
}

#[derive(BulkTable, Debug, Clone, PartialEq)]
#[bulk(schema = "metrics", table = "reading")]
struct Reading {
    #[bulk(primary_key)]
    sensor: i32,
    #[bulk(primary_key)]
    day: NaiveDate,
    value: f64,
}

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, d).unwrap()
}

fn readings(client: &mut impl GenericClient) -> Vec<(i32, NaiveDate, f64)> {
    client
        .query(
            "SELECT sensor, day, value FROM metrics.reading ORDER BY day, sensor",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
}

#[test]
fn a_slice_replace_replaces_one_day_and_refuses_rows_outside_it() {
    let db = pg_bulk_ingest_testkit::server().create_database("sync_slice");
    let mut client = db.connect();
    let mut tx = client.transaction().unwrap();
    let mut rows = Vec::new();
    for d in 1..=3 {
        for sensor in 0..3 {
            rows.push(Reading {
                sensor,
                day: day(d),
                value: f64::from(d),
            });
        }
    }
    pg_bulk_ingest::insert(&mut tx, &rows).unwrap();
    tx.commit().unwrap();
    let before = readings(&mut client);

    // Day 2 again: two sensors instead of three, new values.
    let new = vec![
        Reading {
            sensor: 0,
            day: day(2),
            value: 20.0,
        },
        Reading {
            sensor: 5,
            day: day(2),
            value: 25.0,
        },
    ];
    let mut tx = client.transaction().unwrap();
    let report = Ingest::new()
        .replace_slice(Slice::equal("day", day(2)))
        .insert(&mut tx, &new)
        .unwrap();
    tx.commit().unwrap();
    assert_eq!((report.tables[0].deleted, report.tables[0].rows), (3, 2));
    let after = readings(&mut client);
    let mut expected: Vec<(i32, NaiveDate, f64)> = before
        .iter()
        .filter(|r| r.1 != day(2))
        .cloned()
        .chain([(0, day(2), 20.0), (5, day(2), 25.0)])
        .collect();
    expected.sort_by_key(|r| (r.1, r.0));
    assert_eq!(after, expected);

    // A row of another day: refused, naming it; nothing changed.
    let mut tx = client.transaction().unwrap();
    let err = Ingest::new()
        .replace_slice(Slice::equal("day", day(2)))
        .insert(
            &mut tx,
            [
                Reading {
                    sensor: 0,
                    day: day(2),
                    value: 1.0,
                },
                Reading {
                    sensor: 1,
                    day: day(3),
                    value: 1.0,
                },
            ],
        )
        .unwrap_err();
    assert!(
        matches!(&err, Error::OutsideSlice { row: 1, column, .. } if column == "day"),
        "{err:?}"
    );
    assert_eq!((err.row(), err.column()), (Some(1), Some("day")));
    assert_eq!(readings(&mut tx), after);

    // A range over two columns: days 1 and 2 of sensor 0 only.
    let report = Ingest::new()
        .replace_slice(Slice::range("day", day(1), day(3)).and_equal("sensor", 0_i32))
        .insert(
            &mut tx,
            [Reading {
                sensor: 0,
                day: day(1),
                value: 100.0,
            }],
        )
        .unwrap();
    assert_eq!(report.tables[0].deleted, 2);
    let zero: Vec<(i32, NaiveDate, f64)> =
        readings(&mut tx).into_iter().filter(|r| r.0 == 0).collect();
    assert_eq!(zero, [(0, day(1), 100.0), (0, day(3), 3.0)]);
    tx.commit().unwrap();

    // The plan binds the values: none is in the SQL.
    let plans = Ingest::new()
        .replace_slice(Slice::equal("day", day(2)))
        .plan::<Reading>(&mut client, Mode::Insert)
        .unwrap();
    let text = plans[0].to_string();
    assert!(
        text.contains(r#"DELETE FROM "metrics"."reading" AS t WHERE t."day" = $1"#),
        "{text}"
    );
    assert!(!text.contains("2026"), "{text}");
}

#[test]
fn options_of_another_mode_fail_before_anything_is_sent() {
    let db = pg_bulk_ingest_testkit::server().create_database("sync_options");
    let mut client = db.connect();
    let mut tx = client.transaction().unwrap();
    let err = Ingest::new()
        .mirror(Delete::Rows)
        .insert(&mut tx, [product("a", 1)])
        .unwrap_err();
    assert!(
        matches!(&err, Error::Options { reason, .. } if reason.contains("upsert")),
        "{err}"
    );
    let err = Ingest::new()
        .mirror(Delete::Rows)
        .on_conflict(pg_bulk_ingest::OnConflict::Skip)
        .upsert(&mut tx, [product("a", 1)])
        .unwrap_err();
    assert!(
        matches!(&err, Error::Options { reason, .. } if reason.contains("OnConflict::Update")),
        "{err}"
    );
    let err = Ingest::new()
        .mirror(Delete::mark("price"))
        .upsert(&mut tx, [product("a", 1)])
        .unwrap_err();
    assert!(
        matches!(&err, Error::Options { reason, .. } if reason.contains("nullable timestamptz")),
        "{err}"
    );
    let err = Ingest::new()
        .replace_slice(Slice::equal("nope", 1_i32))
        .insert(&mut tx, [product("a", 1)])
        .unwrap_err();
    assert!(
        matches!(&err, Error::Options { reason, .. } if reason.contains("nope")),
        "{err}"
    );
    let exists: bool = tx
        .query_one("SELECT to_regclass('public.product') IS NOT NULL", &[])
        .unwrap()
        .get(0);
    assert!(!exists);
}
