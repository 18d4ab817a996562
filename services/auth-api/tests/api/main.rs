#![allow(clippy::unwrap_used, clippy::expect_used)]
//! auth-api over real HTTP, on real Postgres and SQLite (and real Redis for shared limits).

mod helpers;

mod config;
mod cors;
mod deletion;
mod device;
mod devices;
mod import;
mod limits;
mod login;
mod login_limits;
mod openapi;
mod probes;
mod refresh;
mod register;
mod tls;
mod tokens;
