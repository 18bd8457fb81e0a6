use super::*;
use crate::fixtures::{col, ODD_NAMES as DEF, ORDERS as TABLE, WITH_ENUM};

fn live() -> LiveTable {
    LiveTable {
        oid: 42,
        columns: vec![
            col("note", "text", true),
            col("id", "bigint", false),
            col("customer", "character varying(16)", false),
        ],
        primary_key: vec!["id".into()],
        indexes: Vec::new(),
        partitioning: None,
        plain_inserts: true,
    }
}

#[test]
fn tables_keys_and_indexes() {
    assert_eq!(
        create_table(&TABLE, "orders"),
        r#"CREATE TABLE "sales"."orders" ("id" bigint NOT NULL, "customer" character varying(32) NOT NULL, "note" text)"#
    );
    // An intermediate table names its NOT NULLs for the table it becomes.
    assert_eq!(
        create_table(&TABLE, "orders_pgbi_new"),
        r#"CREATE TABLE "sales"."orders_pgbi_new" ("id" bigint CONSTRAINT "orders_id_not_null" NOT NULL, "customer" character varying(32) CONSTRAINT "orders_customer_not_null" NOT NULL, "note" text)"#
    );
    assert_eq!(
        add_primary_key(&TABLE, "orders").unwrap(),
        r#"ALTER TABLE "sales"."orders" ADD CONSTRAINT "orders_pkey" PRIMARY KEY ("id")"#
    );
    assert_eq!(
        index_statements(&TABLE, "orders", &TABLE.indexes[0]),
        [
            r#"CREATE INDEX "orders_customer_idx" ON "sales"."orders" USING "btree" ("customer")"#,
            r#"COMMENT ON INDEX "sales"."orders_customer_idx" IS 'pg-bulk-ingest'"#
        ]
    );
}

#[test]
fn live_rows_are_cast_and_filtered() {
    assert_eq!(
        copy_live_rows(&TABLE, &live(), "orders_pgbi_new", false),
        r#"INSERT INTO "sales"."orders_pgbi_new" ("id", "customer", "note") SELECT o."id", CAST(o."customer" AS text), o."note" FROM "sales"."orders" AS o"#
    );
    let mut same = live();
    same.columns[2] = col("customer", "character varying(32)", false);
    assert_eq!(
        copy_live_rows(&TABLE, &same, "orders_pgbi_new", true),
        r#"INSERT INTO "sales"."orders_pgbi_new" ("id", "customer", "note") SELECT o."id", o."customer", o."note" FROM "sales"."orders" AS o WHERE NOT EXISTS (SELECT 1 FROM "sales"."orders_pgbi_new" AS n WHERE n."id" = o."id")"#
    );
    assert_eq!(
        dedupe_loaded(&TABLE, TABLE.primary_key, "orders_pgbi_new", Keep::Last),
        r#"DELETE FROM "sales"."orders_pgbi_new" AS a USING "sales"."orders_pgbi_new" AS b WHERE a."id" = b."id" AND a.ctid < b.ctid"#
    );
    assert!(
        dedupe_loaded(&TABLE, TABLE.primary_key, "orders_pgbi_new", Keep::First)
            .ends_with("a.ctid > b.ctid")
    );
    // From text, the values go through a cast by label.
    let with_text = LiveTable {
        oid: 7,
        columns: vec![col("id", "bigint", false), col("mood", "text", true)],
        primary_key: Vec::new(),
        indexes: Vec::new(),
        partitioning: None,
        plain_inserts: true,
    };
    assert_eq!(
        copy_live_rows(&WITH_ENUM, &with_text, "t_new", false),
        r#"INSERT INTO "s"."t_new" ("id", "mood") SELECT o."id", CAST(CAST(o."mood" AS text) AS "s"."mood") FROM "s"."t" AS o"#
    );
}

#[test]
fn swaps_rename_the_new_table_and_its_key() {
    assert_eq!(
        swap(&TABLE, "orders_pgbi_new"),
        [
            r#"DROP TABLE "sales"."orders""#,
            r#"ALTER TABLE "sales"."orders_pgbi_new" RENAME TO "orders""#,
            r#"ALTER TABLE "sales"."orders" RENAME CONSTRAINT "orders_pgbi_new_pkey" TO "orders_pkey""#,
            r#"ALTER INDEX "sales"."orders_pgbi_new_customer_idx" RENAME TO "orders_customer_idx""#,
        ]
    );
    assert_eq!(
        alteration(
            &TABLE,
            &Change::AlterType {
                column: "customer".into(),
                from: "character varying(16)".into(),
                to: "character varying(32)".into(),
                cast: crate::diff::Cast::BinaryCoercible,
            }
        ),
        r#"ALTER TABLE "sales"."orders" ALTER COLUMN "customer" TYPE character varying(32)"#
    );
}

