//! The Redis connection services share: a `ConnectionManager`, which reconnects on its own
//! after Redis restarts, so callers only ever see errors while it is really down. Its retries
//! are kept short: a caller waiting on Redis is a request (a login, a chat message) waiting,
//! and every caller has an answer for Redis being away that beats waiting for it.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::config::RedisUrl;

pub async fn connect(url: &RedisUrl) -> anyhow::Result<ConnectionManager> {
    let client = redis::Client::open(url.expose())?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(1)))
        .set_response_timeout(Some(Duration::from_secs(1)))
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_millis(200));
    ConnectionManager::new_with_config(client, config)
        .await
        .map_err(|e| anyhow::anyhow!("REDIS_URL: cannot connect: {e}"))
}
