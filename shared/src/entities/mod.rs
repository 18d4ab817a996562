//! sea-orm entities for the tables in `migrations/`.

pub mod notification_outbox;
pub mod refresh_tokens;
pub mod users;
