//! The browser origins that may call the API (`CORS_ALLOWED_ORIGINS`), parsed once at
//! start-up, and the two questions asked of a request's `Origin`: may its page read our
//! answers (CORS), and may it open a WebSocket (the cross-site WebSocket hijacking defence).
//!
//! Each entry is what a browser sends in `Origin`: `scheme://host[:port]`, no path. `*` is
//! refused. Our tokens travel in `Authorization`, never in cookies, so `*` would leak no
//! session; but it would let any site drive `/register` and `/login` from its visitors'
//! browsers (their addresses spread past the per-address rate limits) and read a deployment
//! that only an intranet should reach. `null` (files, sandboxed frames) is refused too: any
//! page can give itself that origin.

use poem::http::{HeaderMap, Uri, header};

use crate::ApiError;

/// The listed origins, as browsers serialise them (lowercase, default port left out), so that
/// a match is a plain string comparison.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedOrigins(Vec<String>);

impl AllowedOrigins {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether a page of `origin` (an `Origin` header) may read our answers.
    pub fn allows(&self, origin: &str) -> bool {
        self.0.iter().any(|listed| listed == origin)
    }

    /// A WebSocket upgrade may go ahead: without `Origin` (not a browser), from a listed
    /// origin, or from a page of the host it connects to (chat-suite's own page). Browsers
    /// let any page open a WebSocket anywhere; this is the only check that keeps another
    /// site's page off our sockets.
    pub fn admit_socket(&self, headers: &HeaderMap, uri: &Uri) -> Result<(), ApiError> {
        let Some(origin) = headers.get(header::ORIGIN) else { return Ok(()) };
        let origin = origin.to_str().unwrap_or_default();
        let host =
            headers.get(header::HOST).and_then(|h| h.to_str().ok()).or_else(|| uri.authority().map(|a| a.as_str()));
        if self.allows(origin) || host.is_some_and(|host| same_host(origin, host)) {
            Ok(())
        } else {
            Err(ApiError::origin_not_allowed(origin))
        }
    }
}

impl std::str::FromStr for AllowedOrigins {
    type Err = String;

    /// Comma separated; blanks around entries and empty entries are ignored.
    fn from_str(list: &str) -> Result<Self, Self::Err> {
        let entries = list.split(',').map(str::trim).filter(|entry| !entry.is_empty());
        entries
            .map(|entry| parse_origin(entry).map_err(|why| format!("{entry}: {why}")))
            .collect::<Result<_, _>>()
            .map(Self)
    }
}

/// One origin, serialised as a browser would send it.
fn parse_origin(entry: &str) -> Result<String, &'static str> {
    if entry.contains('*') {
        return Err("`*` is not accepted: list each origin (scheme://host[:port])");
    }
    let Some((scheme, authority)) = entry.split_once("://") else {
        return Err("must be scheme://host[:port], e.g. https://chat.example.com");
    };
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !scheme_ok {
        return Err("must be scheme://host[:port]: the scheme is not valid");
    }
    if authority.contains(['/', '?', '#']) {
        return Err("must be scheme://host[:port], without a path (not even a trailing /)");
    }
    if authority.contains('@') {
        return Err("must be scheme://host[:port], without user info");
    }
    let (host, port) = split_port(authority)?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    };
    let host = host.to_ascii_lowercase();
    match port {
        Some(port) if Some(port) != default_port => Ok(format!("{scheme}://{host}:{port}")),
        _ => Ok(format!("{scheme}://{host}")),
    }
}

