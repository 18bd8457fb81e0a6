//! Columns the database fills, against a real server: identity columns
//! (`ALWAYS` and `BY DEFAULT`), stored generated columns and defaults the
//! struct never sends. They are created and compared like other columns, left
//! out of the COPY, keep their values across upserts, and keep the identity
//! sequence's position across a rebuild and a `replace`.

use chrono::{DateTime, Utc};
use pg_bulk_ingest::{BulkTable, Generated, Ingest, Mode, UpsertStrategy};
use postgres::{Client, GenericClient};

#[derive(BulkTable, Debug, Clone)]
#[bulk(schema = "crm", table = "contact", unique(tenant, email))]
struct Contact {
    #[bulk(primary_key, identity)]
    id: Generated<i64>,
    tenant: i32,
    email: String,
    name: String,
    #[bulk(generated = "lower(email)")]
    email_lower: Generated<String>,
    #[bulk(default = "now()", db_fills)]
    created_at: Generated<DateTime<Utc>>,
}

fn contact(tenant: i32, email: &str, name: &str) -> Contact {
    Contact {
        id: Generated::new(),
        tenant,
        email: email.to_owned(),
        name: name.to_owned(),
        email_lower: Generated::new(),
        created_at: Generated::new(),
    }
}

/// `(id, tenant, email, name, email_lower, created_at)` by id.
type Stored = (i64, i32, String, String, String, DateTime<Utc>);

fn stored(client: &mut impl GenericClient) -> Vec<Stored> {
    client
        .query(
            "SELECT id, tenant, email, name, email_lower, created_at FROM crm.contact ORDER BY id",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5)))
        .collect()
}

fn oid(client: &mut impl GenericClient) -> u32 {
    client
        .query_one("SELECT 'crm.contact'::regclass::oid", &[])
        .unwrap()
        .get(0)
}

/// Where the table's identity sequence stands (`None`: never used).
fn sequence_position(client: &mut impl GenericClient) -> Option<i64> {
    client
        .query_one(
            "SELECT pg_catalog.pg_sequence_last_value(\
             pg_catalog.pg_get_serial_sequence('crm.contact', 'id')::regclass)",
            &[],
        )
        .unwrap()
        .get(0)
}

fn upsert(client: &mut Client, rows: &[Contact]) -> pg_bulk_ingest::Report {
    let mut tx = client.transaction().unwrap();
    let report = Ingest::new()
        .upsert_strategy(UpsertStrategy::Merge)
        .upsert(&mut tx, rows)
        .unwrap();
    tx.commit().unwrap();
    report
}

