//! Definitions and live tables the unit tests share (compiled for tests only).

use crate::catalog::{LiveColumn, LiveIndex, LiveTable};
use crate::table::{ColumnDef, IndexDef, TableDef};
use crate::types::{EnumDef, SqlType, TypeKind};

/// `sales.orders (id bigint key, customer varchar(32) indexed, note text null)`.
pub(crate) static ORDERS: TableDef = TableDef::new(
    "sales",
    "orders",
    &[
        ColumnDef::new("id", SqlType::new(TypeKind::Int8), false),
        ColumnDef::new(
            "customer",
            SqlType::new(TypeKind::Varchar).with_length(32),
            false,
        ),
        ColumnDef::new("note", SqlType::new(TypeKind::Text), true),
    ],
    &["id"],
)
.with_indexes(&[IndexDef::new(&["customer"], false)]);

/// `s.t (id bigint key, "a" text, "a: b" text null)`: column names that hold
/// what a context or a list uses as separators.
pub(crate) static ODD_NAMES: TableDef = TableDef::new(
    "s",
    "t",
    &[
        ColumnDef::new("id", SqlType::new(TypeKind::Int8), false),
        ColumnDef::new("a", SqlType::new(TypeKind::Text), false),
        ColumnDef::new("a: b", SqlType::new(TypeKind::Text), true),
    ],
    &["id"],
);

static MOOD: EnumDef = EnumDef::new("s", "mood", &["happy", "it's"]);

/// `s.t (id bigint, mood s.mood null)`.
pub(crate) static WITH_ENUM: TableDef = TableDef::new(
    "s",
    "t",
    &[
        ColumnDef::new("id", SqlType::new(TypeKind::Int8), false),
        ColumnDef::new("mood", SqlType::of_enum(&MOOD), true),
    ],
    &[],
);

/// A live column of a base type (`ty` as `format_type` spells it).
pub(crate) fn col(name: &str, ty: &str, nullable: bool) -> LiveColumn {
    LiveColumn {
        name: name.into(),
        sql_type: ty.into(),
        type_schema: "pg_catalog".into(),
        type_name: ty.into(),
        is_enum: false,
        nullable,
        default: None,
        identity: None,
        generated: false,
        serial: None,
    }
}

/// A live column of an enum type.
pub(crate) fn enum_col(name: &str, format_type: &str, schema: &str, type_name: &str) -> LiveColumn {
    LiveColumn {
        type_schema: schema.into(),
        type_name: type_name.into(),
        is_enum: true,
        ..col(name, format_type, true)
    }
}

/// [`ORDERS`] as the library made it, its columns in `order` (by name).
pub(crate) fn live_orders(order: [&str; 3]) -> LiveTable {
    let column = |name: &str| match name {
        "id" => col("id", "bigint", false),
        "customer" => col("customer", "character varying(32)", false),
        _ => col("note", "text", true),
    };
    LiveTable {
        oid: 42,
        columns: order.iter().map(|name| column(name)).collect(),
        primary_key: vec!["id".into()],
        indexes: vec![LiveIndex {
            name: "orders_customer_idx".into(),
            columns: vec!["customer".into()],
            unique: false,
            method: "btree".into(),
            plain: true,
            definition: "CREATE INDEX ...".into(),
            ours: true,
        }],
        partitioning: None,
        plain_inserts: true,
    }
}
