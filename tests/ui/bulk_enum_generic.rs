use pg_bulk_ingest::BulkEnum;

#[derive(BulkEnum)]
enum Mood<T> {
    Happy,
    Sad,
    #[allow(dead_code)]
    Phantom(std::marker::PhantomData<T>),
}

fn main() {}
