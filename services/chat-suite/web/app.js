// The page: sign in, find someone or make a group, chat. HTTP for what is stored (chats,
// history, users, a group's members), the /chat WebSocket for what happens now. session.js
// holds the tokens, socket.js the connection; state.js what the page holds, chat.js one chat
// of it, sync.js what the server says of them, view.js their drawing, groups.js the group
// views, people.js the searches by name, push.js the notifications while the page is closed
// (with sw.js, the service worker), actions.js what the user does to what was sent (reply,
// edit, delete, react) and to a chat (mute, block). This file takes the user's input and wires
// the rest.
//
// Everything a user wrote (names, titles, messages) reaches the page as text nodes, through
// `el` (dom.js); nothing is ever parsed as HTML.

import { ApiError, Session } from "./session.js";
import { ChatSocket } from "./socket.js";
import { $, Refusal, describe, say } from "./dom.js";
import { Chat, names } from "./chat.js";
import { suggest, userNamed } from "./people.js";
import { setUpGroupPanel, setUpNewGroup } from "./groups.js";
import { forgetDevice, setUpNotifications } from "./push.js";
import { clear, open, state } from "./state.js";
import * as sync from "./sync.js";
import { presenceKnownFrom, renderMessages, setOnline } from "./view.js";
import { composed, stopComposing } from "./actions.js";

// How often this page says the user is typing, while they type.
const TYPING_EVERY_MS = 3000;
let typingSentAt = 0;

// ---- signing in and out ------------------------------------------------------------------

// Two forms, one per action: Enter submits the form it was pressed in.
$("login-form").addEventListener("submit", (event) => {
  event.preventDefault();
  signIn($("login-form"), () => Session.login($("login-username").value.trim(), $("login-password").value));
});

$("register-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const [username, email, password] = ["username", "email", "password"].map((f) => $(`register-${f}`).value);
  signIn($("register-form"), () => Session.register(username.trim(), email.trim(), password));
});

async function signIn(form, attempt) {
  busy(form, true);
  try {
    const newSession = await attempt();
    busy(form, false);
    start(newSession);
    for (const each of document.querySelectorAll("#sign-in form")) each.reset();
    say($("auth-error"), "");
  } catch (error) {
    busy(form, false);
    say($("auth-error"), describe(error));
    // Too many attempts (429), or the server too busy (503): it says how long to wait.
    if (error instanceof ApiError && error.retryAfter) holdOff(form, error.retryAfter);
  }
}

/** The form's button stays disabled for `seconds`, its label counting them down. */
function holdOff(form, seconds) {
  const button = form.querySelector("button[type=submit]");
  button.dataset.label ??= button.textContent;
  clearInterval(Number(button.dataset.timer));
  const until = Date.now() + seconds * 1000;
  const tick = () => {
    const left = Math.ceil((until - Date.now()) / 1000);
    button.disabled = left > 0;
    button.textContent = left > 0 ? `${button.dataset.label} (in ${left} s)` : button.dataset.label;
    if (left <= 0) clearInterval(Number(button.dataset.timer));
  };
  button.dataset.timer = String(setInterval(tick, 1000));
  tick();
}

// This browser's pushes end with the session: the next person here must not get them.
$("sign-out").addEventListener("click", async () => {
  await forgetDevice().catch(() => {});
  state.session?.logout();
});

// Deleting the account: the password again, then the account is gone and the page signed out.
$("delete-account").addEventListener("click", () => {
  const form = $("delete-account-form");
  form.hidden = !form.hidden;
  $("delete-account").setAttribute("aria-expanded", String(!form.hidden));
  if (!form.hidden) $("delete-password").focus();
});

$("delete-cancel").addEventListener("click", () => {
  $("delete-account-form").reset();
  $("delete-account-form").hidden = true;
  $("delete-account").setAttribute("aria-expanded", "false");
});

