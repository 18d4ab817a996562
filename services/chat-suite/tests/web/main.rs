//! The web client at `/`: how it is served (`page.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod page;
mod suite;
