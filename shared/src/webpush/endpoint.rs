//! Where a Web Push may go. A browser's subscription endpoint is a URL the user hands us and
//! the notifier POSTs to, so it must be `https` and on a push service's host: registered
//! endpoints are not a way for a user to make our servers call into our own network.

use reqwest::Url;

/// Chrome and Edge's (FCM), Firefox's (Mozilla autopush), Safari's and Windows' push services.
pub const DEFAULT_HOSTS: &str = "fcm.googleapis.com,push.services.mozilla.com,web.push.apple.com,notify.windows.com";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointHosts(Vec<String>);

/// Longest endpoint accepted: push services' are about 200 to 500 characters.
pub const MAX_ENDPOINT_CHARS: usize = 2048;

impl EndpointHosts {
    /// Why `endpoint` is not one the notifier may push to, or Ok.
    pub fn check(&self, endpoint: &str) -> Result<Url, String> {
        if endpoint.chars().count() > MAX_ENDPOINT_CHARS {
            return Err(format!("must be at most {MAX_ENDPOINT_CHARS} characters"));
        }
        let url = Url::parse(endpoint).map_err(|e| format!("not a URL ({e})"))?;
        if url.scheme() != "https" {
            return Err("must be an https URL".into());
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("must not carry credentials".into());
        }
        let host = url.host_str().unwrap_or_default().trim_end_matches('.').to_ascii_lowercase();
        let allowed =
            self.0.iter().any(|h| host == *h || host.strip_suffix(h.as_str()).is_some_and(|p| p.ends_with('.')));
        if !allowed {
            return Err(format!("{host} is not a push service this server sends to (WEBPUSH_ENDPOINT_HOSTS)"));
        }
        Ok(url)
    }
}

impl Default for EndpointHosts {
    fn default() -> Self {
        parse_hosts(DEFAULT_HOSTS).unwrap_or(Self(Vec::new()))
    }
}

pub(super) fn parse_hosts(raw: &str) -> Result<EndpointHosts, String> {
    let hosts: Vec<String> =
        raw.split(',').map(|h| h.trim().trim_end_matches('.').to_ascii_lowercase()).filter(|h| !h.is_empty()).collect();
    match hosts.iter().find(|h| h.contains(['/', ':', '*', ' ', '@'])) {
        Some(bad) => Err(format!("{bad:?} is not a host name (no scheme, port, path or wildcard)")),
        None => Ok(EndpointHosts(hosts)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_https_urls_on_a_push_service() {
        let hosts = EndpointHosts::default();
        for good in [
            "https://fcm.googleapis.com/fcm/send/abc:def",
            "https://updates.push.services.mozilla.com/wpush/v2/gAAA",
            "https://web.push.apple.com/QGz",
            "https://wns2-par02p.notify.windows.com/w/?token=x",
        ] {
            assert!(hosts.check(good).is_ok(), "{good}");
        }
        for (bad, why) in [
            ("http://fcm.googleapis.com/fcm/send/x", "https"),
            ("https://evilfcm.googleapis.com.attacker.example/x", "not a push service"),
            ("https://notfcm.googleapis.com/x", "not a push service"),
            ("https://127.0.0.1/x", "not a push service"),
            ("https://user:pw@fcm.googleapis.com/x", "credentials"),
            ("not a url", "not a URL"),
        ] {
            let err = hosts.check(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
        let local = parse_hosts("127.0.0.1").unwrap();
        assert!(local.check("https://127.0.0.1:4443/push/1").is_ok());
        assert!(parse_hosts("https://x").is_err());
        assert!(parse_hosts("*.example").is_err());
    }
}
