//! Loads 1,000,000 orders into `sales.orders` and prints the rate.
//!
//! ```text
//! cargo run --release --example quickstart            # 1,000,000 rows
//! cargo run --release --example quickstart -- 50000   # another count
//! ```
//!
//! With `DATABASE_URL` set (e.g. `postgresql://me@localhost/mydb`) it loads into
//! that database; without, it starts a throw-away PostgreSQL cluster from the
//! local binaries, which is removed when the program ends.

use std::time::Instant;

use chrono::{DateTime, TimeZone, Utc};
use pg_bulk_ingest::BulkTable;
use rust_decimal::Decimal;

#[derive(BulkTable)]
#[bulk(schema = "sales", table = "orders")]
struct Order {
    #[bulk(primary_key)]
    id: i64,
    #[bulk(sql_type = "varchar(32)")]
    customer: String,
    #[bulk(sql_type = "numeric(12,2)")]
    amount: Decimal,
    created: DateTime<Utc>,
    #[bulk(rename = "remark")]
    note: Option<String>,
}

/// The orders are made as they are loaded: nothing is collected in memory.
fn orders(count: i64) -> impl Iterator<Item = Order> {
    let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    (0..count).map(move |id| Order {
        id,
        customer: format!("customer-{}", id % 10_000),
        amount: Decimal::new(id % 1_000_000, 2),
        created: start + chrono::Duration::seconds(id),
        note: (id % 3 == 0).then(|| "gift wrap".to_owned()),
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    env_logger::init();
    let count: i64 = match std::env::args().nth(1) {
        Some(arg) => arg.parse()?,
        None => 1_000_000,
    };
    let config = pg_bulk_ingest_testkit::example_database("quickstart");
    let mut client = config.connect(postgres::NoTls)?;

    // The caller owns the transaction: nothing is visible until it commits.
    let started = Instant::now();
    let mut tx = client.transaction()?;
    let report = pg_bulk_ingest::insert(&mut tx, orders(count))?;
    tx.commit()?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "insert: {} rows in {secs:.2} s = {:.0} rows/s (table created: {})",
        report.rows,
        report.rows as f64 / secs,
        report.tables[0].created,
    );

    // Upsert: the first tenth again, changed; rows with the same key are updated.
    let changed = orders(count / 10).map(|mut o| {
        o.note = Some("updated".to_owned());
        o
    });
    let started = Instant::now();
    let mut tx = client.transaction()?;
    let report = pg_bulk_ingest::upsert(&mut tx, changed)?;
    tx.commit()?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "upsert: {} rows in {secs:.2} s = {:.0} rows/s ({} changed)",
        report.rows,
        report.rows as f64 / secs,
        report.tables[0].written,
    );

    let row = client.query_one(
        "SELECT count(*), count(*) FILTER (WHERE remark = 'updated') FROM sales.orders",
        &[],
    )?;
    let (total, updated): (i64, i64) = (row.get(0), row.get(1));
    println!("sales.orders now holds {total} rows, {updated} of them updated");
    Ok(())
}
