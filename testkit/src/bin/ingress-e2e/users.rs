//! Users of the stage, registered through the proxy as a client registers.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::client::Client;

pub const PASSWORD: &str = "correct horse battery";

pub struct User {
    pub username: String,
    pub user_id: String,
    pub access: String,
    pub refresh: String,
}

impl User {
    /// Registers a new user named `prefix` and a random tail. A registration retried after a
    /// lost answer may find its own first attempt stored (409): the client then logs in, as an
    /// app does when it cannot know whether its request was served.
    pub async fn register(client: &Client, prefix: &str) -> anyhow::Result<Self> {
        let username = format!("{prefix}_{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let body = json!({"username": username, "password": PASSWORD, "email": format!("{username}@example.com")});
        let answer = client.send(Method::POST, "/register", None, Some(&body), &[]).await?;
        let user = if answer.status == StatusCode::CONFLICT && answer.retries > 0 {
            Self::login(client, &username).await?
        } else {
            anyhow::ensure!(answer.status == StatusCode::CREATED, "POST /register: {} {}", answer.status, answer.body);
            Self::from_tokens(username, &answer.body)?
        };
        client.figures().registered(&user.user_id);
        Ok(user)
    }

    pub async fn login(client: &Client, username: &str) -> anyhow::Result<Self> {
        let body = json!({"username": username, "password": PASSWORD});
        let answer = client.call(Method::POST, "/login", None, Some(&body), 200).await?;
        Self::from_tokens(username.to_owned(), &answer.body)
    }

    fn from_tokens(username: String, body: &serde_json::Value) -> anyhow::Result<Self> {
        let field =
            |name: &str| body[name].as_str().map(str::to_owned).ok_or_else(|| anyhow::anyhow!("no {name} in {body}"));
        Ok(Self {
            user_id: field("user_id")?,
            access: field("access_token")?,
            refresh: field("refresh_token")?,
            username,
        })
    }
}
