// What the server says, taken into the page: the chat list, a chat's history, a group's
// members, whom the user blocked (over HTTP), and the socket's events (messages and their
// changes, receipts, typing, the groups' changes). Each handler updates what the page holds (state.js) and draws it again (view.js).

import { ApiError } from "./session.js";
import { $, describe, say } from "./dom.js";
import { Chat, nameOf } from "./chat.js";
import { open, state } from "./state.js";
import { renderChats, renderConversation, renderMessages, renderTyping } from "./view.js";
import { stopComposing } from "./actions.js";

// How long "… is typing" shows after the last `typing` heard.
const TYPING_SHOWN_MS = 5000;

// ---- the chat list, a chat's history, a group's members ---------------------------------

/** `GET /chats`; `quietly`: a failure is not said (the connection is down anyway). */
export async function loadChats({ quietly = false } = {}) {
  const { session, socket, chats } = state;
  try {
    const page = await session.api("/chats?limit=100");
    const listed = new Set();
    for (const entry of page.chats) {
      listed.add(entry.chat_id);
      const known = chats.get(entry.chat_id);
      if (known && !known.removed) {
        if (entry.chat_id !== state.current) known.unread = entry.unread_count;
        known.mutedUntil = entry.muted_until;
        if (known.isGroup) Object.assign(known, { title: entry.title, memberCount: entry.member_count });
        known.applyMarks(entry.members);
        continue;
      }
      const chat = entry.kind === "group" ? groupFrom(entry) : privateFrom(entry);
      chat.mutedUntil = entry.muted_until;
      chat.applyMarks(entry.members);
      chats.set(entry.chat_id, chat);
      // The page holds this chat's summary, not its history: live messages from here on,
      // the rest from the history when the chat is opened.
      socket.advance(entry.chat_id, entry.last_message?.message_id ?? 0);
    }
    // The whole list: a group not in it is one the user is out of (removed while away).
    if (page.next_cursor === null) {
      for (const chat of chats.values()) {
        if (chat.isGroup && !chat.removed && !listed.has(chat.id)) outOf(chat, null);
      }
    }
    renderChats();
    renderConversation();
  } catch (error) {
    if (!quietly) say($("notice"), `Could not load your chats: ${describe(error)}`);
  }
}

function privateFrom(entry) {
  const member = entry.members.find((m) => m.user_id !== state.session.userId) ?? entry.members[0];
  const peer = { user_id: member.user_id, username: member.username };
  return new Chat(entry.chat_id, { peer, lastActivity: entry.last_activity_at, unread: entry.unread_count });
}

function groupFrom(entry) {
  const { title, member_count: memberCount, last_activity_at: lastActivity, unread_count: unread } = entry;
  return new Chat(entry.chat_id, { kind: "group", title, memberCount, lastActivity, unread });
}

/** Whom the user blocked (`GET /me/blocks`). */
export async function loadBlocks() {
  try {
    const { user_ids: userIds } = await state.session.api("/me/blocks");
    state.blocked = new Set(userIds);
    renderConversation();
  } catch (error) {
    say($("notice"), `Could not load whom you blocked: ${describe(error)}`);
  }
}

/** A group's title, owner and members with their roles (`GET /chats/{chat_id}`). */
export async function loadProfile(chatId) {
  try {
    const description = await state.session.api(`/chats/${encodeURIComponent(chatId)}`);
    const chat = state.chats.get(chatId);
    if (!chat || chat.removed) return;
    chat.describe(description);
    renderChats();
    if (chatId === state.current) renderConversation();
  } catch (error) {
    // A 403: the user is out of the group, and its event is on its way.
    if (!(error instanceof ApiError && error.status === 403)) {
      say($("notice"), `Could not load the group's members: ${describe(error)}`);
    }
  }
}

export async function openChat(chatId) {
  const chat = state.chats.get(chatId);
  if (state.current !== chatId) stopComposing();
  state.current = chatId;
  chat.unread = 0;
  $("conversation").hidden = false;
  renderChats();
  renderConversation();
  if (chat.removed) return;
  await Promise.all([chat.isGroup ? loadProfile(chatId) : null, loadHistory(chatId, "")]);
  $("message").focus();
}

