use secrecy::{ExposeSecret, SecretString};
use shared::http::TextRule;

use super::FieldError;

const NEW_MIN_CHARS: usize = 8;
const NEW_MAX_CHARS: usize = 128;
const OFFERED_MAX_CHARS: usize = 1024;

/// A password as registration accepts it, for the document.
pub struct NewPassword;

impl TextRule for NewPassword {
    const MIN_LENGTH: Option<usize> = Some(NEW_MIN_CHARS);
    const MAX_LENGTH: Option<usize> = Some(NEW_MAX_CHARS);
    const EXAMPLE: Option<&'static str> = Some("correct horse battery staple");
}

/// A password as login accepts it (accounts imported from the original service may have
/// shorter ones), for the document.
pub struct OfferedPassword;

impl TextRule for OfferedPassword {
    const MIN_LENGTH: Option<usize> = Some(1);
    const MAX_LENGTH: Option<usize> = Some(OFFERED_MAX_CHARS);
    const EXAMPLE: Option<&'static str> = Some("correct horse battery staple");
}

/// 8 to 128 characters, taken whole: never truncated (bcrypt's 72-byte cut is why the
/// original service could not promise that).
#[derive(Debug, Clone)]
pub struct Password(SecretString);

impl Password {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let length = raw.chars().count();
        if !(NEW_MIN_CHARS..=NEW_MAX_CHARS).contains(&length) {
            return Err(FieldError::new("password", "must be 8 to 128 characters long"));
        }
        Ok(Self(SecretString::from(raw.to_owned())))
    }

    /// A password offered at login: any length an old account may have (the original service
    /// had no minimum), capped so that nobody makes us hash megabytes.
    pub fn parse_offered(raw: &str) -> Result<Self, FieldError> {
        if raw.is_empty() || raw.chars().count() > OFFERED_MAX_CHARS {
            return Err(FieldError::new("password", "must be 1 to 1024 characters long"));
        }
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
        assert!(Password::parse("ééééééé").is_err()); // 7 characters, 14 bytes
        assert!(Password::parse("éééééééé").is_ok());
        assert!(Password::parse(&"é".repeat(128)).is_ok());
        assert_eq!(Password::parse(&"a".repeat(129)).unwrap_err().field, "password");
    }

    #[test]
    fn is_not_printed_by_debug() {
        assert!(!format!("{:?}", Password::parse("hunter2hunter2").unwrap()).contains("hunter2"));
    }
}
