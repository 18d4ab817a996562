//! Paging, the same way in every service: a `limit` checked against the route's default and
//! maximum, and an opaque `next_cursor` that only this code reads back. A cursor is versioned,
//! so that a change of what it holds can still refuse (or read) the old ones cleanly.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

use crate::{ApiError, ApiResult};

/// A route's `limit`: what it is when absent, and the most it may be.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub default: u64,
    pub max: u64,
}

impl Limit {
    /// The page size asked for, or a 400 naming `limit`.
    pub fn parse(&self, limit: Option<i64>) -> ApiResult<u64> {
        match limit {
            None => Ok(self.default),
            Some(n) if n >= 1 && n.unsigned_abs() <= self.max => Ok(n.unsigned_abs()),
            Some(_) => Err(ApiError::invalid_field("limit", format!("limit: must be 1 to {}", self.max))),
        }
    }
}

const VERSION: &str = "v1:";
const SEPARATOR: char = '|';

/// The cursor that resumes a listing after a row: the row's sort key, in `parts`.
pub fn encode_cursor(parts: &[&str]) -> String {
    URL_SAFE_NO_PAD.encode(format!("{VERSION}{}", parts.join(&SEPARATOR.to_string())))
}

/// The parts of a cursor [`encode_cursor`] made with `count` parts, each passed through
/// `check` (which says whether the part is in range); anything else is a 400 naming `cursor`.
pub fn decode_cursor<T>(raw: &str, count: usize, check: impl Fn(&[&str]) -> Option<T>) -> ApiResult<T> {
    let decoded = URL_SAFE_NO_PAD
        .decode(raw)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.strip_prefix(VERSION).map(str::to_owned))
        .and_then(|body| {
            let parts: Vec<&str> = body.splitn(count, SEPARATOR).collect();
            (parts.len() == count && parts.iter().all(|p| !p.is_empty() && !p.chars().any(char::is_control)))
                .then(|| check(&parts))
                .flatten()
        });
    decoded.ok_or_else(|| ApiError::invalid_field("cursor", "cursor: not one this service issued"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(raw: &str) -> ApiResult<String> {
        decode_cursor(raw, 1, |p| Some(p[0].to_owned()))
    }

    #[test]
    fn cursors_round_trip_and_refuse_what_they_did_not_make() {
        assert_eq!(one(&encode_cursor(&["alice"])).unwrap(), "alice");
        let two = decode_cursor(&encode_cursor(&["12", "x|y"]), 2, |p| Some((p[0].to_owned(), p[1].to_owned())));
        assert_eq!(two.unwrap(), ("12".to_owned(), "x|y".to_owned()));
        for bad in ["alice", "", &URL_SAFE_NO_PAD.encode("v2:alice"), &URL_SAFE_NO_PAD.encode("v1:")] {
            assert_eq!(one(bad).unwrap_err().body().field.as_deref(), Some("cursor"), "{bad}");
        }
        assert!(one(&URL_SAFE_NO_PAD.encode("v1:a\u{0}b")).is_err());
        assert!(decode_cursor(&encode_cursor(&["1"]), 2, |_| Some(())).is_err());
        assert!(decode_cursor(&encode_cursor(&["out of range"]), 1, |_| None::<()>).is_err());
    }

    #[test]
    fn limits_are_checked() {
        let limit = Limit { default: 20, max: 100 };
        assert_eq!(limit.parse(None).unwrap(), 20);
        assert_eq!(limit.parse(Some(100)).unwrap(), 100);
        for bad in [0, -1, 101, i64::MIN] {
            assert_eq!(limit.parse(Some(bad)).unwrap_err().body().field.as_deref(), Some("limit"));
        }
    }
}
