//! user-search's routes. Every one needs a verified access token; none says more about a user
//! than `username` and `user_id`.

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::{
    Object, OpenApi, Tags, Union,
    param::{Path, Query},
    payload::Json,
    types::Example,
};
use shared::{
    ApiError, ApiResult,
    http::{
        BearerAuth, Refusal, Refusals, Refused, Text, UuidText,
        refusals::{BEARER, DEPENDENCIES, INVALID_FIELD, UNPARSED_PARAMETER},
    },
    paging::{PageSize, decode_cursor, encode_cursor},
    read_replica::Reads,
    text_rule::{Alphabet, TextRule},
    username_key::{NameText, UsernameKey},
};
use uuid::Uuid;

use crate::{
    lookup_cache::{Lookup, LookupCache},
    queries::{self, PublicUser},
};

/// What the handlers share: every user-search read may lag by a moment, so each goes where
/// [`Reads::lagging`] says; exact lookups go through the cache first.
pub struct SearchState {
    pub reads: Reads,
    pub cache: Arc<LookupCache>,
}

#[derive(Tags)]
enum Tag {
    /// Finding other users.
    Users,
}

pub struct UsersApi;

/// Every user-search route, for one `OpenApiService`.
pub fn apis() -> UsersApi {
    UsersApi
}

/// A user as anyone may see them.
#[derive(Debug, Object)]
#[oai(example)]
pub struct UserRef {
    /// As the user spelled it at registration.
    pub username: String,
    /// The user's id (a UUIDv4).
    pub user_id: Uuid,
}

/// A page of the listing.
#[derive(Debug, Object)]
#[oai(example)]
pub struct UserPage {
    /// At most `limit` users, in username order (without regard to case).
    pub users: Vec<UserRef>,
    /// Pass as `cursor` for the next page; null on the last page.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

/// The users whose name starts with `q`.
#[derive(Debug, Object)]
pub struct SearchResults {
    /// At most `limit` users, in username order (without regard to case).
    pub users: Vec<UserRef>,
}

/// `/users/show` answers a page, or one user when `username` is given.
#[derive(Debug, Union)]
#[oai(one_of)]
pub enum ShowResult {
    Page(UserPage),
    User(UserRef),
}

impl Example for UserRef {
    fn example() -> Self {
        Self { username: "alice".into(), user_id: Uuid::from_u128(0x3fa8_5f64_5717_4562_b3fc_2c96_3f66_afa6) }
    }
}

impl Example for UserPage {
    fn example() -> Self {
        Self { users: vec![UserRef::example()], next_cursor: Some(encode_cursor(&["alice"])) }
    }
}

/// `username` of `/users/show`: a name as [`NameText`] takes it (and [`find_by_name`] checks),
/// but without its example, which Swagger UI would fill in and so turn every listing into a
/// lookup.
struct ShowName;

impl TextRule for ShowName {
    const MIN_CHARS: usize = NameText::MIN_CHARS;
    const MAX_CHARS: Option<usize> = NameText::MAX_CHARS;
    const ALPHABET: Option<Alphabet> = NameText::ALPHABET;

    fn well_formed(text: &str) -> bool {
        NameText::well_formed(text)
    }
}

/// The longest `q`: no registered name is longer.
const MAX_PREFIX_CHARS: usize = 32;

/// `q`: the start of a username. Any characters: a prefix no name can start with finds nobody.
struct SearchPrefix;

impl TextRule for SearchPrefix {
    const MIN_CHARS: usize = 1;
    const MAX_CHARS: Option<usize> = Some(MAX_PREFIX_CHARS);
    const EXAMPLE: Option<&'static str> = Some("al");
}

/// `limit`: 20 unless given, at most 100.
type Limit = PageSize<20, 100>;

const NO_SUCH_NAME: Refusal = Refusal::new(404, "not_found", "No user has this username (without regard to case).");
const NO_SUCH_ID: Refusal = Refusal::new(404, "not_found", "No user has this id.");

/// What `GET /users/show` refuses: a bad `limit` or `cursor`, or no user of the `username`.
pub enum ShowRefusals {}

impl Refusals for ShowRefusals {
    const LIST: &'static [&'static [Refusal]] =
        &[BEARER, &[UNPARSED_PARAMETER, INVALID_FIELD, NO_SUCH_NAME], DEPENDENCIES];
}