$("delete-account-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = $("delete-account-form");
  busy(form, true);
  try {
    await state.session.api("/me", { method: "DELETE", body: { password: $("delete-password").value } });
    form.reset();
    form.hidden = true;
    say($("delete-error"), "");
    state.session.logout();
    say($("auth-error"), "Your account was deleted.");
  } catch (error) {
    say($("delete-error"), describe(error));
  } finally {
    busy(form, false);
  }
});

function start(session) {
  state.session = session;
  session.addEventListener("ended", signedOut);
  names.set(session.userId, session.username);
  $("me-name").textContent = session.username;
  $("sign-in").hidden = true;
  $("whoami").hidden = false;
  $("chat-app").hidden = false;
  setUpNotifications(session);
  const socket = new ChatSocket(session);
  state.socket = socket;
  const on = (name, handle) => socket.addEventListener(name, (e) => handle(e.detail));
  on("message", sync.onMessage);
  on("chat", (chat) => state.chats.has(chat.chat_id) || sync.loadChats());
  on("delivered", (receipt) => sync.onReceipt(receipt, "delivered"));
  on("seen", (receipt) => sync.onReceipt(receipt, "seen"));
  on("online", (user) => setOnline(user.user_id, true));
  on("offline", (user) => setOnline(user.user_id, false));
  on("typing", sync.onTyping);
  on("group_created", sync.onGroupCreated);
  on("members_added", sync.onMembersAdded);
  on("member_removed", sync.onMemberRemoved);
  on("member_role_changed", sync.onRoleChanged);
  on("chat_renamed", sync.onRenamed);
  for (const change of ["message_edited", "message_deleted", "reaction_added", "reaction_removed"]) {
    on(change, (data) => sync.onChanged(change, data));
  }
  on("problem", (error) => say($("notice"), error.message));
  on("status", (status) => {
    showStatus(status);
    // Chats made while the page was away are in the list, not in the replay. Presence is
    // announced afresh after every `connected`. Groups' changes are not replayed: the list,
    // and the open group's description, are read again.
    presenceKnownFrom(status.state);
    if (status.state === "connected") {
      sync.loadChats();
      if (open()?.isGroup) sync.loadProfile(state.current);
    }
    // A group the user was removed from while away would have the resume refused (403) for
    // good: the list no longer has it, and the socket forgets it.
    if (status.state === "waiting") sync.loadChats({ quietly: true });
    // Deleted on another device: this page signs out too.
    if (status.state === "deleted") {
      state.session.logout();
      say($("auth-error"), "Your account was deleted.");
    }
  });
  // The list first: its newest message per chat is where the socket's replay starts, so
  // nothing that arrives between the two is missed.
  sync.loadChats().finally(() => socket.connect());
  sync.loadBlocks();
}

function signedOut() {
  state.socket?.close();
  stopComposing();
  $("delete-account-form").hidden = true;
  $("delete-account").setAttribute("aria-expanded", "false");
  clear();
  newGroup.reset();
  for (const list of ["chats", "found", "messages", "group-found", "members", "add-found"]) $(list).replaceChildren();
  $("conversation").hidden = true;
  $("chat-app").hidden = true;
  $("whoami").hidden = true;
  $("notifications").hidden = true;
  say($("notifications-status"), "");
  $("sign-in").hidden = false;
  say($("connection"), "");
  $("login-username").focus();
}

// ---- chats -------------------------------------------------------------------------------

$("chats").addEventListener("click", (event) => {
  const button = event.target.closest("button[data-chat-id]");
  if (button) sync.openChat(button.dataset.chatId);
});

async function openChatWith(user) {
  if (user.user_id === state.session.userId) return say($("notice"), "That is you: pick someone else.");
  say($("notice"), "");
  try {
    // Finds the one chat of the pair, or makes it; the peer's pages hear of it too.
    const { chat_id: chatId } = await state.socket.request("start_private_chat", { user_id: user.user_id });
    if (!state.chats.has(chatId)) {
      state.chats.set(chatId, new Chat(chatId, { peer: user, lastActivity: new Date().toISOString() }));
      state.socket.advance(chatId, 0);
    }
    await sync.openChat(chatId);
  } catch (error) {
    say($("notice"), `Could not open the chat: ${describe(error)}`);
  }
}

