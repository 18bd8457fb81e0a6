//! Column types: the PostgreSQL base types the library writes, with their
//! modifiers, and enum types. A leaf: it depends on nothing but `ident`.

use std::fmt;

use crate::ident::QualifiedName;

/// The PostgreSQL base types the library knows how to write.
///
/// [`SqlType`] adds the type modifiers (`varchar(32)`, `numeric(12,2)`, ...) and
/// whether the column is an array.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TypeKind {
    /// `boolean`
    Bool,
    /// `smallint`
    Int2,
    /// `integer`
    Int4,
    /// `bigint`
    Int8,
    /// `real`
    Float4,
    /// `double precision`
    Float8,
    /// `numeric` / `numeric(p,s)`
    Numeric,
    /// `text`
    Text,
    /// `character varying` / `character varying(n)`
    Varchar,
    /// `character(n)`
    Char,
    /// `bytea`
    Bytea,
    /// `date`
    Date,
    /// `time without time zone`, optionally with a precision
    Time,
    /// `timestamp without time zone`, optionally with a precision
    Timestamp,
    /// `timestamp with time zone`, optionally with a precision
    Timestamptz,
    /// `interval`
    Interval,
    /// `uuid`
    Uuid,
    /// `json` (the text, kept as sent)
    Json,
    /// `jsonb`
    Jsonb,
    /// `inet`
    Inet,
    /// A PostgreSQL enum type, made from a Rust enum with
    /// `#[derive(BulkEnum)]`; the [`SqlType`] carries its [`EnumDef`].
    Enum,
}

impl TypeKind {
    /// The name `format_type` gives the type (without modifiers).
    pub const fn name(self) -> &'static str {
        match self {
            TypeKind::Bool => "boolean",
            TypeKind::Int2 => "smallint",
            TypeKind::Int4 => "integer",
            TypeKind::Int8 => "bigint",
            TypeKind::Float4 => "real",
            TypeKind::Float8 => "double precision",
            TypeKind::Numeric => "numeric",
            TypeKind::Text => "text",
            TypeKind::Varchar => "character varying",
            TypeKind::Char => "character",
            TypeKind::Bytea => "bytea",
            TypeKind::Date => "date",
            TypeKind::Time => "time",
            TypeKind::Timestamp => "timestamp",
            TypeKind::Timestamptz => "timestamp",
            TypeKind::Interval => "interval",
            TypeKind::Uuid => "uuid",
            TypeKind::Json => "json",
            TypeKind::Jsonb => "jsonb",
            TypeKind::Inet => "inet",
            TypeKind::Enum => "anyenum",
        }
    }

    /// The type's OID in `pg_type` (fixed for built-in types; `0` for
    /// [`Enum`](TypeKind::Enum), whose OID is the database's).
    pub const fn oid(self) -> u32 {
        match self {
            TypeKind::Bool => 16,
            TypeKind::Int2 => 21,
            TypeKind::Int4 => 23,
            TypeKind::Int8 => 20,
            TypeKind::Float4 => 700,
            TypeKind::Float8 => 701,
            TypeKind::Numeric => 1700,
            TypeKind::Text => 25,
            TypeKind::Varchar => 1043,
            TypeKind::Char => 1042,
            TypeKind::Bytea => 17,
            TypeKind::Date => 1082,
            TypeKind::Time => 1083,
            TypeKind::Timestamp => 1114,
            TypeKind::Timestamptz => 1184,
            TypeKind::Interval => 1186,
            TypeKind::Uuid => 2950,
            TypeKind::Json => 114,
            TypeKind::Jsonb => 3802,
            TypeKind::Inet => 869,
            TypeKind::Enum => 0,
        }
    }
}

/// A column type: a [`TypeKind`] with its modifiers.
///
/// `Display` renders it exactly as PostgreSQL's `format_type()` does, which is
/// both what `CREATE TABLE` is given and what a live column is compared with:
///
/// ```
/// use pg_bulk_ingest::{SqlType, TypeKind};
/// assert_eq!(SqlType::new(TypeKind::Varchar).with_length(32).to_string(), "character varying(32)");
/// assert_eq!(SqlType::new(TypeKind::Numeric).with_precision_scale(12, 2).to_string(), "numeric(12,2)");
/// assert_eq!(SqlType::new(TypeKind::Timestamptz).with_precision(3).to_string(), "timestamp(3) with time zone");
/// assert_eq!(SqlType::new(TypeKind::Varchar).with_length(32).array().to_string(), "character varying(32)[]");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SqlType {
    kind: TypeKind,
    /// Length of `varchar(n)`/`char(n)`, precision of `numeric(p,s)` and of the
    /// time types.
    precision: Option<u32>,
    /// Scale of `numeric(p,s)`.
    scale: Option<u32>,
    /// A one-dimensional array of the type.
    array: bool,
    /// The definition of an enum type.
    enum_def: Option<&'static EnumDef>,
}

impl SqlType {
    /// The type without modifiers.
    ///
    /// # Panics
    ///
    /// For [`TypeKind::Enum`] (at compile time in a constant): an enum column
    /// needs its definition, use [`SqlType::of_enum`].
    pub const fn new(kind: TypeKind) -> SqlType {
        assert!(
            !matches!(kind, TypeKind::Enum),
            "an enum column type needs its definition: use SqlType::of_enum"
        );
        SqlType {
            kind,
            precision: None,
            scale: None,
            array: false,
            enum_def: None,
        }
    }

