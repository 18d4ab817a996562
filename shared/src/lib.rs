//! What two or more chat-suite services need, and nothing more: configuration, the JSON error
//! type of the contract, the database and its entities, the outbox, access tokens and their
//! keys, telemetry, and the HTTP plumbing every service mounts (health, readiness, metrics,
//! request ids, body limits, graceful shutdown).

pub mod config;
pub mod db;
pub mod entities;
pub mod error;
pub mod http;
pub mod jwks;
pub mod outbox;
pub mod readiness;
pub mod server;
pub mod telemetry;
pub mod tokens;

pub use error::{ApiError, ApiResult};
