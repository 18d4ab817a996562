// Drawing what the page holds: the chat list, and the open chat (its header, a group's panel,
// its messages with their receipts, who is typing). Nothing here asks the server.

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

function messageItem(message, chat) {
  const me = state.session.userId;
  const mine = message.sender_id === me;
  const status = mine ? chat.statusOf(message, me) : null;
  // In a group each message says who sent it; in a private chat, it is the peer.
  const sender = mine ? "You" : chat.isGroup ? nameOf(message.sender_id) : chat.peer.username;
  return el(
    "li",
    { class: mine ? "mine" : "theirs", "data-message-id": message.message_id, "data-status": status?.status },
    el("span", { class: "sender" }, sender),
    message.sent_at ? el("time", { datetime: message.sent_at }, new Date(message.sent_at).toLocaleTimeString()) : "",
    el("p", { class: "content" }, message.content),
    status ? el("span", { class: "status" }, status.text) : "",
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