/// What `GET /users/username/{username}` refuses: a name longer than any can be, or with
/// control characters, or no user of it.
pub enum ByUsernameRefusals {}

impl Refusals for ByUsernameRefusals {
    const LIST: &'static [&'static [Refusal]] = &[BEARER, &[INVALID_FIELD, NO_SUCH_NAME], DEPENDENCIES];
}

/// What `GET /users/user_id/{user_id}` refuses: an id that is not a UUID, or no user of it.
pub enum ByIdRefusals {}

impl Refusals for ByIdRefusals {
    const LIST: &'static [&'static [Refusal]] = &[BEARER, &[INVALID_FIELD, NO_SUCH_ID], DEPENDENCIES];
}

/// What `GET /users/search` refuses: `q` missing or out of its bounds, a bad `limit`.
pub enum SearchRefusals {}

impl Refusals for SearchRefusals {
    const LIST: &'static [&'static [Refusal]] = &[BEARER, &[UNPARSED_PARAMETER, INVALID_FIELD], DEPENDENCIES];
}

impl From<PublicUser> for UserRef {
    fn from(user: PublicUser) -> Self {
        Self { username: user.username, user_id: user.user_id }
    }
}

#[OpenApi(tag = "Tag::Users")]
impl UsersApi {
    /// List users in username order (`limit` 1–100, default 20; `cursor` from the previous
    /// page), or, with `username`, the user of that name (without regard to case).
    #[oai(path = "/users/show", method = "get", operation_id = "show_users")]
    async fn show(
        &self,
        state: Data<&Arc<SearchState>>,
        _auth: BearerAuth,
        /// A username to look up, without regard to case. Given, the answer is that user
        /// alone (or 404), and `limit` and `cursor` are ignored.
        username: Query<Option<Text<ShowName>>>,
        /// Users per page: 1 to 100, 20 when left out.
        limit: Query<Option<Limit>>,
        /// The `next_cursor` of the previous page, to go on after it. Only a cursor this
        /// service issued is accepted.
        cursor: Query<Option<String>>,
    ) -> Result<Json<ShowResult>, Refused<ShowRefusals>> {
        if let Some(name) = username.0 {
            return Ok(Json(ShowResult::User(find_by_name(&state, &name).await?)));
        }
        let limit = Limit::resolve(limit.0)?;
        let after = cursor.0.as_deref().map(|raw| decode_cursor(raw, 1, |parts| username_key(parts[0]))).transpose()?;
        // One more than asked tells whether a next page exists.
        let mut users = queries::page_after(state.reads.lagging(), after.as_deref(), limit + 1).await?;
        let next_cursor = if users.len() as u64 > limit {
            users.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
            users.last().map(|last| encode_cursor(&[&last.username_key]))
        } else {
            None
        };
        let users = users.into_iter().map(UserRef::from).collect();
        Ok(Json(ShowResult::Page(UserPage { users, next_cursor })))
    }

    /// The user of this name, without regard to case.
    #[oai(path = "/users/username/:username", method = "get", operation_id = "user_by_username")]
    async fn by_username(
        &self,
        state: Data<&Arc<SearchState>>,
        _auth: BearerAuth,
        /// The username, without regard to case.
        username: Path<Text<NameText>>,
    ) -> Result<Json<UserRef>, Refused<ByUsernameRefusals>> {
        Ok(Json(find_by_name(&state, &username.0).await?))
    }