function closeChat() {
  state.current = null;
  $("conversation").hidden = true;
  $("messages").replaceChildren();
}

/** A page of history: the newest, or the one before `before` ("Earlier messages"). */
export async function loadHistory(chatId, before) {
  const chat = state.chats.get(chatId);
  const query = new URLSearchParams({ limit: 50 });
  if (before) query.set("before", before);
  try {
    const page = await state.session.api(`/chats/${encodeURIComponent(chatId)}/messages?${query}`);
    for (const message of page.messages) chat.store(message);
    chat.applyMarks(page.members);
    // Older messages than these exist (the newest page's or an earlier one's `has_more`).
    chat.hasMore = page.has_more;
    const newest = page.messages.at(-1);
    if (newest) state.socket.advance(chatId, newest.message_id);
    if (chatId === state.current) {
      renderMessages();
      markSeen();
    }
  } catch (error) {
    // Out of the group: its event says so.
    if (!(error instanceof ApiError && error.status === 403 && chat.isGroup)) {
      say($("notice"), `Could not load the messages: ${describe(error)}`);
    }
  }
}

// ---- messages and receipts ----------------------------------------------------------------

export function onMessage(message) {
  const chat = state.chats.get(message.chat_id);
  if (!chat) {
    // A chat this page has not heard of (made while the page was away): the list has its
    // peer's name, or its title.
    loadChats().then(() => state.chats.has(message.chat_id) && onMessage(message));
    return;
  }
  const isNew = !chat.messages.has(message.message_id);
  chat.store(message);
  chat.lastActivity = message.sent_at;
  stopTyping(message.chat_id, message.sender_id);
  if (message.sender_id !== state.session.userId) {
    // Delivery receipt: the sender's pages show the message as delivered.
    state.socket.notify("receive_message", { chat_id: message.chat_id, message_id: message.message_id });
    if (message.chat_id !== state.current && isNew) chat.unread += 1;
    // A member the page has not heard of yet (the news of their joining still on its way).
    if (chat.isGroup && chat.members && !chat.members.has(message.sender_id)) loadProfile(chat.id);
  }
  renderChats();
  if (message.chat_id === state.current) {
    renderMessages();
    markSeen();
  }
}

/** A sent message changed: `message_edited`, `message_deleted`, `reaction_added` or `reaction_removed`. */
export function onChanged(event, change) {
  const chat = state.chats.get(change.chat_id);
  if (!chat) return;
  const me = state.session.userId;
  const known = {
    message_edited: () => chat.edited(change),
    message_deleted: () => chat.deleted(change),
    reaction_added: () => chat.reacted(change, true, me),
    reaction_removed: () => chat.reacted(change, false, me),
  }[event]();
  // A change of a message the page does not hold (an older page of history) waits for it.
  if (known && change.chat_id === state.current) renderMessages();
}

export function onReceipt({ chat_id: chatId, message_id: messageId, user_id: userId }, kind) {
  const chat = state.chats.get(chatId);
  if (!chat) return;
  if (userId === state.session.userId) {
    // This user read the chat on another device.
    if (kind === "seen" && chatId !== state.current) chat.unread = 0;
    renderChats();
    return;
  }
  // Receipts count up to a message: everything before it is delivered (or seen) too.
  chat.mark(userId, kind, messageId);
  if (chatId === state.current) renderMessages();
}

/** Tells the others that the open chat was read up to its newest message, once per message. */
export function markSeen() {
  const chat = open();
  if (!chat || chat.removed || document.visibilityState !== "visible") return;
  const newest = chat.stored().filter((m) => m.sender_id !== state.session.userId).at(-1);
  if (!newest || (state.seenSent.get(chat.id) ?? 0) >= newest.message_id) return;
  state.seenSent.set(chat.id, newest.message_id);
  state.socket.notify("seen", { chat_id: chat.id, message_id: newest.message_id });
}

// ---- typing ------------------------------------------------------------------------------

