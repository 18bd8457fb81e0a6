//! `insert` next to a hand-written `postgres::binary_copy::BinaryCopyInWriter`
//! loop, for the same rows of the `Order` shape, in one run.
//!
//! ```text
//! cargo run --release --example compare_copy               # 1,000,000 rows, 3 rounds
//! cargo run --release --example compare_copy -- 200000 5   # rows, rounds
//! ```
//!
//! Each round loads the rows into a fresh table with its primary key, once
//! per contender, in alternating order; the table is created beforehand so both
//! load into the same kind of table. A third contender lets `insert` create the
//! table itself (load first, then build the key). Medians are printed, with
//! the client's CPU time (user + system) per load.

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use pg_bulk_ingest::BulkTable;
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::{ToSql, Type};
use postgres::Client;
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
    note: Option<String>,
}

fn orders(count: i64) -> Vec<Order> {
    let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    (0..count)
        .map(|id| Order {
            id,
            customer: format!("customer-{}", id % 10_000),
            amount: Decimal::new(id % 1_000_000, 2),
            created: start + chrono::Duration::seconds(id),
            note: (id % 3 == 0).then(|| "gift wrap".to_owned()),
        })
        .collect()
}

const CREATE: &str = "CREATE TABLE sales.orders (id bigint PRIMARY KEY, \
    customer varchar(32) NOT NULL, amount numeric(12,2) NOT NULL, \
    created timestamptz NOT NULL, note text)";

fn reset(client: &mut Client, create: bool) {
    client
        .batch_execute("DROP SCHEMA IF EXISTS sales CASCADE; CREATE SCHEMA sales")
        .unwrap();
    if create {
        client.batch_execute(CREATE).unwrap();
    }
    client.batch_execute("CHECKPOINT").unwrap();
}

fn cpu_time() -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::uninit();
    // SAFETY: getrusage fills the struct it is given.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
        usage.assume_init()
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// Runs `load` and returns (wall seconds, client CPU seconds).
fn measure(client: &mut Client, load: impl FnOnce(&mut Client)) -> (f64, f64) {
    let (wall, cpu) = (Instant::now(), cpu_time());
    load(client);
    (
        wall.elapsed().as_secs_f64(),
        (cpu_time() - cpu).as_secs_f64(),
    )
}

fn library(client: &mut Client, rows: &[Order]) {
    let mut tx = client.transaction().unwrap();
    pg_bulk_ingest::insert(&mut tx, rows).unwrap();
    tx.commit().unwrap();
}

fn hand_written(client: &mut Client, rows: &[Order]) {
    let mut tx = client.transaction().unwrap();
    let sink = tx
        .copy_in(
            "COPY sales.orders (id, customer, amount, created, note) FROM STDIN (FORMAT binary)",
        )
        .unwrap();
    let types = [
        Type::INT8,
        Type::VARCHAR,
        Type::NUMERIC,
        Type::TIMESTAMPTZ,
        Type::TEXT,
    ];
    let mut writer = BinaryCopyInWriter::new(sink, &types);
    for o in rows {
        let values: [&(dyn ToSql + Sync); 5] = [&o.id, &o.customer, &o.amount, &o.created, &o.note];
        writer.write(&values).unwrap();
    }
    writer.finish().unwrap();
    tx.commit().unwrap();
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let count: i64 = args.next().map_or(1_000_000, |a| a.parse().unwrap());
    let rounds: usize = args.next().map_or(3, |a| a.parse().unwrap());
    let config = pg_bulk_ingest_testkit::example_database("compare_copy");
    let mut client = config.connect(postgres::NoTls).unwrap();
    let version: String = client.query_one("SHOW server_version", &[]).unwrap().get(0);
    let fsync: String = client.query_one("SHOW fsync", &[]).unwrap().get(0);
    let rows = orders(count);

    type Contender = (&'static str, bool, fn(&mut Client, &[Order]));
    let contenders: [Contender; 3] = [
        ("BinaryCopyInWriter, existing table", true, hand_written),
        ("pg_bulk_ingest::insert, existing table", true, library),
        ("pg_bulk_ingest::insert, creates table", false, library),
    ];
    let mut results = vec![(Vec::new(), Vec::new()); contenders.len()];
    for round in 0..rounds {
        for k in 0..contenders.len() {
            // Alternate the order so neither side always runs first.
            let i = if round % 2 == 0 {
                k
            } else {
                contenders.len() - 1 - k
            };
            let (_, create, load) = contenders[i];
            reset(&mut client, create);
            let (wall, cpu) = measure(&mut client, |c| load(c, &rows));
            results[i].0.push(wall);
            results[i].1.push(cpu);
        }
    }
    println!(
        "{count} rows of the Order shape, median of {rounds} rounds, PostgreSQL {version} (fsync={fsync})"
    );
    println!(
        "{:<42} {:>12} {:>14}",
        "contender", "rows/s", "client CPU s"
    );
    let base = count as f64 / median(results[0].0.clone());
    for ((name, _, _), (walls, cpus)) in contenders.iter().zip(results) {
        let rate = count as f64 / median(walls);
        println!(
            "{name:<42} {rate:>12.0} {:>14.3}   ({:.2}x)",
            median(cpus),
            rate / base
        );
    }
}
