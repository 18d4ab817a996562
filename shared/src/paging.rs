//! Paging, the same way in every service: a `limit` checked against the route's default and
//! maximum, and an opaque `next_cursor` that only this code reads back. A cursor is versioned,
//! so that a change of what it holds can still refuse (or read) the old ones cleanly.

use std::borrow::Cow;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use poem_openapi::{
    registry::{MetaSchema, MetaSchemaRef},
    types::{ParseFromParameter, ParseResult, Type},
};

use crate::{ApiError, ApiResult};

/// The `limit` parameter of a listing: `DEFAULT` when absent, 1 to `MAX`. The document says
/// so; [`PageSize::resolve`] enforces it with a 400 that names `limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageSize<const DEFAULT: u64, const MAX: u64>(i64);

impl<const DEFAULT: u64, const MAX: u64> PageSize<DEFAULT, MAX> {
    /// The page size asked for, or a 400 naming `limit`.
    pub fn resolve(asked: Option<Self>) -> ApiResult<u64> {
        Limit { default: DEFAULT, max: MAX }.parse(asked.map(|size| size.0))
    }
}

impl<const DEFAULT: u64, const MAX: u64> Type for PageSize<DEFAULT, MAX> {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "integer(int64)".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            minimum: Some(1.0),
            maximum: Some(MAX as f64),
            default: Some(DEFAULT.into()),
            ..MetaSchema::new_with_format("integer", "int64")
        }))
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }
}

impl<const DEFAULT: u64, const MAX: u64> ParseFromParameter for PageSize<DEFAULT, MAX> {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        Ok(Self(value.parse()?))
    }
}

#[derive(Debug, Clone, Copy)]
struct Limit {
    default: u64,
    max: u64,
}

impl Limit {
    fn parse(&self, limit: Option<i64>) -> ApiResult<u64> {
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
            // `str::is_empty`, not poem-openapi's `Type::is_empty` (in scope here), which says false for "".
            let malformed = |part: &&str| str::is_empty(part) || part.chars().any(char::is_control);
            if parts.len() != count || parts.iter().any(malformed) {
                return None;
            }
            check(&parts)
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
            let refused = one(bad).map_err(|e| e.body().field.clone());
            assert_eq!(refused, Err(Some("cursor".to_owned())), "{bad:?}");
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
