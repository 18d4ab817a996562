//! The web client at `/`: how it is served (`page.rs`), and the page itself driven by a real
//! browser (`browser.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod browser;
mod page;
mod suite;
