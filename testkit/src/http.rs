use serde_json::Value;

/// An HTTP answer, read whole: status, headers, and the body as JSON (a JSON string when the
/// body is not JSON, null when empty).
pub struct Response {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Response {
    /// The CORS headers of the answer (`access-control-*` and `vary`), sorted by name, for a
    /// test to compare whole.
    pub fn cors_headers(&self) -> Vec<(&str, &str)> {
        let mut cors: Vec<(&str, &str)> = self
            .headers
            .iter()
            .filter(|(name, _)| name.as_str().starts_with("access-control-") || name.as_str() == "vary")
            .map(|(name, value)| (name.as_str(), value.to_str().unwrap()))
            .collect();
        cors.sort_unstable();
        cors
    }
}

/// A browser's CORS preflight: `OPTIONS url` from a page of `origin` that is about to send
/// `method` with the (non-safelisted) `headers`.
pub async fn preflight(client: &reqwest::Client, url: &str, origin: &str, method: &str, headers: &str) -> Response {
    let mut req = client
        .request(reqwest::Method::OPTIONS, url)
        .header("origin", origin)
        .header("access-control-request-method", method);
    if !headers.is_empty() {
        req = req.header("access-control-request-headers", headers);
    }
    read(req).await
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