#[test]
fn enum_statements_quote_labels() {
    static MOOD: EnumDef = EnumDef::new("s", "mood", &["happy", "it's"]);
    assert_eq!(
        create_enum(&MOOD, MOOD.labels),
        r#"CREATE TYPE "s"."mood" AS ENUM ('happy', 'it''s')"#
    );
    assert_eq!(
        add_enum_label(&MOOD, "sad", Some((true, "happy"))),
        r#"ALTER TYPE "s"."mood" ADD VALUE IF NOT EXISTS 'sad' AFTER 'happy'"#
    );
    assert_eq!(
        add_enum_label(&MOOD, "a\\b", Some((false, "happy"))),
        r#"ALTER TYPE "s"."mood" ADD VALUE IF NOT EXISTS E'a\\b' BEFORE 'happy'"#
    );
    assert_eq!(
        add_enum_label(&MOOD, "x", None),
        r#"ALTER TYPE "s"."mood" ADD VALUE IF NOT EXISTS 'x'"#
    );
}

#[test]
fn index_names_are_deterministic_and_short() {
    let index = IndexDef::new(&["a", "b"], true);
    assert_eq!(index_name("t", &index), "t_a_b_key");
    let long = "x".repeat(60);
    let name = index_name(&long, &index);
    assert!(name.len() <= 63 && name.ends_with("_key"), "{name}");
    assert_ne!(name, index_name(&long, &IndexDef::new(&["a", "c"], true)));
    assert_eq!(
        index_name("t", &IndexDef::new(&["tags"], false).using("gin")),
        "t_tags_gin_idx"
    );
}

#[test]
fn merge_keeps_one_row_and_skips_unchanged() {
    use crate::conflict::OnConflict;
    let position = STAGING_POSITION;
    let merge = Merge {
        def: &DEF,
        key: DEF.primary_key,
        into: "\"s\".\"t\"",
        source: "pg_temp.\"st\"",
        position,
        partitioned: false,
    };
    assert_eq!(
        merge.upsert(OnConflict::Update, Some(Keep::Last)),
        "WITH s AS (SELECT DISTINCT ON (\"id\") * FROM pg_temp.\"st\" AS staged ORDER BY \"id\", \
         \"pg_bulk_ingest_position\" DESC), merged AS (\
         INSERT INTO \"s\".\"t\" AS t (\"id\", \"a\", \"a: b\") SELECT \"id\", \"a\", \"a: b\" FROM s \
         ON CONFLICT (\"id\") DO UPDATE SET \"a\" = EXCLUDED.\"a\", \"a: b\" = EXCLUDED.\"a: b\" \
         WHERE ROW(t.\"a\", t.\"a: b\")::record *<> ROW(EXCLUDED.\"a\", EXCLUDED.\"a: b\")::record \
         RETURNING t.xmax = 0 AS inserted) \
         SELECT count(*) FILTER (WHERE inserted), count(*), (SELECT count(*) FROM s) FROM merged"
    );
    // The first try: no sort.
    assert_eq!(
        merge.upsert(OnConflict::Update, None),
        "WITH merged AS (INSERT INTO \"s\".\"t\" AS t (\"id\", \"a\", \"a: b\") SELECT \"id\", \"a\", \
         \"a: b\" FROM pg_temp.\"st\" AS s ON CONFLICT (\"id\") DO UPDATE SET \"a\" = EXCLUDED.\"a\", \
         \"a: b\" = EXCLUDED.\"a: b\" WHERE ROW(t.\"a\", t.\"a: b\")::record *<> \
         ROW(EXCLUDED.\"a\", EXCLUDED.\"a: b\")::record RETURNING t.xmax = 0 AS inserted) \
         SELECT count(*) FILTER (WHERE inserted), count(*), NULL::bigint FROM merged"
    );
    // KeepFirst sorts the other way.
    assert!(merge
        .upsert(OnConflict::Update, Some(Keep::First))
        .contains("\"pg_bulk_ingest_position\" ASC)"));
    // Skip: insert-or-ignore; Error: a plain insert.
    assert!(merge
        .upsert(OnConflict::Skip, None)
        .contains("AS s ON CONFLICT (\"id\") DO NOTHING RETURNING"));
    assert!(merge
        .upsert(OnConflict::Error, None)
        .contains("AS s RETURNING"));
    // Into a table created by the call, or an insert: no ON CONFLICT.
    assert_eq!(
        merge.insert(Some(Keep::Last), true),
        "INSERT INTO \"s\".\"t\" (\"id\", \"a\", \"a: b\") SELECT \"id\", \"a\", \"a: b\" FROM (\
         SELECT DISTINCT ON (\"id\") * FROM pg_temp.\"st\" AS staged ORDER BY \"id\", \
         \"pg_bulk_ingest_position\" DESC) AS s ORDER BY \"pg_bulk_ingest_position\""
    );
}

