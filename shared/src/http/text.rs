//! A string field or parameter that is a string. poem-openapi's `String` accepts `5` or `true`
//! and turns them into "5" and "true"; a request with the wrong type should be told so instead.
//!
//! `Text<R>` also carries its [`TextRule`] into the OpenAPI document (lengths, the alphabet's
//! pattern, format, an example), while the handler runs the same rule's `check` itself and
//! answers with its own field error. The document then tells the truth about what is accepted,
//! and Swagger UI's examples work.

use std::{borrow::Cow, marker::PhantomData, ops::Deref};

use poem_openapi::{
    registry::{MetaSchema, MetaSchemaRef},
    types::{ParseError, ParseFromJSON, ParseFromParameter, ParseResult, ToJSON, Type},
};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::text_rule::{AnyText, TextRule};

/// A UUID in its hyphenated form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UuidText;

impl TextRule for UuidText {
    const MIN_CHARS: usize = 36;
    const MAX_CHARS: Option<usize> = Some(36);
    const FORMAT: Option<&'static str> = Some("uuid");
    const EXAMPLE: Option<&'static str> = Some("3fa85f64-5717-4562-b3fc-2c963f66afa6");

    fn well_formed(text: &str) -> bool {
        uuid::Uuid::try_parse(text).is_ok()
    }
}

pub struct Text<R: TextRule = AnyText> {
    value: String,
    rule: PhantomData<fn() -> R>,
}

// By hand: derived ones would ask the rule (a marker type) to be Debug and Clone too.
impl<R: TextRule> std::fmt::Debug for Text<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.value.fmt(f)
    }
}

impl<R: TextRule> Clone for Text<R> {
    fn clone(&self) -> Self {
        self.value.clone().into()
    }
}

impl<R: TextRule> Text<R> {
    pub fn into_string(self) -> String {
        self.value
    }
}

impl<R: TextRule> Deref for Text<R> {
    type Target = str;

    fn deref(&self) -> &str {
        &self.value
    }
}

impl<R: TextRule> From<String> for Text<R> {
    fn from(value: String) -> Self {
        Self { value, rule: PhantomData }
    }
}

impl<R: TextRule> From<&str> for Text<R> {
    fn from(value: &str) -> Self {
        value.to_owned().into()
    }
}

impl<R: TextRule> Type for Text<R> {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "string".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            min_length: (R::MIN_CHARS > 0).then_some(R::MIN_CHARS),
            max_length: R::MAX_CHARS,
            pattern: R::ALPHABET.map(|alphabet| alphabet.pattern()),
            format: R::FORMAT,
            example: R::EXAMPLE.map(Value::from),
            ..MetaSchema::new("string")
        }))
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }

    fn is_empty(&self) -> bool {
        self.value.is_empty()
    }
}

impl<R: TextRule> ParseFromJSON for Text<R> {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value {
            Some(Value::String(s)) => Ok(s.into()),
            other => Err(ParseError::expected_type(other.unwrap_or_default())),
        }
    }
}

impl<R: TextRule> ParseFromParameter for Text<R> {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        Ok(value.to_owned().into())
    }
}

/// For the gateway's frames, read with serde: taken as any string, as from JSON above, so that
/// the rule's refusal is the parser's, in its words.
impl<'de, R: TextRule> Deserialize<'de> for Text<R> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self::from)
    }
}

impl<R: TextRule> ToJSON for Text<R> {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.value.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_uuid_text_is_hyphenated() {
        assert_eq!(UuidText::check(UuidText::EXAMPLE.unwrap()), Ok(()));
        let simple = "3fa85f6457174562b3fc2c963f66afa6";
        assert_eq!(UuidText::check(simple), Err(crate::text_rule::Broken::TooShort { chars: 32 }));
        assert_eq!(UuidText::check("3fa85f64-5717-4562-b3fc-2c963f66afaz"), Err(crate::text_rule::Broken::Malformed));
    }
}