    /// The PostgreSQL enum type `def` (what `#[derive(BulkEnum)]` gives a
    /// Rust enum).
    ///
    /// ```
    /// use pg_bulk_ingest::{EnumDef, SqlType, TypeKind};
    /// const MOOD: EnumDef = EnumDef::new("public", "mood", &["happy", "sad"]);
    /// let ty = SqlType::of_enum(&MOOD);
    /// assert_eq!(ty.kind(), TypeKind::Enum);
    /// assert_eq!(ty.to_string(), r#""public"."mood""#);
    /// assert_eq!(ty.enum_def().unwrap().labels, ["happy", "sad"]);
    /// ```
    pub const fn of_enum(def: &'static EnumDef) -> SqlType {
        SqlType {
            kind: TypeKind::Enum,
            precision: None,
            scale: None,
            array: false,
            enum_def: Some(def),
        }
    }

    /// The enum type's definition, for [`TypeKind::Enum`].
    pub const fn enum_def(&self) -> Option<&'static EnumDef> {
        self.enum_def
    }

    /// `varchar(n)` / `char(n)`.
    pub const fn with_length(mut self, n: u32) -> SqlType {
        self.precision = Some(n);
        self
    }

    /// `time(p)`, `timestamp(p)`, `timestamptz(p)`, or `numeric(p)` (= `numeric(p,0)`).
    pub const fn with_precision(mut self, p: u32) -> SqlType {
        self.precision = Some(p);
        if let TypeKind::Numeric = self.kind {
            self.scale = Some(0);
        }
        self
    }

    /// `numeric(p,s)`.
    pub const fn with_precision_scale(mut self, p: u32, s: u32) -> SqlType {
        self.precision = Some(p);
        self.scale = Some(s);
        self
    }

    /// An array of this type (`integer[]`, `character varying(32)[]`). Arrays
    /// are written one-dimensional, with lower bound 1.
    pub const fn array(mut self) -> SqlType {
        self.array = true;
        self
    }

    /// Whether the column is an array of [`kind`](SqlType::kind).
    pub const fn is_array(&self) -> bool {
        self.array
    }

    /// The type of an array's elements: this type without the array flag.
    pub const fn element(&self) -> SqlType {
        SqlType {
            array: false,
            ..*self
        }
    }

    /// The base type (the element type of an array).
    pub const fn kind(&self) -> TypeKind {
        self.kind
    }

    /// The length of `varchar(n)`/`char(n)` or the precision of the other types.
    pub const fn precision(&self) -> Option<u32> {
        self.precision
    }

    /// The scale of `numeric(p,s)`.
    pub const fn scale(&self) -> Option<u32> {
        self.scale
    }
}

impl fmt::Display for SqlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = self.kind;
        if let Some(def) = self.enum_def {
            // Quoted and schema-qualified: `format_type` would qualify it only
            // off the search_path, so enum columns are compared by name, not
            // by this text.
            write!(f, "{}", def.name())?;
            if self.array {
                f.write_str("[]")?;
            }
            return Ok(());
        }
        f.write_str(kind.name())?;
        match (kind, self.precision, self.scale) {
            (TypeKind::Numeric, Some(p), s) => write!(f, "({p},{})", s.unwrap_or(0))?,
            (TypeKind::Char, None, _) => f.write_str("(1)")?,
            (
                TypeKind::Varchar
                | TypeKind::Char
                | TypeKind::Time
                | TypeKind::Timestamp
                | TypeKind::Timestamptz,
                Some(n),
                _,
            ) => write!(f, "({n})")?,
            _ => {}
        }
        match kind {
            TypeKind::Time | TypeKind::Timestamp => f.write_str(" without time zone")?,
            TypeKind::Timestamptz => f.write_str(" with time zone")?,
            _ => {}
        }
        if self.array {
            f.write_str("[]")?;
        }
        Ok(())
    }
}

/// A PostgreSQL enum type: what `#[derive(BulkEnum)]` says about a Rust enum.
///
/// A call that loads a column of the type creates the type when it is missing
/// (`CREATE TYPE ... AS ENUM`, with every label). When the type exists but
/// lacks some of the labels, the call fails with
/// [`Error::EnumLabelsMissing`](crate::Error::EnumLabelsMissing): see
/// [`prepare`](crate::prepare()). Labels of the type that the Rust enum
/// doesn't have are left alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct EnumDef {
    /// Schema of the type (not quoted).
    pub schema: &'static str,
    /// Name of the type (not quoted).
    pub name: &'static str,
    /// The labels, in the order of the Rust enum's variants.
    pub labels: &'static [&'static str],
}

impl EnumDef {
    /// An enum type; used by the code `#[derive(BulkEnum)]` generates.
    pub const fn new(
        schema: &'static str,
        name: &'static str,
        labels: &'static [&'static str],
    ) -> EnumDef {
        EnumDef {
            schema,
            name,
            labels,
        }
    }

    /// The schema-qualified name; its `Display` is quoted SQL.
    pub fn name(&self) -> QualifiedName<'static> {
        QualifiedName::new(self.schema, self.name)
    }
}
