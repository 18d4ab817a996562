use shared::{http::TextRule, username_key::UsernameKey};

use super::FieldError;

const MIN_CHARS: usize = 3;
const MAX_CHARS: usize = 32;

/// A username as registration accepts it, for the document.
pub struct NewUsername;

impl TextRule for NewUsername {
    const MIN_LENGTH: Option<usize> = Some(MIN_CHARS);
    const MAX_LENGTH: Option<usize> = Some(MAX_CHARS);
    const PATTERN: Option<&'static str> = Some("^[A-Za-z0-9_.-]*$");
    const EXAMPLE: Option<&'static str> = Some("alice");
}

/// 3 to 32 characters of `[A-Za-z0-9_.-]`. Unique without regard to case: `key()` is the
/// lowercased form the database compares; `as_str()` keeps the spelling the user chose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username {
    spelling: String,
    key: UsernameKey,
}

impl Username {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let length = raw.chars().count();
        if !(MIN_CHARS..=MAX_CHARS).contains(&length) {
            return Err(FieldError::new("username", "must be 3 to 32 characters long"));
        }
        let alphabet = "may contain only letters, digits, '_', '.' and '-'";
        if !raw.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')) {
            return Err(FieldError::new("username", alphabet));
        }
        // Always a key past the checks above, which are stricter than the key's own.
        let key = UsernameKey::parse(raw).ok_or_else(|| FieldError::new("username", alphabet))?;
        Ok(Self { spelling: raw.to_owned(), key })
    }

    pub fn as_str(&self) -> &str {
        &self.spelling
    }

    pub fn key(&self) -> &UsernameKey {
        &self.key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_allowed_alphabet_and_keeps_the_spelling() {
        let name = Username::parse("Alice_B.c-9").unwrap();
        assert_eq!((name.as_str(), name.key().as_str()), ("Alice_B.c-9", "alice_b.c-9"));
    }

    #[test]
    fn refuses_short_long_and_foreign_characters() {
        for bad in ["ab", &"a".repeat(33), "al ice", "al@ce", "ålice", ""] {
            assert_eq!(Username::parse(bad).unwrap_err().field, "username", "{bad:?}");
        }
        assert!(Username::parse(&"a".repeat(32)).is_ok());
    }
}
