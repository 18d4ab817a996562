use shared::text_rule::{Alphabet, TextRule};
use unicode_segmentation::UnicodeSegmentation;

/// Longest reaction, in bytes (UTF-8): room for a flag, a family or a skin tone's sequence.
pub(crate) const MAX_EMOJI_BYTES: usize = 16;

/// A reaction: one emoji, as one user put it on one message. Made by [`Emoji::parse`] where a
/// reaction comes in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Emoji(String);

/// The rule of a reaction: one grapheme cluster (what a person sees as one character: a
/// flag, a skin tone's sequence, a keycap), at most [`MAX_EMOJI_BYTES`] bytes, holding a
/// character of the blocks emoji are drawn from (a letter, a digit or an invisible character
/// alone is not a reaction).
pub(crate) struct EmojiText;

impl TextRule for EmojiText {
    const MIN_CHARS: usize = 1;
    // Bytes bound characters: the schema says at most 16 characters, the check 16 bytes.
    const MAX_CHARS: Option<usize> = Some(MAX_EMOJI_BYTES);
    const ALPHABET: Option<Alphabet> = Some(Alphabet::NO_CONTROL);
    const FORMAT: Option<&'static str> = Some("emoji");
    const EXAMPLE: Option<&'static str> = Some("👍");

    fn well_formed(text: &str) -> bool {
        text.len() <= MAX_EMOJI_BYTES
            && text.graphemes(true).count() == 1
            && !text.chars().any(char::is_whitespace)
            && text.chars().any(drawn_as_emoji)
    }
}

/// Whether `c` lies where Unicode puts the characters with the Emoji property (© ®, ‼ ⁉, the
/// keycap mark, the symbol blocks from ™ to ㊙, and the pictographs from 🀀 to 🫿): a
/// superset, which no reaction a keyboard offers falls outside.
fn drawn_as_emoji(c: char) -> bool {
    matches!(c, '\u{a9}' | '\u{ae}' | '\u{203c}' | '\u{2049}' | '\u{20e3}' | '\u{2122}'..='\u{3299}' | '\u{1f000}'..='\u{1faff}')
}

impl Emoji {
    pub(crate) fn parse(text: String) -> Option<Self> {
        EmojiText::check(&text).is_ok().then_some(Self(text))
    }

    /// A reaction read back from the database, where only parsed ones are written.
    pub(crate) fn stored(text: String) -> Self {
        Self(text)
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    pub(crate) fn into_string(self) -> String {
        self.0
    }
}

/// One emoji's reactions to a message, as one member sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tally {
    pub(crate) emoji: Emoji,
    pub(crate) count: u32,
    /// Whether the member looking is among those who reacted.
    pub(crate) me: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reaction_is_one_emoji_of_at_most_16_bytes() {
        for good in ["👍", "❤️", "🇫🇷", "👍🏽", "1️⃣", "🏳️‍🌈", "☕"] {
            assert_eq!(Emoji::parse(good.into()).map(Emoji::into_string).as_deref(), Some(good), "{good:?}");
        }
        // A family of three is one grapheme of 18 bytes.
        for bad in ["", " ", "a", "1", "ok", "👍👍", "👍 ", "\u{200b}", "\u{fe0f}", "é", "\u{0}", "👨‍👩‍👧", "é\u{7f}"]
        {
            assert!(Emoji::parse(bad.into()).is_none(), "{bad:?}");
        }
    }
}
