use serde_json::Value;

/// An HTTP answer, read whole: status, headers, and the body as JSON (a JSON string when the
/// body is not JSON, null when empty).
pub struct Response {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

pub async fn read(req: reqwest::RequestBuilder) -> Response {
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    let body = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
    Response { status, headers, body }
}
