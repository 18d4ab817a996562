use shared::{
    text_rule::{Alphabet, Broken, TextRule},
    username_key::UsernameKey,
};

use super::FieldError;

const MIN_CHARS: usize = 3;
const MAX_CHARS: usize = 32;

/// A username as registration accepts it: the rule of [`Username::parse`].
pub struct NewUsername;

impl TextRule for NewUsername {
    const MIN_CHARS: usize = MIN_CHARS;
    const MAX_CHARS: Option<usize> = Some(MAX_CHARS);
    const ALPHABET: Option<Alphabet> = Some(Alphabet::ASCII_NAME);
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
        let alphabet = "may contain only letters, digits, '_', '.' and '-'";
        NewUsername::check(raw).map_err(|broken| match broken {
            Broken::Foreign(_) => FieldError::new("username", alphabet),
            _ => FieldError::new("username", format!("must be {MIN_CHARS} to {MAX_CHARS} characters long")),
        })?;
        // Always a key past the rule above, which is stricter than the key's own.
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
        let length = FieldError::new("username", "must be 3 to 32 characters long");
        let alphabet = FieldError::new("username", "may contain only letters, digits, '_', '.' and '-'");
        for (bad, why) in [("ab", &length), (&"a".repeat(33), &length), ("", &length), ("é", &length)] {
            assert_eq!(Username::parse(bad).unwrap_err(), *why, "{bad:?}");
        }
        for bad in ["al ice", "al@ce", "ålice", "abc\u{0}"] {
            assert_eq!(Username::parse(bad).unwrap_err(), alphabet, "{bad:?}");
        }
        assert!(Username::parse("abc").is_ok());
        assert!(Username::parse(&"a".repeat(32)).is_ok());
    }

    #[test]
    fn the_example_is_a_username() {
        assert!(Username::parse(NewUsername::EXAMPLE.unwrap()).is_ok());
    }
}
