//! Several tables in one call: one stream of mixed rows, one transaction.

use pg_bulk_ingest::{BulkRows, BulkTable, Error};
use postgres::Client;

#[derive(BulkTable, Clone, Debug, PartialEq)]
#[bulk(schema = "sales")]
struct Order {
    #[bulk(primary_key)]
    id: i64,
    customer: String,
}

#[derive(BulkTable, Clone, Debug, PartialEq)]
#[bulk(schema = "sales")]
struct OrderLine {
    #[bulk(primary_key)]
    order_id: i64,
    #[bulk(primary_key)]
    line: i32,
    sku: String,
}

#[derive(BulkTable, Clone, Debug, PartialEq)]
#[bulk(schema = "sales")]
struct Refund {
    #[bulk(primary_key)]
    id: i64,
}

#[derive(BulkRows, Clone, Debug)]
enum SalesRow {
    Order(Order),
    Line(OrderLine),
    // Never constructed: the table that gets no rows in these calls.
    #[allow(dead_code)]
    Refund(Refund),
}

/// 20,000 orders and 20,000 lines, interleaved at random (fixed seed), each
/// table's rows in key order.
fn mixed(tag: &str) -> Vec<SalesRow> {
    let (mut orders, mut lines) = (0..20_000i64, 0..20_000i64);
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut out = Vec::with_capacity(40_000);
    loop {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let row = if state.is_multiple_of(2) {
            orders.next().map(|id| {
                SalesRow::Order(Order {
                    id,
                    customer: format!("{tag}{id}"),
                })
            })
        } else {
            lines.next().map(|n| {
                SalesRow::Line(OrderLine {
                    order_id: n / 4,
                    line: (n % 4) as i32,
                    sku: format!("{tag}{n}"),
                })
            })
        };
        match row {
            Some(row) => out.push(row),
            None if orders.is_empty() && lines.is_empty() => return out,
            None => {}
        }
    }
}

/// (count, checksum) of each table.
fn summary(client: &mut Client) -> Vec<(i64, String)> {
    ["order", "order_line", "refund"]
        .iter()
        .map(|t| {
            let row = client
                .query_one(
                    &format!(
                        "SELECT count(*), coalesce(md5(string_agg(t::text, ',' ORDER BY t::text)), '') \
                         FROM sales.\"{t}\" t"
                    ),
                    &[],
                )
                .unwrap();
            (row.get(0), row.get(1))
        })
        .collect()
}

fn expected(rows: &[SalesRow]) -> (Vec<Order>, Vec<OrderLine>) {
    let mut orders = Vec::new();
    let mut lines = Vec::new();
    for row in rows {
        match row {
            SalesRow::Order(o) => orders.push(o.clone()),
            SalesRow::Line(l) => lines.push(l.clone()),
            SalesRow::Refund(_) => {}
        }
    }
    (orders, lines)
}

fn read(client: &mut Client) -> (Vec<Order>, Vec<OrderLine>) {
    let orders = client
        .query("SELECT id, customer FROM sales.\"order\" ORDER BY id", &[])
        .unwrap()
        .iter()
        .map(|r| Order {
            id: r.get(0),
            customer: r.get(1),
        })
        .collect();
    let lines = client
        .query(
            "SELECT order_id, line, sku FROM sales.order_line ORDER BY order_id, line",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| OrderLine {
            order_id: r.get(0),
            line: r.get(1),
            sku: r.get(2),
        })
        .collect();
    (orders, lines)
}

#[test]
fn insert_upsert_replace_of_interleaved_rows() {
    let db = pg_bulk_ingest_testkit::server().create_database("multi");
    let mut client = db.connect();

    let first = mixed("a");
    let mut tx = client.transaction().unwrap();
    let report = pg_bulk_ingest::insert(&mut tx, &first).unwrap();
    tx.commit().unwrap();
    assert_eq!(report.rows, 40_000);
    assert_eq!(
        report.tables.iter().map(|t| t.rows).collect::<Vec<_>>(),
        [20_000, 20_000, 0]
    );
    assert_eq!(read(&mut client), expected(&first));
    // The table without rows was created too.
    assert_eq!(summary(&mut client)[2].0, 0);

    // Upsert: every row again with new values, then the same keys once more
    // later in the stream: the last one wins, per table.
    let second = mixed("b");
    let third = mixed("c");
    let mut tx = client.transaction().unwrap();
    pg_bulk_ingest::upsert(&mut tx, second.iter().chain(third.iter())).unwrap();
    tx.commit().unwrap();
    assert_eq!(read(&mut client), expected(&third));

    // Replace with only orders: the lines table is emptied.
    let only_orders: Vec<SalesRow> = (0..10)
        .map(|id| {
            SalesRow::Order(Order {
                id,
                customer: "r".into(),
            })
        })
        .collect();
    let mut tx = client.transaction().unwrap();
    pg_bulk_ingest::replace(&mut tx, only_orders).unwrap();
    tx.commit().unwrap();
    let (orders, lines) = read(&mut client);
    assert_eq!(orders.len(), 10);
    assert!(lines.is_empty());
}