#[test]
fn an_identity_table_is_upserted_through_its_unique_key() {
    let db = pg_bulk_ingest_testkit::server().create_database("filled_identity");
    let mut client = db.connect();

    // 1: three new rows, ids from the sequence.
    let report = upsert(
        &mut client,
        &[
            contact(1, "Ann@X", "Ann"),
            contact(1, "bob@x", "Bob"),
            contact(2, "Ann@X", "Abe"),
        ],
    );
    assert!(report.tables[0].created);
    let first = stored(&mut client);
    assert_eq!(first.len(), 3);
    let oid_before = oid(&mut client);
    for row in &first {
        assert_eq!(row.4, row.2.to_lowercase(), "the generated column");
    }
    // The COPY sends only the columns the struct sends.
    let plan = pg_bulk_ingest::plan::<Contact>(&mut client, Mode::Upsert).unwrap();
    assert!(
        plan.statements().iter().any(|s| s.starts_with("COPY")
            && s.contains(r#"("pg_bulk_ingest_position", "tenant", "email", "name")"#)),
        "{plan}"
    );
    assert_eq!(plan.path(), pg_bulk_ingest::plan::Path::Nothing, "{plan}");

    // 2: one changed, one new, one unchanged; matched on (tenant, email).
    let report = upsert(
        &mut client,
        &[
            contact(1, "Ann@X", "Ann"),
            contact(1, "bob@x", "Robert"),
            contact(3, "Cy@X", "Cy"),
        ],
    );
    let t = &report.tables[0];
    assert_eq!(
        (t.inserted, t.updated, t.unchanged),
        (Some(1), Some(1), Some(1))
    );
    let second = stored(&mut client);
    assert_eq!(second.len(), 4);
    // Stored rows keep their id and their created_at; the new one gets a new
    // id, never one handed out before.
    for old in &first {
        let now = second.iter().find(|r| r.0 == old.0).expect("kept its id");
        assert_eq!((now.1, &now.2, now.5), (old.1, &old.2, old.5));
    }
    let cy = second.iter().find(|r| r.2 == "Cy@X").unwrap();
    assert!(cy.0 > first.iter().map(|r| r.0).max().unwrap());
    assert_eq!(cy.4, "cy@x");

    // 3: the same batch again: nothing changes, not even the table.
    let report = upsert(
        &mut client,
        &[
            contact(1, "Ann@X", "Ann"),
            contact(1, "bob@x", "Robert"),
            contact(3, "Cy@X", "Cy"),
        ],
    );
    assert_eq!(report.tables[0].unchanged, Some(3));
    assert_eq!(stored(&mut client), second);
    assert_eq!(oid(&mut client), oid_before, "a re-run keeps the table");
    let ids: Vec<i64> = second.iter().map(|r| r.0).collect();
    let mut unique = ids.clone();
    unique.dedup();
    assert_eq!(ids, unique, "ids are never reused");
}

#[test]
fn a_rebuild_and_a_replace_keep_the_identity_sequence_going() {
    let db = pg_bulk_ingest_testkit::server().create_database("filled_swaps");
    let mut client = db.connect();
    upsert(
        &mut client,
        &[
            contact(1, "a@x", "A"),
            contact(1, "b@x", "B"),
            contact(1, "c@x", "C"),
        ],
    );
    // Ids handed out and not stored (a row deleted) count too.
    client
        .batch_execute("DELETE FROM crm.contact WHERE email = 'c@x'")
        .unwrap();
    let before = stored(&mut client);
    let handed_out = sequence_position(&mut client).unwrap();
    assert_eq!(handed_out, 3);

    // A migration that rebuilds: the live column `name` is of another type.
    client
        .batch_execute("ALTER TABLE crm.contact ALTER COLUMN name TYPE varchar(50)")
        .unwrap();
    let oid_before = oid(&mut client);
    let report = upsert(
        &mut client,
        &[contact(1, "b@x", "Bee"), contact(2, "d@x", "D")],
    );
    assert_eq!(
        report.tables[0].plan.path(),
        pg_bulk_ingest::plan::Path::Rebuild
    );
    assert_ne!(oid(&mut client), oid_before);
    let after = stored(&mut client);
    // Stored rows kept their ids, created_at and generated values.
    let a = after.iter().find(|r| r.2 == "a@x").unwrap();
    assert_eq!(a, &before[0]);
    let b = after.iter().find(|r| r.2 == "b@x").unwrap();
    assert_eq!(
        (b.0, &b.3, b.5),
        (before[1].0, &"Bee".to_owned(), before[1].5)
    );
    let d = after.iter().find(|r| r.2 == "d@x").unwrap();
    assert!(d.0 > handed_out, "{} after {handed_out}", d.0);
    // The sequence has the name PostgreSQL gives it, and a re-run changes
    // nothing.
    let name: String = client
        .query_one(
            "SELECT pg_catalog.pg_get_serial_sequence('crm.contact', 'id')",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(name, "crm.contact_id_seq");
    let rebuilt = oid(&mut client);
    upsert(&mut client, &[contact(2, "d@x", "D")]);
    assert_eq!(oid(&mut client), rebuilt);

    // A replace: every new row's id is beyond every id handed out before.
    let handed_out = sequence_position(&mut client).unwrap();
    let mut tx = client.transaction().unwrap();
    pg_bulk_ingest::replace(&mut tx, [contact(5, "e@x", "E"), contact(5, "f@x", "F")]).unwrap();
    tx.commit().unwrap();
    let replaced = stored(&mut client);
    assert_eq!(replaced.len(), 2);
    assert!(
        replaced.iter().all(|r| r.0 > handed_out),
        "{replaced:?} after {handed_out}"
    );
    assert!(replaced.iter().all(|r| r.4 == r.2), "the generated column");
    // And inserts after it go on from there.
    let last = replaced.iter().map(|r| r.0).max().unwrap();
    let mut tx = client.transaction().unwrap();
    pg_bulk_ingest::insert(&mut tx, [contact(6, "g@x", "G")]).unwrap();
    tx.commit().unwrap();
    assert!(stored(&mut client).iter().any(|r| r.0 > last));
}

#[test]
fn insert_and_replace_with_a_duplicates_choice_on_an_identity_key() {
    let db = pg_bulk_ingest_testkit::server().create_database("filled_duplicates");
    let mut client = db.connect();
    // The primary key is the database's: nothing to de-duplicate on it.
    for (n, choice) in [
        pg_bulk_ingest::Duplicates::KeepLast,
        pg_bulk_ingest::Duplicates::Error,
    ]
    .into_iter()
    .enumerate()
    {
        let tenant = n as i32;
        let mut tx = client.transaction().unwrap();
        Ingest::new()
            .duplicates(choice)
            .insert(
                &mut tx,
                [contact(tenant, "a@x", "A"), contact(tenant, "b@x", "B")],
            )
            .unwrap();
        tx.commit().unwrap();
        let mut tx = client.transaction().unwrap();
        Ingest::new()
            .duplicates(choice)
            .replace(&mut tx, [contact(tenant, "a@x", "A")])
            .unwrap();
        tx.commit().unwrap();
    }
    assert_eq!(stored(&mut client).len(), 1);
}

#[derive(BulkTable, Debug, Clone)]
#[bulk(table = "ticket")]
struct Ticket {
    #[bulk(primary_key, identity = "by default")]
    id: Generated<i32>,
    title: String,
    #[bulk(generated = "length(title) * 2")]
    doubled: Generated<Option<i32>>,
}

#[test]
fn by_default_identity_and_an_expression_over_another_column() {
    let db = pg_bulk_ingest_testkit::server().create_database("filled_by_default");
    let mut client = db.connect();
    let ticket = |title: &str| Ticket {
        id: Generated::new(),
        title: title.to_owned(),
        doubled: Generated::new(),
    };
    for _ in 0..2 {
        let mut tx = client.transaction().unwrap();
        pg_bulk_ingest::insert(&mut tx, [ticket("ab"), ticket("abcd")]).unwrap();
        tx.commit().unwrap();
    }
    let rows: Vec<(i32, String, Option<i32>)> = client
        .query(
            "SELECT id, title, doubled FROM public.ticket ORDER BY id",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        rows,
        [
            (1, "ab".to_owned(), Some(4)),
            (2, "abcd".to_owned(), Some(8)),
            (3, "ab".to_owned(), Some(4)),
            (4, "abcd".to_owned(), Some(8)),
        ]
    );
    let row = client
        .query_one(
            "SELECT (SELECT attidentity::text FROM pg_attribute WHERE attrelid = 'public.ticket'::regclass AND attname = 'id'), \
                    (SELECT attgenerated::text FROM pg_attribute WHERE attrelid = 'public.ticket'::regclass AND attname = 'doubled')",
            &[],
        )
        .unwrap();
    let (identity, generated): (String, String) = (row.get(0), row.get(1));
    assert_eq!((identity.as_str(), generated.as_str()), ("d", "s"));
}

#[test]
fn a_changed_fill_is_refused_naming_the_column() {
    let db = pg_bulk_ingest_testkit::server().create_database("filled_refused");
    let mut client = db.connect();
    // The live table's expression differs from the declared one.
    client
        .batch_execute(
            "CREATE TABLE public.ticket (id integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, \
             title text NOT NULL, doubled integer GENERATED ALWAYS AS (length(title) * 3) STORED)",
        )
        .unwrap();
    let mut tx = client.transaction().unwrap();
    let err = pg_bulk_ingest::insert(
        &mut tx,
        [Ticket {
            id: Generated::new(),
            title: "x".into(),
            doubled: Generated::new(),
        }],
    )
    .unwrap_err();
    assert!(
        matches!(&err, pg_bulk_ingest::Error::Refused { .. })
            && err.to_string().contains("\"doubled\"")
            && err.to_string().contains("length(title) * 3"),
        "{err}"
    );
}
