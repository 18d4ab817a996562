//! The characters a text may hold, as ranges: the document's ECMA-262 `pattern` is written
//! from them and the check asks them, so the two cannot drift apart. The test below holds each
//! alphabet's pattern, compiled, against its predicate.

use std::fmt::Write;

/// Characters in `ranges` (inclusive), or all but those. Ranges stay in the Basic Multilingual
/// Plane: beyond it, an ECMA pattern without the `u` flag sees two UTF-16 halves, not the
/// character.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Alphabet {
    except: bool,
    ranges: &'static [(char, char)],
}

impl Alphabet {
    /// No control character (`char::is_control`): Postgres cannot hold NUL in text, and the
    /// rest have no business in a name or an id.
    pub const NO_CONTROL: Self = Self::except(&[('\u{0}', '\u{1f}'), ('\u{7f}', '\u{9f}')]);
    /// [`Self::NO_CONTROL`] but for line breaks and tabs: text a person writes.
    pub const LINES: Self = Self::except(&[
        ('\u{0}', '\u{8}'),
        ('\u{b}', '\u{b}'),
        ('\u{c}', '\u{c}'),
        ('\u{e}', '\u{1f}'),
        ('\u{7f}', '\u{9f}'),
    ]);
    /// Printable ASCII without the space.
    pub const VISIBLE_ASCII: Self = Self::only(&[('!', '~')]);
    /// ASCII letters and digits, `_`, `.` and `-`.
    pub const ASCII_NAME: Self = Self::only(&[('A', 'Z'), ('a', 'z'), ('0', '9'), ('_', '_'), ('.', '.'), ('-', '-')]);
    /// Lowercase ASCII letters, digits and `_`.
    pub const SNAKE_CASE: Self = Self::only(&[('a', 'z'), ('0', '9'), ('_', '_')]);

    pub const fn only(ranges: &'static [(char, char)]) -> Self {
        Self { except: false, ranges }
    }

    pub const fn except(ranges: &'static [(char, char)]) -> Self {
        Self { except: true, ranges }
    }

    pub fn allows(&self, c: char) -> bool {
        self.ranges.iter().any(|&(first, last)| (first..=last).contains(&c)) != self.except
    }

    /// An ECMA-262 pattern a whole text of this alphabet (or an empty one) matches.
    pub fn pattern(&self) -> String {
        let mut class = String::new();
        for (at, &(first, last)) in self.ranges.iter().enumerate() {
            // A `-` is itself only alone and last, where it cannot be read as a range.
            let lone_last = first == last && at + 1 == self.ranges.len();
            push_char(&mut class, first, lone_last);
            if first != last {
                class.push('-');
                push_char(&mut class, last, false);
            }
        }
        format!("^[{}{class}]*$", if self.except { "^" } else { "" })
    }
}

/// Letters, digits and a few marks as themselves, anything else as `\uXXXX`, which means the
/// same to ECMA-262 and to the regex crate (where `[`, `&&`, `--` and `~~` mean more in a
/// class than in ECMA-262).
fn push_char(class: &mut String, c: char, dash_as_itself: bool) {
    if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '!' | '~') || (c == '-' && dash_as_itself) {
        class.push(c);
    } else {
        // Writing to a String cannot fail.
        let _ = write!(class, "\\u{:04x}", u32::from(c));
    }
}

#[cfg(test)]
mod tests {
    use regex::Regex;

    use super::*;

    const EVERY: [(&str, Alphabet); 5] = [
        ("NO_CONTROL", Alphabet::NO_CONTROL),
        ("LINES", Alphabet::LINES),
        ("VISIBLE_ASCII", Alphabet::VISIBLE_ASCII),
        ("ASCII_NAME", Alphabet::ASCII_NAME),
        ("SNAKE_CASE", Alphabet::SNAKE_CASE),
    ];

    /// What the documents show, for a reader to see; a change here is one clients see.
    #[test]
    fn patterns_read_as_the_documents_show_them() {
        assert_eq!(Alphabet::NO_CONTROL.pattern(), r"^[^\u0000-\u001f\u007f-\u009f]*$");
        assert_eq!(Alphabet::LINES.pattern(), r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*$");
        assert_eq!(Alphabet::VISIBLE_ASCII.pattern(), "^[!-~]*$");
        assert_eq!(Alphabet::ASCII_NAME.pattern(), "^[A-Za-z0-9_.-]*$");
        assert_eq!(Alphabet::SNAKE_CASE.pattern(), "^[a-z0-9_]*$");
    }

    #[test]
    fn each_pattern_takes_exactly_what_its_predicate_allows() {
        let astral = ['\u{10000}', '\u{1f600}', '\u{e0001}', '\u{10ffff}'];
        let every_char = (0..0x3000).filter_map(char::from_u32).chain(['\u{fffd}', '\u{ffff}']).chain(astral);
        for (name, alphabet) in EVERY {
            let pattern = Regex::new(&alphabet.pattern()).unwrap();
            for c in every_char.clone() {
                assert_eq!(pattern.is_match(&c.to_string()), alphabet.allows(c), "{name}: {c:?}");
                assert_eq!(pattern.is_match(&format!("{c}{c}")), alphabet.allows(c), "{name}: {c:?} twice");
            }
            assert!(pattern.is_match(""), "{name}: lengths are the rule's, not the pattern's");
        }
    }

    #[test]
    fn the_control_alphabets_are_char_is_control() {
        for c in (0..0x3000).filter_map(char::from_u32) {
            assert_eq!(Alphabet::NO_CONTROL.allows(c), !c.is_control(), "{c:?}");
            assert_eq!(Alphabet::LINES.allows(c), !c.is_control() || matches!(c, '\n' | '\r' | '\t'), "{c:?}");
        }
    }

    /// A `-` anywhere but last, or a mark the pattern must escape, still means itself.
    #[test]
    fn marks_are_escaped_where_they_would_mean_something_else() {
        let tricky =
            Alphabet::only(&[('-', '-'), ('[', ']'), ('^', '^'), ('\\', '\\'), ('~', '~'), ('!', '-'), ('a', 'a')]);
        let pattern = Regex::new(&tricky.pattern()).unwrap();
        for c in (0..0x80).filter_map(char::from_u32) {
            assert_eq!(pattern.is_match(&c.to_string()), tricky.allows(c), "{c:?} in {}", tricky.pattern());
        }
    }
}