$("earlier").addEventListener("click", () => {
  const oldest = Math.min(...open().stored().map((m) => m.message_id));
  if (Number.isFinite(oldest)) sync.loadHistory(state.current, String(oldest));
});

// ---- groups ------------------------------------------------------------------------------

const newGroup = setUpNewGroup({
  session: () => state.session,
  created: (group) => {
    const chat = state.chats.get(group.chat_id) ?? sync.addGroup(group.chat_id, group.title, group.members.length);
    chat.describe(group);
    sync.openChat(group.chat_id);
  },
  fail: (error) => say($("notice"), `Could not make the group: ${describe(error)}`),
});

setUpGroupPanel({
  session: () => state.session,
  current: open,
  // Not written again after a reconnect: a member removed, or a group left, twice is refused.
  ask: (event, data, what) =>
    state.socket
      .request(event, data, { repeat: false })
      .catch((error) => say($("notice"), `Could not ${what}: ${describe(error)}`)),
  fail: (error) => say($("notice"), describe(error)),
});

// ---- writing -----------------------------------------------------------------------------

$("send-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const content = $("message").value;
  const chat = open();
  if (!content.trim() || !chat || chat.removed) return;
  const { edited, replyTo } = composed(chat, content);
  $("message").value = "";
  if (edited) return;
  const { clientMsgId, stored } = state.socket.sendMessage(chat.id, content, replyTo);
  const me = state.session.userId;
  const pending = { chat_id: chat.id, content, client_msg_id: clientMsgId, sender_id: me, reply_to: replyTo };
  chat.messages.set(clientMsgId, pending);
  typingSentAt = 0;
  renderMessages();
  stored.catch((error) => {
    const pending = chat.messages.get(clientMsgId);
    if (pending) pending.failed = describe(error);
    if (chat.id === state.current) renderMessages();
  });
});

// Enter sends, Shift+Enter starts a new line.
$("message").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    $("send-form").requestSubmit();
  }
});

// The others see "… is typing" while the user types: one `typing` every few seconds.
$("message").addEventListener("input", () => {
  const chat = open();
  if (!chat || chat.removed || !$("message").value || Date.now() - typingSentAt < TYPING_EVERY_MS) return;
  typingSentAt = Date.now();
  state.socket.notify("typing", { chat_id: chat.id });
});

document.addEventListener("visibilitychange", sync.markSeen);

// ---- finding people ----------------------------------------------------------------------

suggest({
  session: () => state.session,
  input: $("find"),
  list: $("found"),
  label: (user) => `Chat with ${user.username}`,
  pick: openChatWith,
  fail: (error) => say($("notice"), `Search failed: ${describe(error)}`),
});

// Enter: the user with exactly this name (without regard to case).
$("find-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const username = $("find").value.trim();
  if (!username) return;
  try {
    const user = await userNamed(state.session, username);
    if (!user) throw new Refusal(`Nobody is called ${username}.`);
    await openChatWith(user);
  } catch (error) {
    say($("notice"), describe(error));
  }
});

// ---- status lines ------------------------------------------------------------------------

function showStatus({ state: connection, code, delay }) {
  const text = {
    connecting: "Connecting…",
    connected: "Connected.",
    waiting: `Connection lost (code ${code}); trying again in ${Math.ceil(delay / 1000)} s.`,
    deleted: "",
  }[connection];
  say($("connection"), text);
  document.body.dataset.connection = connection;
}

function busy(form, isBusy) {
  for (const button of form.querySelectorAll("button")) button.disabled = isBusy;
}

// ---- start -------------------------------------------------------------------------------

const restored = Session.restore();
if (restored) start(restored);
else $("login-username").focus();
