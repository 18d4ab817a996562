//! Group commands: making a group and changing who is in it, in what role, under what title.
//! Each is stored first, then told: to the group's room (one publish, whoever holds its
//! members' connections), and to those the room does not reach yet (members just added, whose
//! connections join the room when they hear it) or no longer reaches (a member just removed).
//! The calling connection hears the change as its reply, so it is left out of the push.

use uuid::Uuid;

use super::Caller;
use crate::{
    domain::{Role, Title},
    error::ChatError,
    node::{GroupChange, Outgoing},
    protocol::{
        AddMembers, ChatRenamed, CreateGroup, GivenRole, GroupCreated, MemberRef, MemberRemoved, MemberRoleChanged,
        MembersAdded, RenameChat, ServerEvent, SetRole,
    },
    state::ChatState,
    store::groups::{self, ChatProfile},
};

/// `create_group`: the group, told to every member's connections.
pub(crate) async fn create_group(
    state: &ChatState,
    caller: Caller<'_>,
    request: CreateGroup,
) -> Result<(ServerEvent, ChatProfile), ChatError> {
    let title = title(&request.title)?;
    let max = state.settings.group_max_members;
    let group = groups::create(&state.db, caller.user, &title, &request.user_ids, max).await?;
    let mut user_ids: Vec<Uuid> = group.members.iter().map(|m| m.user_id).collect();
    user_ids.sort_unstable();
    let event = ServerEvent::GroupCreated(GroupCreated {
        chat_id: group.chat.id,
        title: title.as_str().to_owned(),
        owner_id: caller.user,
        user_ids: user_ids.clone(),
    });
    let joined = GroupChange::Joined { users: user_ids.clone(), joined_seq: 0 };
    let told = Outgoing::group(&event, group.chat.id, group.chat.members_epoch, joined);
    // Nobody is in the room yet: each member hears it on their own channel.
    state.node.publish(&user_ids, told, caller.connection);
    Ok((event, group))
}

/// `add_members`: those who were not in yet join; everyone hears who.
pub(crate) async fn add_members(
    state: &ChatState,
    caller: Caller<'_>,
    request: AddMembers,
) -> Result<ServerEvent, ChatError> {
    let chat_id = request.chat_id;
    let max = state.settings.group_max_members;
    let (change, added) = groups::add_members(&state.db, chat_id, caller.user, &request.user_ids, max).await?;
    let event = ServerEvent::MembersAdded(MembersAdded { chat_id, user_ids: added.clone(), by: caller.user });
    if let Some(change) = change {
        let joined = GroupChange::Joined { users: added.clone(), joined_seq: change.last_seq };
        let told = Outgoing::group(&event, chat_id, change.epoch, joined);
        state.node.publish_room(chat_id, told.clone(), caller.connection);
        state.node.publish(&added, told, None);
    }
    Ok(event)
}

/// `remove_member`: the member is out, and hears it.
pub(crate) async fn remove_member(
    state: &ChatState,
    caller: Caller<'_>,
    request: MemberRef,
) -> Result<ServerEvent, ChatError> {
    let MemberRef { chat_id, user_id } = request;
    let change = groups::remove_member(&state.db, chat_id, caller.user, user_id).await?;
    let event = ServerEvent::MemberRemoved(MemberRemoved { chat_id, user_id, by: caller.user });
    tell_departure(state, caller, &event, chat_id, change.epoch, user_id);
    Ok(event)
}

/// `leave_chat`: the caller is out; an owner's group passes to its heir, who is told.
pub(crate) async fn leave_chat(state: &ChatState, caller: Caller<'_>, chat_id: Uuid) -> Result<ServerEvent, ChatError> {
    let departure = groups::leave(&state.db, chat_id, caller.user).await?;
    let event = ServerEvent::MemberRemoved(MemberRemoved { chat_id, user_id: caller.user, by: caller.user });
    tell_departure(state, caller, &event, chat_id, departure.change.epoch, caller.user);
    if let Some(heir) = departure.new_owner {
        let promoted = ServerEvent::MemberRoleChanged(MemberRoleChanged {
            chat_id,
            user_id: heir,
            role: Role::Owner.into(),
            by: caller.user,
        });
        state.node.publish_room(
            chat_id,
            Outgoing::group(&promoted, chat_id, departure.change.epoch, GroupChange::Other),
            None,
        );
    }
    Ok(event)
}

/// `set_role`: told to every member.
pub(crate) async fn set_role(
    state: &ChatState,
    caller: Caller<'_>,
    request: SetRole,
) -> Result<ServerEvent, ChatError> {
    let SetRole { chat_id, user_id, role } = request;
    let role = match role {
        GivenRole::Admin => Role::Admin,
        GivenRole::Member => Role::Member,
    };
    let change = groups::set_role(&state.db, chat_id, caller.user, user_id, role).await?;
    let event =
        ServerEvent::MemberRoleChanged(MemberRoleChanged { chat_id, user_id, role: role.into(), by: caller.user });
    state.node.publish_room(
        chat_id,
        Outgoing::group(&event, chat_id, change.epoch, GroupChange::Other),
        caller.connection,
    );
    Ok(event)
}

/// `rename_chat`: told to every member.
pub(crate) async fn rename_chat(
    state: &ChatState,
    caller: Caller<'_>,
    request: RenameChat,
) -> Result<ServerEvent, ChatError> {
    let title = title(&request.title)?;
    let chat_id = request.chat_id;
    groups::rename(&state.db, chat_id, caller.user, &title).await?;
    let event = ServerEvent::ChatRenamed(ChatRenamed { chat_id, title: title.as_str().to_owned(), by: caller.user });
    // A rename changes nobody's membership: the event goes as any other of the room.
    state.node.publish_room(chat_id, Outgoing::event(&event), caller.connection);
    Ok(event)
}

/// A member is out: the room hears it (their connections there too, which then leave it), and
/// so does the member's own channel, in case their connections had not joined the room yet.
fn tell_departure(state: &ChatState, caller: Caller<'_>, event: &ServerEvent, chat_id: Uuid, epoch: i64, user: Uuid) {
    let told = Outgoing::group(event, chat_id, epoch, GroupChange::Left { user });
    state.node.publish_room(chat_id, told.clone(), caller.connection);
    state.node.publish(&[user], told, caller.connection);
}

fn title(text: &str) -> Result<Title, ChatError> {
    Title::parse(text).map_err(|broken| ChatError::Invalid(Title::refusal(&broken)))
}
