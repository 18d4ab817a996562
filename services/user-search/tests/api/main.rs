//! user-search over real HTTP, with a real auth-api issuing the tokens, on Postgres and SQLite.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

mod cache;
mod config;
mod cors;
mod lookups;
mod openapi;
mod pages;
mod replica;
mod tokens;
