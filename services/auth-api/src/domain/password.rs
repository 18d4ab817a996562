use secrecy::{ExposeSecret, SecretString};
use shared::text_rule::TextRule;

use super::FieldError;

const NEW_MIN_CHARS: usize = 8;
const NEW_MAX_CHARS: usize = 128;
const OFFERED_MAX_CHARS: usize = 1024;

/// A password as registration accepts it: the rule of [`Password::parse`].
pub struct NewPassword;

impl TextRule for NewPassword {
    const MIN_CHARS: usize = NEW_MIN_CHARS;
    const MAX_CHARS: Option<usize> = Some(NEW_MAX_CHARS);
    const EXAMPLE: Option<&'static str> = Some("correct horse battery staple");
}

/// A password as login accepts it (accounts imported from the original service may have
/// shorter ones): the rule of [`Password::parse_offered`].
pub struct OfferedPassword;

impl TextRule for OfferedPassword {
    const MIN_CHARS: usize = 1;
    const MAX_CHARS: Option<usize> = Some(OFFERED_MAX_CHARS);
    const EXAMPLE: Option<&'static str> = Some("correct horse battery staple");
}

/// 8 to 128 characters, taken whole: never truncated (bcrypt's 72-byte cut is why the
/// original service could not promise that).
#[derive(Debug, Clone)]
pub struct Password(SecretString);

impl Password {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        NewPassword::check(raw).map_err(|_| {
            FieldError::new("password", format!("must be {NEW_MIN_CHARS} to {NEW_MAX_CHARS} characters long"))
        })?;
        Ok(Self(SecretString::from(raw.to_owned())))
    }

    /// A password offered at login: any length an old account may have (the original service
    /// had no minimum), capped so that nobody makes us hash megabytes.
    pub fn parse_offered(raw: &str) -> Result<Self, FieldError> {
        OfferedPassword::check(raw)
            .map_err(|_| FieldError::new("password", format!("must be 1 to {OFFERED_MAX_CHARS} characters long")))?;
        Ok(Self(SecretString::from(raw.to_owned())))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_characters_not_bytes() {
        let length = FieldError::new("password", "must be 8 to 128 characters long");
        assert_eq!(Password::parse("ééééééé").unwrap_err(), length); // 7 characters, 14 bytes
        assert!(Password::parse("éééééééé").is_ok());
        assert!(Password::parse(&"é".repeat(128)).is_ok());
        assert_eq!(Password::parse(&"a".repeat(129)).unwrap_err(), length);
    }

    #[test]
    fn an_offered_password_may_be_short_but_not_empty_nor_huge() {
        let length = FieldError::new("password", "must be 1 to 1024 characters long");
        assert!(Password::parse_offered("a").is_ok());
        assert!(Password::parse_offered(&"é".repeat(1024)).is_ok());
        assert_eq!(Password::parse_offered("").unwrap_err(), length);
        assert_eq!(Password::parse_offered(&"a".repeat(1025)).unwrap_err(), length);
    }

    #[test]
    fn the_examples_are_passwords() {
        assert!(Password::parse(NewPassword::EXAMPLE.unwrap()).is_ok());
        assert!(Password::parse_offered(OfferedPassword::EXAMPLE.unwrap()).is_ok());
    }

    #[test]
    fn is_not_printed_by_debug() {
        assert!(!format!("{:?}", Password::parse("hunter2hunter2").unwrap()).contains("hunter2"));
    }
}
