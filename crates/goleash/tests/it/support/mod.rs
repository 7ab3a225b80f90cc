//! What the integration tests share: Go toolchains and the fixture programs built with
//! them, running services, a real Prometheus, a small HTTP client, the fixtures' ground
//! truth, and ways to look into a parsed capture.

pub mod go;
pub mod http;
pub mod inspect;
pub mod postgres;
pub mod prometheus;
pub mod service;
pub mod truth;