/// `host[:port]`, the host a name, an IPv4 address or a bracketed IPv6 address.
fn split_port(authority: &str) -> Result<(&str, Option<u16>), &'static str> {
    let (host, port) = match authority.strip_prefix('[') {
        Some(rest) => {
            let (address, after) = rest.split_once(']').ok_or("must be scheme://host[:port]: unclosed [")?;
            if address.is_empty() || !address.chars().all(|c| c.is_ascii_hexdigit() || matches!(c, ':' | '.')) {
                return Err("must be scheme://host[:port]: not an IPv6 address between the brackets");
            }
            let port = match after {
                "" => None,
                _ => Some(after.strip_prefix(':').ok_or("must be scheme://host[:port]: junk after ]")?),
            };
            (&authority[..address.len() + 2], port)
        }
        None => match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    let name_ok = host.starts_with('[')
        || (!host.is_empty() && host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')));
    if !name_ok {
        return Err("must be scheme://host[:port]: the host is not a name or an address");
    }
    let port = match port {
        // Digits only: `parse` would take a sign too.
        Some(port) => match port.parse::<u16>() {
            Ok(number) if number > 0 && port.bytes().all(|b| b.is_ascii_digit()) => Some(number),
            _ => return Err("must be scheme://host[:port]: the port is not 1 to 65535"),
        },
        None => None,
    };
    Ok((host, port))
}

/// Whether a page of `origin` was served by the host the request is addressed to (`Host`,
/// which ingress-nginx passes on unchanged). Compared under the origin's scheme, so that
/// `https://chat.example.com` and `Host: chat.example.com:443` are the same.
fn same_host(origin: &str, host: &str) -> bool {
    let Some((scheme, _)) = origin.split_once("://") else { return false };
    match (parse_origin(origin), parse_origin(&format!("{scheme}://{host}"))) {
        (Ok(origin), Ok(ours)) => origin == ours,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(list: &str) -> Result<Vec<String>, String> {
        list.parse::<AllowedOrigins>().map(|origins| origins.0)
    }

    #[test]
    fn origins_are_kept_as_browsers_send_them() {
        assert_eq!(parse(""), Ok(vec![]));
        assert_eq!(
            parse(" https://Chat.Example.com , http://localhost:5173,https://a.example:443,HTTP://[::1]:80,,"),
            Ok(vec![
                "https://chat.example.com".to_owned(),
                "http://localhost:5173".to_owned(),
                "https://a.example".to_owned(),
                "http://[::1]".to_owned(),
            ])
        );
        assert_eq!(parse("capacitor://localhost"), Ok(vec!["capacitor://localhost".to_owned()]));
    }

    #[test]
    fn anything_but_an_origin_is_refused_with_the_reason() {
        let cases = [
            ("*", "*: `*` is not accepted: list each origin (scheme://host[:port])"),
            (
                "https://*.example.com",
                "https://*.example.com: `*` is not accepted: list each origin (scheme://host[:port])",
            ),
            ("null", "null: must be scheme://host[:port], e.g. https://chat.example.com"),
            ("chat.example.com", "chat.example.com: must be scheme://host[:port], e.g. https://chat.example.com"),
            (
                "https://chat.example.com/",
                "https://chat.example.com/: must be scheme://host[:port], without a path (not even a trailing /)",
            ),
            (
                "https://a.example/app",
                "https://a.example/app: must be scheme://host[:port], without a path (not even a trailing /)",
            ),
            ("https://user@a.example", "https://user@a.example: must be scheme://host[:port], without user info"),
            ("https://a.example:0", "https://a.example:0: must be scheme://host[:port]: the port is not 1 to 65535"),
            (
                "https://a.example:99999",
                "https://a.example:99999: must be scheme://host[:port]: the port is not 1 to 65535",
            ),
            ("https://a.example:", "https://a.example:: must be scheme://host[:port]: the port is not 1 to 65535"),
            (
                "https://a.example:+80",
                "https://a.example:+80: must be scheme://host[:port]: the port is not 1 to 65535",
            ),
            ("https://", "https://: must be scheme://host[:port]: the host is not a name or an address"),
            ("https://a b", "https://a b: must be scheme://host[:port]: the host is not a name or an address"),
            ("1http://a", "1http://a: must be scheme://host[:port]: the scheme is not valid"),
        ];
        for (value, reason) in cases {
            assert_eq!(parse(&format!("https://ok.example,{value}")), Err(reason.to_owned()), "{value}");
        }
    }

    fn upgrade(origin: Option<&str>, host: &str) -> Result<(), u16> {
        let origins: AllowedOrigins = "https://app.example".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, host.parse().unwrap());
        if let Some(origin) = origin {
            headers.insert(header::ORIGIN, origin.parse().unwrap());
        }
        origins.admit_socket(&headers, &Uri::from_static("/chat")).map_err(|err| {
            assert_eq!(err.body().code, "origin_not_allowed");
            403
        })
    }

    #[test]
    fn sockets_admit_listed_origins_their_own_host_and_non_browsers() {
        assert_eq!(upgrade(None, "chat.example"), Ok(()));
        assert_eq!(upgrade(Some("https://app.example"), "chat.example"), Ok(()));
        assert_eq!(upgrade(Some("https://chat.example"), "chat.example"), Ok(()));
        assert_eq!(upgrade(Some("https://chat.example"), "Chat.Example:443"), Ok(()));
        assert_eq!(upgrade(Some("http://localhost:8080"), "localhost:8080"), Ok(()));
        assert_eq!(upgrade(Some("http://localhost:3000"), "localhost:8080"), Err(403));
        assert_eq!(upgrade(Some("https://evil.example"), "chat.example"), Err(403));
        assert_eq!(upgrade(Some("https://chat.example.evil.example"), "chat.example"), Err(403));
        assert_eq!(upgrade(Some("null"), "chat.example"), Err(403));
    }
}