    /// The user of this id.
    #[oai(path = "/users/user_id/:user_id", method = "get", operation_id = "user_by_id")]
    async fn by_id(
        &self,
        state: Data<&Arc<SearchState>>,
        _auth: BearerAuth,
        /// The user's id (`user_id` of a listing or search).
        user_id: Path<Text<UuidText>>,
    ) -> Result<Json<UserRef>, Refused<ByIdRefusals>> {
        let id = Uuid::parse_str(&user_id.0).map_err(|_| ApiError::invalid_field("user_id", "user_id: not a UUID"))?;
        let user = state
            .cache
            .find(&state.reads, Lookup::Id(id))
            .await?
            .ok_or_else(|| ApiError::not_found("no user with this id"))?;
        Ok(Json(user.into()))
    }

    /// Users whose name starts with `q` (1–32 characters, without regard to case), in
    /// username order; `limit` 1–100, default 20.
    #[oai(path = "/users/search", method = "get", operation_id = "search_users")]
    async fn search(
        &self,
        state: Data<&Arc<SearchState>>,
        _auth: BearerAuth,
        /// The start of a username: 1 to 32 characters, without regard to case.
        q: Query<Text<SearchPrefix>>,
        /// Users at most: 1 to 100, 20 when left out.
        limit: Query<Option<Limit>>,
    ) -> Result<Json<SearchResults>, Refused<SearchRefusals>> {
        let q = q.0.into_string();
        if SearchPrefix::check(&q).is_err() {
            let reason = format!("q: must be {} to {MAX_PREFIX_CHARS} characters long", SearchPrefix::MIN_CHARS);
            return Err(ApiError::invalid_field("q", reason).into());
        }
        let limit = Limit::resolve(limit.0)?;
        // No name starts with what cannot be in a name: no need to ask the database.
        let Some(prefix) = UsernameKey::parse(&q) else {
            return Ok(Json(SearchResults { users: Vec::new() }));
        };
        let users = queries::by_prefix(state.reads.lagging(), prefix.as_str(), limit).await?;
        Ok(Json(SearchResults { users: users.into_iter().map(UserRef::from).collect() }))
    }
}

/// The lookup behind `/users/show?username=` and `/users/username/{username}` (and the
/// token benchmark's unguarded twin of the latter). A text that cannot be a name is refused
/// as the document says (`minLength`, `maxLength`, `pattern`), before the database is asked.
pub async fn find_by_name(state: &SearchState, name: &str) -> ApiResult<UserRef> {
    let key = UsernameKey::parse(name).ok_or_else(|| {
        let (min, max) = (NameText::MIN_CHARS, UsernameKey::MAX_CHARS);
        let reason = format!("must be {min} to {max} characters long, without control characters");
        ApiError::invalid_field("username", format!("username: {reason}"))
    })?;
    let user = state.cache.find(&state.reads, Lookup::Name(key.into_string())).await?;
    user.map(UserRef::from).ok_or_else(|| ApiError::not_found("no user with this username"))
}

/// The username key a listing cursor resumes after: a stored key, so taken as it is, and
/// refused when no name could have it.
fn username_key(key: &str) -> Option<String> {
    UsernameKey::parse(key).is_some().then(|| key.to_owned())
}

#[cfg(test)]
mod tests {
    use shared::text_rule::Broken;

    use super::*;

    #[test]
    fn a_prefix_is_1_to_32_characters_of_any_kind() {
        for good in [SearchPrefix::EXAMPLE.unwrap(), "a", "\u{0}", &"é".repeat(32)] {
            assert_eq!(SearchPrefix::check(good), Ok(()), "{good:?}");
        }
        assert_eq!(SearchPrefix::check(""), Err(Broken::TooShort { chars: 0 }));
        assert_eq!(SearchPrefix::check(&"a".repeat(33)), Err(Broken::TooLong { chars: 33 }));
    }

    #[test]
    fn a_name_to_show_is_a_name() {
        for text in ["alice", "", "a\u{0}", &"a".repeat(256), &"a".repeat(257)] {
            assert_eq!(ShowName::check(text), NameText::check(text), "{text:?}");
        }
    }
}
