//! Renderers: each writes to any `io::Write`, so tests capture exactly what people see.

pub mod exposition;
pub mod findings;
pub mod github;
pub mod html;
pub mod json;
pub mod junit;
pub mod sarif;
pub mod scan_html;
pub mod short;
pub mod style;
pub mod svg;
pub mod text;
