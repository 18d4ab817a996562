use shared::text_rule::TextRule;

use super::FieldError;

/// The longest address SMTP carries (RFC 5321's path, less its brackets), in bytes.
const MAX_BYTES: usize = 254;

/// An address as registration accepts it: the rule of [`Email::parse`].
pub struct EmailText;

impl TextRule for EmailText {
    /// The document counts characters; no more of them than bytes fit.
    const MAX_CHARS: Option<usize> = Some(MAX_BYTES);
    const FORMAT: Option<&'static str> = Some("email");
    const EXAMPLE: Option<&'static str> = Some("alice@example.com");

    fn well_formed(text: &str) -> bool {
        // Bounded first: nobody makes us parse megabytes.
        if text.len() > MAX_BYTES {
            return false;
        }
        // The crate accepts dotless domains (`a@localhost`); a user's real address has a dot.
        text.parse::<email_address::EmailAddress>()
            .is_ok_and(|parsed| parsed.domain().contains('.') && !parsed.domain().starts_with('['))
    }
}

/// An address of RFC 5322 syntax with a domain part, unique without regard to case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        EmailText::check(raw).map_err(|_| FieldError::new("email", "is not a valid email address"))?;
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
        let invalid = FieldError::new("email", "is not a valid email address");
        for bad in
            ["", "alice", "alice@", "@example.com", "a b@example.com", "alice@localhost", "a@@b.com", "a@[1.2.3.4]"]
        {
            assert_eq!(Email::parse(bad).unwrap_err(), invalid, "{bad:?}");
        }
    }

    #[test]
    fn at_most_254_bytes() {
        // Labels of at most 63, a local part of at most 64, as any address.
        let at = |bytes: usize| {
            let labels = ["b", "c", "d"].map(|l| l.repeat(60)).join(".");
            format!("{}@{labels}.{}.com", "a".repeat(60), "e".repeat(bytes - 248))
        };
        assert!(Email::parse(&at(254)).is_ok());
        assert_eq!(Email::parse(&at(255)).unwrap_err().field, "email");
    }

    #[test]
    fn the_example_is_an_address() {
        assert!(Email::parse(EmailText::EXAMPLE.unwrap()).is_ok());
    }
}
