//! An upsert of several million rows with a progress bar.
//!
//! ```text
//! cargo run --release --example progress              # 3,000,000 rows
//! cargo run --release --example progress -- 500000
//! ```
//!
//! The progress callback is called at each phase and about every 100 ms while
//! rows are loading; phases also go to `log` (run with `RUST_LOG=info`).

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use pg_bulk_ingest::{BulkTable, Ingest, Phase};

#[derive(BulkTable)]
#[bulk(schema = "metrics", table = "readings")]
struct Reading {
    #[bulk(primary_key)]
    sensor: i32,
    #[bulk(primary_key)]
    seq: i64,
    value: f64,
    #[bulk(sql_type = "varchar(16)")]
    unit: String,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    env_logger::init();
    let count: u64 = match std::env::args().nth(1) {
        Some(arg) => arg.parse()?,
        None => 3_000_000,
    };
    let config = pg_bulk_ingest_testkit::example_database("progress");
    let mut client = config.connect(postgres::NoTls)?;

    let bar = ProgressBar::new(count);
    bar.set_style(ProgressStyle::with_template(
        "{msg:>10} [{bar:40}] {human_pos}/{human_len} rows  {per_sec}  {elapsed}",
    )?);
    let rows = (0..count as i64).map(|i| Reading {
        sensor: (i % 1000) as i32,
        seq: i / 1000,
        value: i as f64 * 0.5,
        unit: "kPa".to_owned(),
    });

    let mut tx = client.transaction()?;
    let report = Ingest::new()
        .progress_interval(Duration::from_millis(100))
        .on_progress(|p| {
            bar.set_position(p.rows);
            bar.set_message(match p.phase {
                Phase::Preparing => "preparing",
                Phase::Loading => "loading",
                Phase::Finishing => "merging",
                _ => "done",
            });
        })
        .upsert(&mut tx, rows)?;
    tx.commit()?;
    bar.finish();
    println!(
        "upserted {} rows in {:.2} s",
        report.rows,
        report.elapsed.as_secs_f64()
    );
    Ok(())
}
