use shared::http::TextRule;

use super::FieldError;

const MAX_BYTES: usize = 254;

/// An address as registration accepts it, for the document.
pub struct EmailText;

impl TextRule for EmailText {
    const MAX_LENGTH: Option<usize> = Some(MAX_BYTES);
    const FORMAT: Option<&'static str> = Some("email");
    const EXAMPLE: Option<&'static str> = Some("alice@example.com");
}

/// An address of RFC 5322 syntax with a domain part, unique without regard to case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let invalid = || FieldError::new("email", "is not a valid email address");
        if raw.len() > MAX_BYTES {
            return Err(invalid());
        }
        let parsed: email_address::EmailAddress = raw.parse().map_err(|_| invalid())?;
        // The crate accepts dotless domains (`a@localhost`); a user's real address has a dot.
        if !parsed.domain().contains('.') || parsed.domain().starts_with('[') {
            return Err(invalid());
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_addresses() {
        for good in ["alice@example.com", "a.b+tag@mail.example.co.uk", "Alice@Example.COM"] {
            assert!(Email::parse(good).is_ok(), "{good}");
        }
        assert_eq!(Email::parse("Alice@Example.COM").unwrap().key(), "alice@example.com");
    }

    #[test]
    fn refuses_what_is_not_an_address() {
        for bad in ["", "alice", "alice@", "@example.com", "a b@example.com", "alice@localhost", "a@@b.com"] {
            assert_eq!(Email::parse(bad).unwrap_err().field, "email", "{bad:?}");
        }
    }
}
