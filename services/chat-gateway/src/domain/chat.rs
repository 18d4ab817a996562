//! What a chat is, apart from its messages: one-to-one or a group, and in a group who may do
//! what. The rules of roles live here, once, for the commands and the REST routes alike.

use shared::text_rule::{Alphabet, Broken, TextRule};

/// One-to-one or a group, as stored in `chats.kind` and written on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatKind {
    Private,
    Group,
}

impl ChatKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Private => "private",
            Self::Group => "group",
        }
    }

    /// The kind of a stored row; anything but `group` is the one-to-one chat every row was
    /// before groups.
    pub(crate) fn stored(kind: &str) -> Self {
        if kind == "group" { Self::Group } else { Self::Private }
    }
}

/// A member's role in a group, ordered by what it may do. A private chat's two members are
/// plain members.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Member,
    Admin,
    Owner,
}

impl Role {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Member => "member",
            Self::Admin => "admin",
            Self::Owner => "owner",
        }
    }

    /// The role of a stored row (only this type writes them).
    pub(crate) fn stored(role: &str) -> Self {
        match role {
            "owner" => Self::Owner,
            "admin" => Self::Admin,
            _ => Self::Member,
        }
    }

    /// Add members and rename the group: the owner and admins (as in WhatsApp and Matrix's
    /// default power levels).
    pub(crate) fn may_manage(self) -> bool {
        self >= Self::Admin
    }

    /// Remove `target`: the owner anyone but themselves (they leave instead), an admin plain
    /// members only.
    pub(crate) fn may_remove(self, target: Self) -> bool {
        match self {
            Self::Owner => target != Self::Owner,
            Self::Admin => target == Self::Member,
            Self::Member => false,
        }
    }

    /// Make members admins and admins members: the owner alone.
    pub(crate) fn may_set_roles(self) -> bool {
        self == Self::Owner
    }
}

/// Groups of at most this many members tell each member's presence to the others; a larger
/// one would cost every member's change to every member (Discord stops at 250 as well).
pub(crate) const PRESENCE_MAX_MEMBERS: i32 = 250;

/// A group's title: 1 to [`MAX_TITLE_CHARS`] characters, not only whitespace, no control
/// characters (it is shown on one line).
pub struct TitleText;

/// Longest group title, in characters (WhatsApp's subject allows 100).
pub(crate) const MAX_TITLE_CHARS: usize = 100;

impl TextRule for TitleText {
    const MIN_CHARS: usize = 1;
    const MAX_CHARS: Option<usize> = Some(MAX_TITLE_CHARS);
    const ALPHABET: Option<Alphabet> = Some(Alphabet::NO_CONTROL);
    const EXAMPLE: Option<&'static str> = Some("Weekend hike");

    fn well_formed(text: &str) -> bool {
        !text.trim().is_empty()
    }
}

/// A checked title, as stored: surrounding whitespace trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Title(String);

impl Title {
    pub(crate) fn parse(text: &str) -> Result<Self, Broken> {
        let text = text.trim();
        TitleText::check(text)?;
        Ok(Self(text.to_owned()))
    }

    /// What the refusal of a title says, on the socket and over HTTP alike.
    pub(crate) fn refusal(broken: &Broken) -> String {
        match broken {
            Broken::TooLong { .. } => format!("title: at most {MAX_TITLE_CHARS} characters"),
            Broken::Foreign(_) => "title: control characters are not allowed".to_owned(),
            Broken::Malformed | Broken::TooShort { .. } => "title: must not be empty".to_owned(),
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_may_do_what_their_rank_allows() {
        use Role::{Admin, Member, Owner};
        assert!(Owner.may_manage() && Admin.may_manage() && !Member.may_manage());
        assert!(Owner.may_remove(Admin) && Owner.may_remove(Member) && !Owner.may_remove(Owner));
        assert!(Admin.may_remove(Member) && !Admin.may_remove(Admin) && !Admin.may_remove(Owner));
        assert!(!Member.may_remove(Member));
        assert!(Owner.may_set_roles() && !Admin.may_set_roles() && !Member.may_set_roles());
        for role in [Owner, Admin, Member] {
            assert_eq!(Role::stored(role.as_str()), role);
        }
        assert_eq!(ChatKind::stored("group"), ChatKind::Group);
        assert_eq!(ChatKind::stored("private"), ChatKind::Private);
    }

    #[test]
    fn a_title_is_1_to_100_characters_on_one_line() {
        assert_eq!(Title::parse("  Weekend hike ").unwrap().as_str(), "Weekend hike");
        assert_eq!(Title::parse(&"é".repeat(100)).unwrap().as_str(), "é".repeat(100));
        for (bad, why) in [
            ("", "title: must not be empty"),
            ("   ", "title: must not be empty"),
            (&"é".repeat(101), "title: at most 100 characters"),
            ("a\nb", "title: control characters are not allowed"),
        ] {
            assert_eq!(Title::parse(bad).map_err(|b| Title::refusal(&b)), Err(why.to_owned()), "{bad:?}");
        }
    }
}
