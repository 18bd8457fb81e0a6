use pg_bulk_ingest::BulkTable;

// No `table` attribute: the default name (the snake_case struct name) is too long.
#[derive(BulkTable)]
struct AVeryLongStructNameWhoseSnakeCaseFormIsLongerThanPostgresAllowsForNames {
    id: i64,
}

fn main() {}
