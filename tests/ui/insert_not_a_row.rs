struct Plain {
    id: i64,
}

fn load(tx: &mut postgres::Transaction<'_>, rows: Vec<Plain>) {
    let _ = pg_bulk_ingest::insert(tx, rows);
}

fn main() {}
