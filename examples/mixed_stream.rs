//! One stream of rows for two tables against loading them one after the
//! other: time and peak memory (RSS) of the client.
//!
//! ```text
//! cargo run --release --example mixed_stream               # 1,000,000 rows, 3 rounds
//! cargo run --release --example mixed_stream -- 200000 1   # rows, rounds
//! ```
//!
//! 1 row in 1,000 belongs to the small table. Each load runs in a child
//! process of its own (so that its peak RSS is its own), into fresh tables,
//! with the rows made as they are loaded. Medians are printed.

use std::process::Command;
use std::time::Instant;

use pg_bulk_ingest::{BulkRows, BulkTable};

#[derive(BulkTable)]
#[bulk(schema = "mix", table = "event")]
struct Event {
    #[bulk(primary_key)]
    id: i64,
    kind: String,
    value: f64,
    note: Option<String>,
}

#[derive(BulkTable)]
#[bulk(schema = "mix", table = "alert")]
struct Alert {
    #[bulk(primary_key)]
    id: i64,
    message: String,
}

#[derive(BulkRows)]
enum Row {
    Event(Event),
    Alert(Alert),
}

fn event(id: i64) -> Event {
    Event {
        id,
        kind: ["click", "view", "buy"][(id % 3) as usize].to_owned(),
        value: id as f64 * 0.25,
        note: (id % 5 == 0).then(|| format!("note {id}")),
    }
}

fn alert(id: i64) -> Alert {
    Alert {
        id,
        message: format!("alert for event {id}"),
    }
}

fn is_alert(id: i64) -> bool {
    id % 1000 == 999
}

fn peak_rss_kib() -> i64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(-1)
}

/// The child: loads `rows` rows one way, prints `seconds peak_rss_kib`.
fn child(mode: &str, rows: i64, conn: &str) {
    let mut client = postgres::Client::connect(conn, postgres::NoTls).unwrap();
    client
        .batch_execute("DROP SCHEMA IF EXISTS mix CASCADE; CHECKPOINT")
        .unwrap();
    let started = Instant::now();
    let mut tx = client.transaction().unwrap();
    match mode {
        "mixed" => {
            let stream = (0..rows).map(|id| {
                if is_alert(id) {
                    Row::Alert(alert(id))
                } else {
                    Row::Event(event(id))
                }
            });
            pg_bulk_ingest::insert(&mut tx, stream).unwrap();
        }
        "separate" => {
            pg_bulk_ingest::insert(&mut tx, (0..rows).filter(|&i| !is_alert(i)).map(event))
                .unwrap();
            pg_bulk_ingest::insert(&mut tx, (0..rows).filter(|&i| is_alert(i)).map(alert)).unwrap();
        }
        other => panic!("unknown mode {other}"),
    }
    tx.commit().unwrap();
    println!("{} {}", started.elapsed().as_secs_f64(), peak_rss_kib());
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        return child(&args[1], args[2].parse().unwrap(), &args[3]);
    }
    let rows: i64 = args.first().map_or(1_000_000, |a| a.parse().unwrap());
    let rounds: usize = args.get(1).map_or(3, |a| a.parse().unwrap());
    let config = pg_bulk_ingest_testkit::example_database("mixed_stream");
    let conn = pg_bulk_ingest_testkit::connection_string(&config);
    let exe = std::env::current_exe().unwrap();
    let modes = ["mixed", "separate"];
    let mut results = vec![(Vec::new(), Vec::new()); 2];
    for round in 0..rounds {
        for k in 0..2 {
            let i = if round % 2 == 0 { k } else { 1 - k };
            let out = Command::new(&exe)
                .args(["--child", modes[i], &rows.to_string(), &conn])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let text = String::from_utf8_lossy(&out.stdout);
            let mut parts = text.split_whitespace();
            results[i]
                .0
                .push(parts.next().unwrap().parse::<f64>().unwrap());
            results[i]
                .1
                .push(parts.next().unwrap().parse::<f64>().unwrap());
        }
    }
    println!("{rows} rows (1 in 1,000 for the second table), median of {rounds} rounds");
    println!(
        "{:<10} {:>10} {:>12} {:>14}",
        "load", "seconds", "rows/s", "peak RSS MiB"
    );
    for (mode, (secs, rss)) in modes.iter().zip(results) {
        let s = median(secs);
        println!(
            "{mode:<10} {s:>10.3} {:>12.0} {:>14.1}",
            rows as f64 / s,
            median(rss) / 1024.0
        );
    }
}
