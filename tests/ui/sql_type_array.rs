use pg_bulk_ingest::BulkTable;

#[derive(BulkTable)]
struct Tagged {
    id: i64,
    #[bulk(sql_type = "text[]")]
    tags: String,
}

#[derive(BulkTable)]
struct Scores {
    id: i64,
    #[bulk(sql_type = "integer")]
    scores: Vec<i32>,
}

#[derive(BulkTable)]
struct Grid {
    id: i64,
    cells: Vec<Vec<i32>>,
}

fn main() {}
