//! chat-gateway over real WebSockets and HTTP, with a real auth-api issuing the tokens, real
//! Postgres (and SQLite for the embedded default) and real Redis servers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

mod accounts;
mod announcements;
mod asyncapi;
mod changes;
mod chatting;
mod cluster;
mod config;
mod drain;
mod durability;
mod frames;
mod full;
mod groups;
mod limits;
mod openapi;
mod origins;
mod presence;
mod privacy;
mod probes;
mod push;
mod replica;
mod rest;
mod resume;
mod socketio;
mod tls;
mod tokens;
