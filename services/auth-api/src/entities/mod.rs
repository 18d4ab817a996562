//! sea-orm entities for the tables only auth-api reads and writes (the ones every service
//! reads are in `shared::entities`).

pub mod refresh_tokens;
