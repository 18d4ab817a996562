// Drawing what the page holds: the chat list, and the open chat (its header with mute and
// block, a group's panel, its messages with their replies, edits, reactions, receipts and
// what the user may do to each, who is typing). Nothing here asks the server.

import { $, el, say } from "./dom.js";
import { nameOf } from "./chat.js";
import { renderGroupPanel } from "./groups.js";
import { open, state } from "./state.js";

export function renderChats() {
  const entries = [...state.chats].sort(([, a], [, b]) => (b.lastActivity ?? "").localeCompare(a.lastActivity ?? ""));
  // Clicks are app.js's, by `data-chat-id`: the list is drawn again at every change.
  $("chats").replaceChildren(
    ...entries.map(([chatId, chat]) =>
      el(
        "li",
        {},
        el(
          "button",
          {
            type: "button",
            "data-chat-id": chatId,
            "data-kind": chat.kind,
            "aria-current": chatId === state.current ? "true" : false,
          },
          el("span", { class: "name" }, chat.name),
          stateBadge(chat),
          chat.unread > 0 ? el("span", { class: "unread" }, `${chat.unread} new`) : "",
        ),
      ),
    ),
  );
}

/** A private chat's peer's presence; a group's size, or that the user is out of it. */
function stateBadge(chat) {
  if (!chat.isGroup) return presenceBadge(chat.peer.user_id);
  if (chat.removed) return el("span", { class: "gone" }, "you were removed");
  return el("span", { class: "members" }, membersText(chat));
}

const membersText = (chat) => `${chat.memberCount} ${chat.memberCount === 1 ? "member" : "members"}`;

function presenceBadge(userId) {
  if (!state.presenceKnown) return "";
  const isOnline = state.online.has(userId);
  return el("span", { class: isOnline ? "presence online" : "presence" }, isOnline ? "online" : "offline");
}

/** The open chat, all of it. */
export function renderConversation() {
  const chat = open();
  if (!chat) return;
  renderHeader();
  renderGroupPanel(chat, state.session.userId);
  say($("chat-closed"), chat.removed ? removedText(chat.removed) : "");
  $("send-form").hidden = Boolean(chat.removed);
  renderTyping();
  renderMessages();
}

function removedText({ by }) {
  return by ? `You were removed from this group by ${nameOf(by)}.` : "You are no longer in this group.";
}

export function renderHeader() {
  const chat = open();
  if (!chat) return;
  $("peer-name").textContent = chat.name;
  $("peer-presence").replaceChildren(chat.removed ? "" : stateBadge(chat));
  say($("group-activity"), chat.isGroup && !chat.removed ? chat.activity : "");
  const mute = $("mute");
  mute.hidden = Boolean(chat.removed);
  mute.setAttribute("aria-pressed", String(chat.muted));
  mute.textContent = chat.muted ? "Unmute" : "Mute";
  const block = $("block");
  block.hidden = chat.isGroup;
  const blocked = !chat.isGroup && state.blocked.has(chat.peer.user_id);
  block.setAttribute("aria-pressed", String(blocked));
  block.textContent = blocked ? `Unblock ${chat.name}` : `Block ${chat.name}`;
}

export function renderTyping() {
  const who = [...(state.typing.get(state.current)?.keys() ?? [])].map(nameOf);
  const text = who.length === 0 ? "" : who.length === 1 ? `${who[0]} is typing…` : `${who.join(", ")} are typing…`;
  say($("typing"), text);
}

export function renderMessages() {
  const chat = open();
  if (!chat) return;
  const list = $("messages");
  const log = $("message-log");
  const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  // Stored messages in the chat's order, then those still on their way.
  const pending = [...chat.messages.values()].filter((m) => m.message_id === undefined);
  list.replaceChildren(...[...chat.stored(), ...pending].map((m) => messageItem(m, chat)));
  $("earlier").hidden = !chat.hasMore;
  if (atBottom) log.scrollTop = log.scrollHeight;
}

