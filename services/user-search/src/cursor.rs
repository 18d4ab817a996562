//! The opaque `next_cursor` of the listing: the last username key of a page, so the next
//! page starts right after it (keyset pagination: no OFFSET scan, and users inserted between
//! pages neither shift nor repeat what the client has not seen yet).

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

const VERSION: &str = "v1:";

pub fn encode(last_username_key: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{VERSION}{last_username_key}"))
}

/// `None` for anything this service did not hand out.
pub fn decode(cursor: &str) -> Option<String> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let key = text.strip_prefix(VERSION)?;
    (!key.is_empty() && key.len() <= 256 && !key.chars().any(char::is_control)).then(|| key.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_what_it_did_not_make() {
        assert_eq!(decode(&encode("alice")).as_deref(), Some("alice"));
        assert_eq!(decode("alice"), None);
        assert_eq!(decode(&URL_SAFE_NO_PAD.encode("v2:alice")), None);
        assert_eq!(decode(&URL_SAFE_NO_PAD.encode("v1:")), None);
        assert_eq!(decode(&URL_SAFE_NO_PAD.encode("v1:a\u{0}b")), None);
    }
}
