//! What a text must be to be taken: a field's lengths, its characters, its shape. One rule
//! makes both the document's schema of the field (`Text<R>` in `http::text`) and the check its
//! parser runs ([`TextRule::check`]), so the two cannot say different things: a limit changed
//! here changes both. The refusal's words stay with each parser, which knows its field.

mod alphabet;

pub use alphabet::Alphabet;

/// Why a text breaks its rule, the first thing found in the order [`TextRule::check`] looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Broken {
    /// Not of the shape [`TextRule::well_formed`] asks for.
    Malformed,
    TooShort {
        chars: usize,
    },
    TooLong {
        chars: usize,
    },
    /// The first character outside the rule's [`Alphabet`].
    Foreign(char),
}

/// A rule of a text: a marker type, so that `Text<R>` carries it in its type.
pub trait TextRule: Send + Sync + 'static {
    /// Lengths count characters (code points), as JSON Schema's `minLength` and `maxLength`
    /// do; bytes would make a limit depend on the script a user writes in.
    const MIN_CHARS: usize = 0;
    const MAX_CHARS: Option<usize> = None;
    /// The characters a value may hold: the document's `pattern`, and what `check` lets in.
    const ALPHABET: Option<Alphabet> = None;
    /// `email`, `uuid`, `date-time`…: says in the document what `well_formed` checks.
    const FORMAT: Option<&'static str> = None;
    /// A value the rule takes, shown (and sent) by Swagger UI; each rule's tests check it.
    const EXAMPLE: Option<&'static str> = None;

    /// What a value must be beyond its lengths and characters, which no schema keyword but
    /// `format` can say (an address; a message of more than spaces). Looked at first: a
    /// message of spaces alone is empty, however many there are.
    fn well_formed(_text: &str) -> bool {
        true
    }

    /// Whether `text` keeps the rule, or the first way it breaks it.
    fn check(text: &str) -> Result<(), Broken> {
        if !Self::well_formed(text) {
            return Err(Broken::Malformed);
        }
        let chars = text.chars().count();
        if chars < Self::MIN_CHARS {
            return Err(Broken::TooShort { chars });
        }
        if Self::MAX_CHARS.is_some_and(|max| chars > max) {
            return Err(Broken::TooLong { chars });
        }
        match Self::ALPHABET.and_then(|alphabet| text.chars().find(|c| !alphabet.allows(*c))) {
            Some(foreign) => Err(Broken::Foreign(foreign)),
            None => Ok(()),
        }
    }
}

/// Any text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnyText;

impl TextRule for AnyText {}

#[cfg(test)]
mod tests {
    use super::*;

    struct Word;

    impl TextRule for Word {
        const MIN_CHARS: usize = 2;
        const MAX_CHARS: Option<usize> = Some(3);
        const ALPHABET: Option<Alphabet> = Some(Alphabet::only(&[('a', 'z')]));

        fn well_formed(text: &str) -> bool {
            !text.starts_with('x')
        }
    }

    #[test]
    fn lengths_count_characters_and_come_before_the_alphabet() {
        assert_eq!(Word::check("ab"), Ok(()));
        assert_eq!(Word::check("abc"), Ok(()));
        assert_eq!(Word::check("a"), Err(Broken::TooShort { chars: 1 }));
        assert_eq!(Word::check("abcd"), Err(Broken::TooLong { chars: 4 }));
        assert_eq!(Word::check("aé"), Err(Broken::Foreign('é')));
        assert_eq!(Word::check("é"), Err(Broken::TooShort { chars: 1 }));
    }

    #[test]
    fn the_shape_comes_first() {
        assert_eq!(Word::check("x"), Err(Broken::Malformed));
        assert_eq!(Word::check("xxxxx"), Err(Broken::Malformed));
    }

    #[test]
    fn any_text_is_taken() {
        assert_eq!(AnyText::check(""), Ok(()));
        assert_eq!(AnyText::check("\u{0}"), Ok(()));
    }
}