// The reactions a message offers in one click.
export const QUICK_REACTIONS = ["👍", "❤️", "😂"];

function messageItem(message, chat) {
  const me = state.session.userId;
  const mine = message.sender_id === me;
  const status = mine ? chat.statusOf(message, me) : null;
  return el(
    "li",
    {
      class: mine ? "mine" : "theirs",
      "data-message-id": message.message_id,
      "data-status": status?.status,
      "data-deleted": message.deleted ? "true" : false,
    },
    el("span", { class: "sender" }, senderName(message, chat)),
    message.sent_at ? el("time", { datetime: message.sent_at }, new Date(message.sent_at).toLocaleTimeString()) : "",
    message.reply_to ? quoted(chat.messages.get(message.reply_to), chat) : "",
    message.deleted
      ? el("p", { class: "content deleted" }, "This message was deleted.")
      : el("p", { class: "content" }, message.content),
    message.edited_at && !message.deleted ? el("span", { class: "edited" }, "edited") : "",
    reactionList(message),
    status ? el("span", { class: "status" }, status.text) : "",
    actionsOf(message, chat, mine),
  );
}

/** In a group each message says who sent it; in a private chat, it is the peer. */
function senderName(message, chat) {
  if (message.sender_id === state.session.userId) return "You";
  return chat.isGroup ? nameOf(message.sender_id) : chat.peer.username;
}

/** The message a reply answers, in a line: who wrote it and how it begins. */
function quoted(original, chat) {
  if (!original) return el("p", { class: "reply-to" }, "Replying to an earlier message");
  const text = original.deleted ? "a deleted message" : snippet(original.content);
  const who = original.sender_id === state.session.userId ? "you" : senderName(original, chat);
  return el("p", { class: "reply-to" }, `Replying to ${who}: ${text}`);
}

export const snippet = (text) => (text.length > 80 ? `${text.slice(0, 80)}…` : text);

/** Each emoji's count; pressing one adds (or takes back) the user's own. */
function reactionList(message) {
  const reactions = message.reactions?.list() ?? [];
  if (reactions.length === 0) return "";
  return el(
    "ul",
    { class: "reactions", "aria-label": "Reactions" },
    ...reactions.map(({ emoji, count, me }) =>
      el(
        "li",
        {},
        el(
          "button",
          {
            type: "button",
            "data-action": me ? "unreact" : "react",
            "data-emoji": emoji,
            "aria-pressed": String(me),
            "aria-label": `${emoji} ${count}${me ? ", yours: take it back" : ": react so too"}`,
          },
          `${emoji} ${count}`,
        ),
      ),
    ),
  );
}

/** What the user may do to a stored message: reply, react, and edit or delete what is theirs. */
function actionsOf(message, chat, mine) {
  if (message.message_id === undefined || message.deleted || chat.removed) return "";
  const button = (action, label, text = label, extra = {}) =>
    el("button", { type: "button", "data-action": action, "aria-label": label, ...extra }, text);
  const role = chat.roleOf(state.session.userId);
  const mayDelete = mine || (chat.isGroup && (role === "owner" || role === "admin"));
  return el(
    "span",
    { class: "actions" },
    button("reply", "Reply"),
    ...QUICK_REACTIONS.map((emoji) => button("react", `React with ${emoji}`, emoji, { "data-emoji": emoji })),
    mine && message.type === "text" ? button("edit", "Edit") : "",
    mayDelete ? button("delete", "Delete") : "",
  );
}

/** Connected, presence is known (everyone not named online is offline); else it is not. */
export function presenceKnownFrom(connectionState) {
  state.presenceKnown = connectionState === "connected";
  if (!state.presenceKnown) state.online.clear();
  renderChats();
  renderHeader();
}

/** `userId` is (or is no longer) online. The server may say so twice: a set keeps it once. */
export function setOnline(userId, isOnline) {
  if (isOnline) state.online.add(userId);
  else state.online.delete(userId);
  renderChats();
  renderHeader();
}
