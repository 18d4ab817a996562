//! What an error or a log may show of a setting: never a secret. Start-up errors end up in the
//! cluster's logs, where a password must not.

/// What an error or a log may show of a setting's value: a URL's password, and the value of
/// every `key=value` pair whose key names a secret (`sasl.password`, `…secret…`, in a list
/// or in a URL's query), are `***`. Start-up errors end up in the cluster's logs, where a
/// password must not.
pub fn redacted(value: &str) -> String {
    value.split(',').map(without_secrets).collect::<Vec<_>>().join(",")
}

/// `part` with a secret-named `key=value`'s value, or a URL's password and secret-named query
/// parameters, replaced.
fn without_secrets(part: &str) -> String {
    if let Some((key, _)) = part.split_once('=')
        && names_a_secret(key)
        && !key.contains("://")
    {
        return format!("{key}=***");
    }
    let Some((scheme, rest)) = part.split_once("://") else { return part.to_owned() };
    let (location, query) = rest.split_once('?').map_or((rest, None), |(location, query)| (location, Some(query)));
    let location =
        match location.rsplit_once('@').and_then(|(userinfo, host)| Some((userinfo.split_once(':')?.0, host))) {
            Some((user, host)) => format!("{user}:***@{host}"),
            None => location.to_owned(),
        };
    match query {
        Some(query) => {
            let query: Vec<String> = query.split('&').map(without_secrets).collect();
            format!("{scheme}://{location}?{}", query.join("&"))
        }
        None => format!("{scheme}://{location}"),
    }
}

fn names_a_secret(key: &str) -> bool {
    let key = key.trim().to_ascii_lowercase();
    ["password", "secret", "jaas", "token", "credential"].iter().any(|word| key.contains(word))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_starred() {
        assert_eq!(
            redacted("security.protocol=SASL_SSL,sasl.password=hunter2,sasl.username=relay"),
            "security.protocol=SASL_SSL,sasl.password=***,sasl.username=relay"
        );
        assert_eq!(
            redacted("ssl.key.password=a,sasl.oauthbearer.client.secret=b"),
            "ssl.key.password=***,sasl.oauthbearer.client.secret=***"
        );
        assert_eq!(redacted("redis://:hunter2@redis:6379"), "redis://:***@redis:6379");
        assert_eq!(
            redacted("postgres://app@db/chat?sslmode=require&password=hunter2"),
            "postgres://app@db/chat?sslmode=require&password=***"
        );
        assert_eq!(
            redacted("sasl.oauthbearer.token.endpoint.url=https://idp/token,sasl.password=hunter2"),
            "sasl.oauthbearer.token.endpoint.url=***,sasl.password=***"
        );
        assert_eq!(redacted("postgres://db/chat"), "postgres://db/chat");
        assert_eq!(redacted("nowhere"), "nowhere");
    }
}
