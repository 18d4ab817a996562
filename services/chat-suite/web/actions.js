// What the user does to what was sent: reply to a message, edit or delete their own (a
// group's owner and admins delete anyone's), react; mute a chat, block a private chat's peer.
// The message list's buttons carry `data-action`; the send form writes a reply or an edit
// while one is being composed.

import { $, describe, say } from "./dom.js";
import { snippet, renderConversation, renderHeader } from "./view.js";
import { open, state } from "./state.js";

/** What the next send does: null (a new message), or {mode: "reply"|"edit", messageId}. */
let composing = null;

export function stopComposing() {
  composing = null;
  $("composing").hidden = true;
  say($("composing-text"), "");
}

function compose(mode, message) {
  composing = { mode, messageId: message.message_id, chatId: message.chat_id };
  const text = message.deleted ? "a deleted message" : snippet(message.content);
  say($("composing-text"), mode === "edit" ? `Editing: ${text}` : `Replying to: ${text}`);
  $("composing").hidden = false;
  if (mode === "edit") $("message").value = message.content;
  $("message").focus();
}

/**
 * The send form's text, as what is being composed asks: an edit (true: done here), or a
 * reply's `reply_to` for a new message (a number), or null for a plain new message.
 */
export function composed(chat, content) {
  const now = composing?.chatId === chat.id ? composing : null;
  stopComposing();
  if (now?.mode === "edit") {
    ask("edit_message", { chat_id: chat.id, message_id: now.messageId, content }, "edit the message");
    return { edited: true, replyTo: null };
  }
  return { edited: false, replyTo: now?.mode === "reply" ? now.messageId : null };
}

/** A change sent over the socket; its reply (and everyone's copy) comes as its event. */
function ask(event, data, what) {
  state.socket.request(event, data, { repeat: false }).catch((error) => say($("notice"), `Could not ${what}: ${describe(error)}`));
}

$("composing-cancel").addEventListener("click", () => {
  const wasEditing = composing?.mode === "edit";
  stopComposing();
  if (wasEditing) $("message").value = "";
  $("message").focus();
});

$("messages").addEventListener("click", (event) => {
  const button = event.target.closest("button[data-action]");
  const item = event.target.closest("li[data-message-id]");
  const chat = open();
  if (!button || !item || !chat) return;
  const message = chat.messages.get(Number(item.dataset.messageId));
  if (!message) return;
  const about = { chat_id: chat.id, message_id: message.message_id };
  switch (button.dataset.action) {
    case "reply":
      return compose("reply", message);
    case "edit":
      return compose("edit", message);
    case "delete":
      // A second press confirms: deleting cannot be undone.
      button.dataset.action = "confirm-delete";
      button.textContent = "Delete for everyone?";
      button.setAttribute("aria-label", "Press again to delete this message for everyone");
      return;
    case "confirm-delete":
      return ask("delete_message", about, "delete the message");
    case "react":
      return ask("add_reaction", { ...about, emoji: button.dataset.emoji }, "react");
    case "unreact":
      return ask("remove_reaction", { ...about, emoji: button.dataset.emoji }, "take the reaction back");
  }
});

$("mute").addEventListener("click", async () => {
  const chat = open();
  if (!chat) return;
  const path = `/chats/${encodeURIComponent(chat.id)}/mute`;
  try {
    if (chat.muted) {
      await state.session.api(path, { method: "DELETE" });
      chat.mutedUntil = null;
    } else {
      const muted = await state.session.api(path, { method: "PUT", body: {} });
      chat.mutedUntil = muted.muted_until;
    }
    renderHeader();
  } catch (error) {
    say($("notice"), `Could not change the chat's notifications: ${describe(error)}`);
  }
});

$("block").addEventListener("click", async () => {
  const chat = open();
  if (!chat || chat.isGroup) return;
  const peer = chat.peer.user_id;
  const blocked = state.blocked.has(peer);
  try {
    await state.session.api(`/me/blocks/${encodeURIComponent(peer)}`, { method: blocked ? "DELETE" : "PUT" });
    if (blocked) state.blocked.delete(peer);
    else state.blocked.add(peer);
    renderConversation();
  } catch (error) {
    say($("notice"), `Could not change the block: ${describe(error)}`);
  }
});
