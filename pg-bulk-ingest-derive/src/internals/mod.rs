//! Everything before code generation, in stages as in serde_derive: [`attr`]
//! reads the `#[bulk(...)]` attributes, [`ast`] builds the model from the
//! input and its attributes (with [`name`] and [`sql_type`] for the values),
//! [`check`] checks what spans several attributes or elements; every error is
//! collected in the [`ctxt`].

pub mod ast;
pub mod attr;
pub mod check;
pub mod ctxt;
pub mod name;
pub mod sql_type;

pub use ctxt::Ctxt;