export function onTyping({ chat_id: chatId, user_id: userId }) {
  if (userId === state.session.userId || !state.chats.has(chatId)) return;
  const who = state.typing.get(chatId) ?? new Map();
  clearTimeout(who.get(userId));
  who.set(userId, setTimeout(() => stopTyping(chatId, userId), TYPING_SHOWN_MS));
  state.typing.set(chatId, who);
  if (chatId === state.current) renderTyping();
}

function stopTyping(chatId, userId) {
  const who = state.typing.get(chatId);
  if (!who?.has(userId)) return;
  clearTimeout(who.get(userId));
  who.delete(userId);
  if (chatId === state.current) renderTyping();
}

// ---- groups ------------------------------------------------------------------------------

/** A group the user is in, new to the page. */
export function addGroup(chatId, title, memberCount) {
  const chat = new Chat(chatId, { kind: "group", title, memberCount, lastActivity: new Date().toISOString() });
  state.chats.set(chatId, chat);
  state.socket.advance(chatId, 0);
  renderChats();
  return chat;
}

/** A group was made with the user in it: by them (on this page or another) or by someone else. */
export function onGroupCreated({ chat_id: chatId, title, owner_id: ownerId, user_ids: userIds }) {
  if (state.chats.has(chatId)) return;
  addGroup(chatId, title, userIds.length).ownerId = ownerId;
}

export function onMembersAdded({ chat_id: chatId, user_ids: userIds, by }) {
  const chat = state.chats.get(chatId);
  if (!chat || chat.removed) {
    // The user is one of them (again): the list has the group's title and size.
    if (chat) state.chats.delete(chatId);
    if (userIds.includes(state.session.userId)) loadChats();
    return;
  }
  chat.memberCount += userIds.filter((id) => !chat.members?.has(id)).length;
  // Their names and roles come with the group's description.
  const said = () => tell(chat, `${nameOf(by)} added ${userIds.map(nameOf).join(", ")}.`);
  if (chat.members) loadProfile(chatId).then(said);
  else said();
}

export function onMemberRemoved({ chat_id: chatId, user_id: userId, by }) {
  const chat = state.chats.get(chatId);
  if (!chat || chat.removed) return;
  if (userId === state.session.userId) return outOf(chat, by);
  const known = chat.members?.has(userId);
  chat.members?.delete(userId);
  chat.receipts.delete(userId);
  if (known || !chat.members) chat.memberCount -= 1;
  tell(chat, by === userId ? `${nameOf(userId)} left.` : `${nameOf(by)} removed ${nameOf(userId)}.`);
}

/**
 * The user is out of `chat`: they left (`by` themselves: the group goes from the list), or
 * were removed (`by` who, null if unknown: it stays, marked, to be read but not written to).
 * Either way the socket no longer names it when resuming, which the server would refuse.
 */
function outOf(chat, by) {
  state.socket.forget(chat.id);
  for (const userId of [...(state.typing.get(chat.id)?.keys() ?? [])]) stopTyping(chat.id, userId);
  if (by === state.session.userId) {
    state.chats.delete(chat.id);
    if (chat.id === state.current) closeChat();
    renderChats();
    return;
  }
  chat.removed = { by };
  renderChats();
  if (chat.id === state.current) renderConversation();
}

export function onRoleChanged({ chat_id: chatId, user_id: userId, role, by }) {
  const chat = state.chats.get(chatId);
  if (!chat || chat.removed) return;
  const member = chat.members?.get(userId);
  if (member) member.role = role;
  if (role === "owner") chat.ownerId = userId;
  const said = {
    owner: `${nameOf(userId)} owns the group now.`,
    admin: `${nameOf(by)} made ${nameOf(userId)} an admin.`,
    member: `${nameOf(by)} made ${nameOf(userId)} a member.`,
  }[role];
  tell(chat, said);
}

export function onRenamed({ chat_id: chatId, title, by }) {
  const chat = state.chats.get(chatId);
  if (!chat || chat.removed) return;
  chat.title = title;
  tell(chat, `${nameOf(by)} renamed the group.`);
}

/** A change to `chat`: said under its title while it is open, and drawn. */
function tell(chat, text) {
  chat.activity = text;
  renderChats();
  if (chat.id === state.current) renderConversation();
}
