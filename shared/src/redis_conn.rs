//! The Redis connection services share: a `ConnectionManager`, which reconnects on its own
//! after Redis restarts, so callers only ever see errors while it is really down.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::config::RedisUrl;

pub async fn connect(url: &RedisUrl) -> anyhow::Result<ConnectionManager> {
    let client = redis::Client::open(url.expose())?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(3)))
        .set_response_timeout(Some(Duration::from_secs(3)));
    ConnectionManager::new_with_config(client, config)
        .await
        .map_err(|e| anyhow::anyhow!("REDIS_URL: cannot connect: {e}"))
}
