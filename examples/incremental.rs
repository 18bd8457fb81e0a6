//! A resumable incremental load: an upstream source is read in batches, each
//! batch upserted and committed with its high watermark, and a load that is
//! killed resumes, when run again, after the last batch it committed.
//!
//! ```text
//! cargo run --release --example incremental            # a load, killed, then run again
//! DATABASE_URL=postgresql://me@localhost/mydb \
//!     cargo run --release --example incremental -- --load   # one load: kill it and re-run it
//! ```
//!
//! Without `--load`, the program runs the load in a child process, kills it
//! (SIGKILL) after about a second, runs it again to the end, and checks that
//! every row is in the table once and the watermark is the upstream's last.

use std::process::{Command, Stdio};
use std::time::Duration;

use pg_bulk_ingest::{Batch, BulkTable, HighWatermark, Ingest, Visible};

#[derive(BulkTable)]
#[bulk(schema = "shop", table = "orders")]
struct Order {
    #[bulk(primary_key)]
    id: i64,
    customer: String,
    amount_cents: i64,
}

/// The upstream: 60 pages of 5,000 orders, page `p` holding ids
/// `p * 5000 ..`. A page takes a moment to fetch, as from an API.
const PAGES: i64 = 60;
const PER_PAGE: i64 = 5_000;

/// The pages after `since` (the last page a previous run committed), as
/// batches: the watermark of a batch is its page's number.
fn pages_after(
    since: Option<&str>,
) -> impl Iterator<Item = Result<Batch<Vec<Order>, i64>, std::num::ParseIntError>> {
    let from = since.map(str::parse::<i64>);
    let first = match &from {
        Some(Ok(page)) => page + 1,
        _ => 0,
    };
    // A watermark that doesn't parse is the source's error, before any batch.
    let bad = from.and_then(Result::err).map(Err);
    bad.into_iter().chain((first..PAGES).map(|page| {
        std::thread::sleep(Duration::from_millis(60));
        let rows = (page * PER_PAGE..(page + 1) * PER_PAGE)
            .map(|id| Order {
                id,
                customer: format!("customer {}", id % 977),
                amount_cents: id * 7 % 10_000,
            })
            .collect();
        Ok(Batch::with_metadata(page.to_string(), page, rows))
    }))
}

/// One load, from where the last one stopped.
fn load(conn: &str) {
    let mut client = postgres::Client::connect(conn, postgres::NoTls).unwrap();
    let report = Ingest::new()
        .on_before_visible(|_tx, visible: &Visible<'_, i64>| {
            println!(
                "page {:>2}: {} rows, committing with high watermark {:?}",
                visible.metadata(),
                visible.rows(),
                visible.high_watermark()
            );
            Ok(())
        })
        .upsert_batches(&mut client, HighWatermark::Latest, |since| {
            match since {
                Some(page) => println!("resuming after page {page}"),
                None => println!("starting from the first page"),
            }
            pages_after(since)
        })
        .unwrap();
    println!(
        "done: {} batches, {} rows in {:.2} s; high watermark {:?}",
        report.batches,
        report.rows,
        report.elapsed.as_secs_f64(),
        report.high_watermark
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        return load(&args[1]);
    }
    let config = pg_bulk_ingest_testkit::example_database("incremental");
    let conn = pg_bulk_ingest_testkit::connection_string(&config);
    if args.first().map(String::as_str) == Some("--load") {
        return load(&conn);
    }
    let exe = std::env::current_exe().unwrap();
    let child = || {
        Command::new(&exe)
            .args(["--child", &conn])
            .stdout(Stdio::inherit())
            .spawn()
            .unwrap()
    };

    println!("-- a load, killed after about a second");
    let mut first = child();
    std::thread::sleep(Duration::from_millis(1200));
    first.kill().unwrap();
    first.wait().unwrap();
    let mut client = config.connect(postgres::NoTls).unwrap();
    let stored = pg_bulk_ingest::high_watermark::<Order>(&mut client).unwrap();
    println!("-- killed; the table's high watermark is {stored:?}");

    println!("-- the same load, run again");
    let status = child().wait().unwrap();
    assert!(status.success());

    let (rows, distinct): (i64, i64) = client
        .query_one("SELECT count(*), count(DISTINCT id) FROM shop.orders", &[])
        .map(|r| (r.get(0), r.get(1)))
        .unwrap();
    let last = pg_bulk_ingest::high_watermark::<Order>(&mut client).unwrap();
    assert_eq!((rows, distinct), (PAGES * PER_PAGE, PAGES * PER_PAGE));
    assert_eq!(last, Some((PAGES - 1).to_string()));
    println!("-- every order is in shop.orders once ({rows}); high watermark {last:?}");
}
