use serde_json::Value;

/// An HTTP answer, read whole: status, headers, and the body as JSON (a JSON string when the
/// body is not JSON, null when empty).
pub struct Response {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

/// GET `url`, with `token` as the bearer when there is one.
pub async fn get(client: &reqwest::Client, url: &str, token: Option<&str>) -> Response {
    let mut req = client.get(url);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    read(req).await
}

pub async fn read(req: reqwest::RequestBuilder) -> Response {
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    let body = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
    Response { status, headers, body }
}
