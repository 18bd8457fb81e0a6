//! The smallest end-to-end check: a derive, an insert, a read back.

use pg_bulk_ingest::BulkTable;

#[derive(BulkTable, Debug, Clone, PartialEq)]
struct Item {
    #[bulk(primary_key)]
    id: i64,
    name: String,
}

#[test]
fn insert_then_read_back() {
    let db = pg_bulk_ingest_testkit::server().create_database("smoke");
    let mut client = db.connect();
    let items: Vec<Item> = (0..3)
        .map(|id| Item {
            id,
            name: format!("n{id}"),
        })
        .collect();
    let mut tx = client.transaction().unwrap();
    let report = pg_bulk_ingest::insert(&mut tx, &items).unwrap();
    tx.commit().unwrap();
    assert_eq!(report.rows, 3);
    let back: Vec<Item> = client
        .query("SELECT id, name FROM public.item ORDER BY id", &[])
        .unwrap()
        .iter()
        .map(|r| Item {
            id: r.get(0),
            name: r.get(1),
        })
        .collect();
    assert_eq!(back, items);
}
