use pg_bulk_ingest::BulkTable;

#[derive(BulkTable)]
struct LogLine {
    line: String,
}

fn load(tx: &mut postgres::Transaction<'_>, lines: &[LogLine]) {
    let _ = pg_bulk_ingest::Ingest::new().upsert(tx, lines);
}

fn main() {}
