//! The steady HTTP load of the stage: clients that each register, log in, look themselves and
//! others up, refresh their token and list their chats, then leave for a new client, every
//! one from an address of its own.

use std::{sync::Arc, time::Duration};

use reqwest::Method;
use serde_json::json;
use tokio::sync::watch;

use crate::{
    client::{Client, address_of},
    figures::Figures,
    users::User,
};

/// Between one client's requests: a person's pace, not a benchmark's.
const PAUSE: Duration = Duration::from_millis(150);

/// Runs worker `n` (its clients numbered from `first_client`) until `stop`; returns how many
/// clients went through every step.
pub async fn run(
    proxy: String,
    n: u32,
    first_client: u32,
    known: Arc<Vec<String>>,
    figures: Arc<Figures>,
    mut stop: watch::Receiver<bool>,
) -> u64 {
    let mut done = 0;
    let mut client_no = first_client;
    while !*stop.borrow() {
        client_no += 1;
        let Ok(client) = Client::new(&proxy, address_of(client_no), figures.clone()) else { continue };
        // A failure is recorded where it happens; the worker goes on with a new client.
        if visit(&client, n, &known).await.is_ok() {
            done += 1;
        }
        tokio::select! {
            _ = tokio::time::sleep(PAUSE) => {}
            _ = stop.changed() => {}
        }
    }
    done
}

async fn visit(client: &Client, n: u32, known: &[String]) -> anyhow::Result<()> {
    let user = User::register(client, &format!("e2e_load{n}")).await?;
    tokio::time::sleep(PAUSE).await;
    let user = User::login(client, &user.username).await?;
    let token = Some(user.access.as_str());
    for path in [
        "/me".to_owned(),
        format!("/users/username/{}", known[(uuid::Uuid::new_v4().as_u128() % known.len() as u128) as usize]),
        format!("/users/search?q={}&limit=5", &user.username[..6]),
        format!("/users/user_id/{}", user.user_id),
        "/chats".to_owned(),
    ] {
        tokio::time::sleep(PAUSE).await;
        client.call(Method::GET, &path, token, None, 200).await?;
    }
    tokio::time::sleep(PAUSE).await;
    let refresh = json!({"refresh_token": user.refresh});
    client.call(Method::POST, "/token/refresh", None, Some(&refresh), 200).await?;
    Ok(())
}