#[test]
fn an_error_in_the_second_table_leaves_both_unchanged() {
    let db = pg_bulk_ingest_testkit::server().create_database("multi_error");
    let mut client = db.connect();
    let first = mixed("a");
    let mut tx = client.transaction().unwrap();
    pg_bulk_ingest::insert(&mut tx, &first).unwrap();
    tx.commit().unwrap();
    let before = summary(&mut client);

    let mut bad = mixed("b");
    let position = bad
        .iter()
        .rposition(|r| matches!(r, SalesRow::Line(_)))
        .unwrap();
    if let SalesRow::Line(line) = &mut bad[position] {
        line.sku = "nul\0here".into();
    }
    for upsert in [false, true] {
        let mut tx = client.transaction().unwrap();
        let err = if upsert {
            pg_bulk_ingest::upsert(&mut tx, &bad).unwrap_err()
        } else {
            pg_bulk_ingest::replace(&mut tx, &bad).unwrap_err()
        };
        match &err {
            Error::InvalidValue {
                row, column, table, ..
            } => {
                assert_eq!(*row, position as u64);
                assert_eq!(column, "sku");
                assert_eq!(table, "\"sales\".\"order_line\"");
            }
            other => panic!("unexpected error: {other}"),
        }
        tx.commit().unwrap();
        assert_eq!(summary(&mut client), before);
    }
}

#[test]
fn server_rejection_names_the_input_position_across_tables() {
    let db = pg_bulk_ingest_testkit::server().create_database("multi_reject");
    let mut client = db.connect();
    let rows = mixed("a");
    let mut tx = client.transaction().unwrap();
    pg_bulk_ingest::insert(&mut tx, &rows[..100]).unwrap();
    tx.commit().unwrap();
    // Inserting a row whose key exists fails at that row's input position.
    let mut again: Vec<SalesRow> = rows[100..].to_vec();
    let dup = again.len() - 7;
    again[dup] = rows[3].clone();
    let mut tx = client.transaction().unwrap();
    let err = pg_bulk_ingest::insert(&mut tx, &again).unwrap_err();
    assert_eq!(err.sqlstate(), Some("23505"), "{err}");
    assert_eq!(err.row(), Some(dup as u64), "{err}");
}

mod same_names {
    //! Names the library makes up never collide: two tables of one call with
    //! the same name in two schemas, and two tables whose names agree in
    //! their first 63 bytes.
    use pg_bulk_ingest::{BulkRows, BulkTable};

    #[derive(BulkTable, Clone, Debug, PartialEq)]
    #[bulk(schema = "sales", table = "orders")]
    pub struct Sale {
        #[bulk(primary_key)]
        pub id: i64,
        #[bulk(index)]
        pub amount: i32,
    }

    #[derive(BulkTable, Clone, Debug, PartialEq)]
    #[bulk(schema = "archive", table = "orders")]
    pub struct Archived {
        #[bulk(primary_key)]
        pub id: i64,
        #[bulk(index)]
        pub amount: i32,
    }

    #[derive(BulkTable, Clone, Debug, PartialEq)]
    #[bulk(
        schema = "long",
        table = "a_table_name_that_runs_on_and_on_past_sixty_three_bytes_one"
    )]
    pub struct LongOne {
        #[bulk(primary_key)]
        pub id: i64,
        #[bulk(index)]
        pub amount: i32,
    }

    #[derive(BulkTable, Clone, Debug, PartialEq)]
    #[bulk(
        schema = "long",
        table = "a_table_name_that_runs_on_and_on_past_sixty_three_bytes_two"
    )]
    pub struct LongTwo {
        #[bulk(primary_key)]
        pub id: i64,
        #[bulk(index)]
        pub amount: i32,
    }

    #[derive(BulkRows, Clone, Debug)]
    pub enum Row {
        Sale(Sale),
        Archived(Archived),
        LongOne(LongOne),
        LongTwo(LongTwo),
    }

    pub fn rows(amount: i32) -> Vec<Row> {
        (0..50)
            .flat_map(|id| {
                [
                    Row::Sale(Sale { id, amount }),
                    Row::Archived(Archived { id, amount }),
                    Row::LongOne(LongOne { id, amount }),
                    Row::LongTwo(LongTwo { id, amount }),
                ]
            })
            .collect()
    }
}

#[test]
fn tables_of_one_name_in_two_schemas_and_long_names_load_together() {
    use same_names::rows;
    let db = pg_bulk_ingest_testkit::server().create_database("multi_same_names");
    let mut client = db.connect();
    let tables = [
        "sales.orders",
        "archive.orders",
        "long.a_table_name_that_runs_on_and_on_past_sixty_three_bytes_one",
        "long.a_table_name_that_runs_on_and_on_past_sixty_three_bytes_two",
    ];
    // Created by the call, then existing (merge), then replaced (swaps).
    for (round, amount) in [(0, 1i64), (1, 2), (2, 3)] {
        let mut tx = client.transaction().unwrap();
        let rows = rows(amount as i32);
        let result = match round {
            2 => pg_bulk_ingest::replace(&mut tx, rows),
            _ => pg_bulk_ingest::upsert(&mut tx, rows),
        };
        result.unwrap_or_else(|e| panic!("round {round}: {e}"));
        tx.commit().unwrap();
        for table in tables {
            let row = client
                .query_one(
                    &format!("SELECT count(*), sum(amount)::int8 FROM {table}"),
                    &[],
                )
                .unwrap_or_else(|e| panic!("{table}: {}", pg_bulk_ingest_testkit::describe(&e)));
            let (count, sum): (i64, i64) = (row.get(0), row.get(1));
            assert_eq!((count, sum), (50, 50 * amount), "{table}, round {round}");
        }
    }
    // The two long names are two tables, each with its own key and index.
    let relations: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = 'long'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(relations, 6, "two tables, two keys, two indexes");
}
