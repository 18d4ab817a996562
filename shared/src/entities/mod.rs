//! sea-orm entities for the tables in `migrations/` that more than one service uses; a table
//! only one service uses has its entity in that service (auth-api's `refresh_tokens`).

pub mod devices;
pub mod notification_outbox;
pub mod users;
