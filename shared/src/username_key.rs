//! The form in which a username is unique and looked up: ASCII-lowercased, so "Alice" and
//! "alice" are one account. auth-api stores it and logs in by it, user-search finds users by
//! it; both read names through [`UsernameKey::parse`], so a name one of them accepts is never
//! one the other cannot find.

use crate::text_rule::{Alphabet, TextRule};

/// A text that can be a name, the rule of [`UsernameKey::parse`]: a login with any other is
/// refused, a lookup of any other finds no user.
pub struct NameText;

impl TextRule for NameText {
    const MIN_CHARS: usize = 1;
    const MAX_CHARS: Option<usize> = Some(UsernameKey::MAX_CHARS);
    /// Postgres cannot even compare text holding NUL.
    const ALPHABET: Option<Alphabet> = Some(Alphabet::NO_CONTROL);
    const EXAMPLE: Option<&'static str> = Some("alice");
}

/// The key of a text that can be a name: 1 to [`UsernameKey::MAX_CHARS`] characters without
/// control characters. No registered name is outside that, so a text that does not parse
/// names no user, and the database need not be asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsernameKey(String);

impl UsernameKey {
    /// Names longer than this cannot exist; refusing them early bounds the work per request.
    /// Characters, not bytes, as JSON Schema's `maxLength` (which the documents state) counts.
    pub const MAX_CHARS: usize = 256;

    /// The key of `name`, or `None` when it cannot be a name ([`NameText`]): empty, longer than
    /// [`Self::MAX_CHARS`], or holding control characters.
    pub fn parse(name: &str) -> Option<Self> {
        NameText::check(name).ok().map(|()| Self(Self::fold(name)))
    }

    /// The case folding alone, without the checks of [`Self::parse`]: for a row stored
    /// whatever its name holds (`import-users` copies legacy rows as they are).
    pub fn fold(name: &str) -> String {
        name.to_ascii_lowercase()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_keyed_lowercased() {
        assert_eq!(UsernameKey::parse("Alice_B.c-9").unwrap().as_str(), "alice_b.c-9");
        // ASCII only, as the keys already stored were made.
        assert_eq!(UsernameKey::parse("ÅLICE").unwrap().as_str(), "Ålice");
    }

    #[test]
    fn lengths_count_characters_not_bytes() {
        assert!(UsernameKey::parse(&"é".repeat(UsernameKey::MAX_CHARS)).is_some());
        assert!(UsernameKey::parse(&"a".repeat(UsernameKey::MAX_CHARS + 1)).is_none());
    }

    #[test]
    fn what_cannot_be_a_name_has_no_key() {
        for bad in ["", "al\u{0}ice", "al\nice", "\u{7f}", "a\u{9f}"] {
            assert_eq!(UsernameKey::parse(bad), None, "{bad:?}");
        }
        assert!(UsernameKey::parse("a\u{a0}").is_some(), "no-break space is no control character");
    }

    #[test]
    fn the_example_is_a_name() {
        assert!(UsernameKey::parse(NameText::EXAMPLE.unwrap()).is_some());
    }
}
