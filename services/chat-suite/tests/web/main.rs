//! The web client at `/`: how it is served (`page.rs`), and the page itself driven by a real
//! browser (`browser.rs`: two people chatting; `after_sending.rs`: replies, edits, deletion,
//! reactions, muting and blocking; `groups.rs`: three in a group; `sign_in.rs`;
//! `oversized.rs`: a frame over the server's limit; `notifications.rs`: the button that
//! subscribes to pushes; `accessibility.rs`: axe-core, light and dark).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod accessibility;
mod after_sending;
mod browser;
mod driver;
mod groups;
mod notifications;
mod oversized;
mod page;
mod sign_in;
mod suite;
