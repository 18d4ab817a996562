//! The `Allow` header of a 405: which methods the path does take. poem's router knows only
//! that the method did not match, so the table is built from the OpenAPI document (every
//! operation) and the routes mounted beside it (GET only).

use poem::http::Method;

/// Path templates (`/chats/{chat_id}/messages`) and the methods each takes.
#[derive(Debug, Clone, Default)]
pub struct AllowedMethods {
    routes: Vec<(Vec<Segment>, Vec<String>)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Parameter,
}

impl AllowedMethods {
    /// The operations of an OpenAPI document (JSON, as poem-openapi renders it).
    pub fn from_spec(spec: &str) -> Self {
        let mut allowed = Self::default();
        let Ok(spec) = serde_json::from_str::<serde_json::Value>(spec) else { return allowed };
        for (path, operations) in spec["paths"].as_object().into_iter().flatten() {
            let methods = operations.as_object().into_iter().flatten().map(|(m, _)| m.to_ascii_uppercase());
            for method in methods {
                allowed.add(path, &method);
            }
        }
        allowed
    }

    /// `method` is taken at `template`; a GET also answers HEAD.
    pub fn add(&mut self, template: &str, method: &str) {
        let segments = parse(template);
        let index = match self.routes.iter().position(|(s, _)| *s == segments) {
            Some(index) => index,
            None => {
                self.routes.push((segments, Vec::new()));
                self.routes.len() - 1
            }
        };
        let methods = &mut self.routes[index].1;
        let mut push = |m: &str| {
            if !methods.iter().any(|known| known == m) {
                methods.push(m.to_owned());
            }
        };
        push(method);
        if method == Method::GET.as_str() {
            push(Method::HEAD.as_str());
        }
    }

    /// The `Allow` value for a request path, if any route has that shape.
    pub fn header_for(&self, path: &str) -> Option<String> {
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        let (_, methods) = self.routes.iter().find(|(segments, _)| matches(segments, &parts))?;
        let mut methods = methods.clone();
        methods.sort_by_key(|m| ORDER.iter().position(|o| o == m).unwrap_or(ORDER.len()));
        Some(methods.join(", "))
    }
}

const ORDER: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

fn parse(template: &str) -> Vec<Segment> {
    template
        .trim_matches('/')
        .split('/')
        .map(|s| match s.strip_prefix('{').or_else(|| s.strip_prefix(':')) {
            Some(_) => Segment::Parameter,
            None => Segment::Literal(s.to_owned()),
        })
        .collect()
}

fn matches(segments: &[Segment], parts: &[&str]) -> bool {
    segments.len() == parts.len()
        && segments.iter().zip(parts).all(|(segment, part)| match segment {
            Segment::Literal(literal) => literal == part,
            Segment::Parameter => !part.is_empty(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_match_their_paths() {
        let spec = r#"{"paths": {"/chats/{chat_id}/messages": {"get": {}}, "/login": {"post": {}}}}"#;
        let mut allowed = AllowedMethods::from_spec(spec);
        allowed.add("/healthz", "GET");
        assert_eq!(allowed.header_for("/chats/abc/messages").as_deref(), Some("GET, HEAD"));
        assert_eq!(allowed.header_for("/login").as_deref(), Some("POST"));
        assert_eq!(allowed.header_for("/healthz").as_deref(), Some("GET, HEAD"));
        assert_eq!(allowed.header_for("/chats//messages"), None);
        assert_eq!(allowed.header_for("/nowhere"), None);
    }
}
