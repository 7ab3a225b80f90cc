//! Renderers: each writes to any `io::Write`, so tests capture exactly what people see.

pub mod gotest;
pub mod json;
pub mod style;
pub mod text;