#[test]
fn repeated_and_stored_keys_are_named() {
    assert_eq!(
        repeated_key("pg_temp.\"st\"", &["a", "b"], "pos"),
        "SELECT r.earlier, r.later, r.\"a\"::text, r.\"b\"::text FROM (SELECT \"pos\" AS later, \
         lag(\"pos\") OVER (PARTITION BY \"a\", \"b\" ORDER BY \"pos\") AS earlier, \"a\", \"b\" \
         FROM pg_temp.\"st\") AS r WHERE r.earlier IS NOT NULL ORDER BY r.later LIMIT 1"
    );
    assert_eq!(
        numbered("s", "t", "pos"),
        "(SELECT row_number() OVER (ORDER BY ctid) - 1 AS \"pos\", * FROM \"s\".\"t\") AS numbered"
    );
    assert_eq!(
        stored_key("pg_temp.\"st\"", &["a"], "pos", "\"s\".\"t\""),
        "SELECT s.\"pos\", s.\"a\"::text FROM pg_temp.\"st\" AS s WHERE EXISTS (SELECT 1 FROM \
         \"s\".\"t\" AS t WHERE t.\"a\" = s.\"a\") ORDER BY s.\"pos\" LIMIT 1"
    );
}

#[test]
fn invented_names_are_unique_and_fit() {
    use crate::types::SqlType;
    static SALES: TableDef = TableDef::new(
        "sales",
        "orders",
        &[crate::table::ColumnDef::new(
            "id",
            SqlType::new(TypeKind::Int8),
            false,
        )],
        &["id"],
    );
    static ARCHIVE: TableDef = TableDef::new(
        "archive",
        "orders",
        &[crate::table::ColumnDef::new(
            "id",
            SqlType::new(TypeKind::Int8),
            false,
        )],
        &["id"],
    );
    assert_ne!(staging_name(&SALES), staging_name(&ARCHIVE));
    assert!(staging_name(&SALES).starts_with("pg_bulk_ingest_staging_orders_"));
    assert_eq!(intermediate_name(&SALES, 0), "orders_pgbi_new");
    assert_eq!(intermediate_name(&SALES, 2), "orders_pgbi_new2");
    // Names that agree in their first 63 bytes.
    let long_a: &'static str = Box::leak(format!("{}_a", "t".repeat(61)).into_boxed_str());
    let long_b: &'static str = Box::leak(format!("{}_b", "t".repeat(61)).into_boxed_str());
    let a: &'static TableDef =
        Box::leak(Box::new(TableDef::new("s", long_a, SALES.columns, &["id"])));
    let b: &'static TableDef =
        Box::leak(Box::new(TableDef::new("s", long_b, SALES.columns, &["id"])));
    for name in [
        staging_name(a),
        intermediate_name(a, 0),
        primary_key_name(long_a),
    ] {
        assert!(name.len() <= 63, "{name}");
    }
    assert_ne!(staging_name(a), staging_name(b));
    assert_ne!(intermediate_name(a, 0), intermediate_name(b, 0));
    assert_ne!(primary_key_name(long_a), primary_key_name(long_b));
}

#[test]
fn not_null_names_cut_alike_are_numbered() {
    use crate::table::ColumnDef;
    use crate::types::SqlType;
    let a: &'static str = Box::leak(format!("{}_a", "c".repeat(50)).into_boxed_str());
    let b: &'static str = Box::leak(format!("{}_b", "c".repeat(50)).into_boxed_str());
    let columns: &'static [ColumnDef] = Box::leak(Box::new([
        ColumnDef::new(a, SqlType::new(TypeKind::Int8), false),
        ColumnDef::new(b, SqlType::new(TypeKind::Int8), false),
    ]));
    let table = "t".repeat(40);
    let table: &'static str = Box::leak(table.into_boxed_str());
    let def: &'static TableDef = Box::leak(Box::new(TableDef::new("s", table, columns, &[])));
    let sql = create_table(def, "new");
    let names: Vec<&str> = sql
        .split("CONSTRAINT \"")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{sql}");
    assert_ne!(names[0], names[1], "{sql}");
    assert!(names[1].ends_with("_not_null1"), "{sql}");
    assert!(names.iter().all(|n| n.len() <= 63), "{sql}");
}
