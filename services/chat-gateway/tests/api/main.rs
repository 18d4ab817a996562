//! chat-gateway over real WebSockets and HTTP, with a real auth-api issuing the tokens, real
//! Postgres (and SQLite for the embedded default) and real Redis servers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

mod chatting;
mod frames;
mod limits;
mod resume;
mod tokens;
mod drain;
mod push;
mod rest;
mod presence;
mod openapi;
mod config;
