// The page: sign in, find someone, chat. HTTP for what is stored (chats, history, users), the
// /chat WebSocket for what happens now. session.js holds the tokens, socket.js the connection.
//
// Everything a user wrote (names, messages) reaches the page as text nodes, through `el`
// below; nothing is ever parsed as HTML.

import { ApiError, Session } from "./session.js";
import { ChatSocket, SocketError } from "./socket.js";

const $ = (id) => document.getElementById(id);

/** An element with attributes and children. Strings become text nodes, never markup. */
function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value !== false && value !== null && value !== undefined) node.setAttribute(name, String(value));
  }
  node.append(...children);
  return node;
}

let session = null;
let socket = null;
// chat_id -> { peer: {user_id, username}, unread, lastActivity, hasMore, delivered, seen,
//              messages: Map(key -> message) }. A stored message's key is its id; one still
//              on its way is keyed by its client_msg_id until it comes back stored.
const chats = new Map();
const online = new Set();
// Whether the page knows who is online: from `connected` until the connection is lost. The
// server says which chat peers are online after `connected`, then who comes and goes, and
// when a chat is made or joined, whether its peer is online; a peer it has not named is not.
let presenceKnown = false;
let current = null;
// Per chat, the newest message this page said it saw, so `seen` is sent once per message.
const seenSent = new Map();

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

$("sign-out").addEventListener("click", () => session?.logout());

function start(newSession) {
  session = newSession;
  session.addEventListener("ended", signedOut);
  $("me-name").textContent = session.username;
  $("sign-in").hidden = true;
  $("whoami").hidden = false;
  $("chat-app").hidden = false;
  socket = new ChatSocket(session);
  socket.addEventListener("message", (e) => onMessage(e.detail));
  socket.addEventListener("chat", (e) => {
    if (!chats.has(e.detail.chat_id)) loadChats();
  });
  socket.addEventListener("delivered", (e) => onReceipt(e.detail, "delivered"));
  socket.addEventListener("seen", (e) => onReceipt(e.detail, "seen"));
  socket.addEventListener("online", (e) => setOnline(e.detail.user_id, true));
  socket.addEventListener("offline", (e) => setOnline(e.detail.user_id, false));
  socket.addEventListener("problem", (e) => say($("notice"), e.detail.message));
  socket.addEventListener("status", (e) => {
    showStatus(e.detail);
    // Chats made while the page was away are in the list, not in the replay. Presence is
    // announced afresh after every `connected`.
    presenceKnownFrom(e.detail.state);
    if (e.detail.state === "connected") loadChats();
  });
  // The list first: its newest message per chat is where the socket's replay starts, so
  // nothing that arrives between the two is missed.
  loadChats().finally(() => socket.connect());
}

function signedOut() {
  socket?.close();
  socket = session = current = null;
  chats.clear();
  online.clear();
  presenceKnown = false;
  seenSent.clear();
  $("chats").replaceChildren();
  $("found").replaceChildren();
  $("messages").replaceChildren();
  $("conversation").hidden = true;
  $("chat-app").hidden = true;
  $("whoami").hidden = true;
  $("sign-in").hidden = false;
  say($("connection"), "");
  $("login-username").focus();
}

// ---- chats -------------------------------------------------------------------------------

async function loadChats() {
  try {
    const page = await session.api("/chats?limit=100");
    for (const entry of page.chats) {
      const known = chats.get(entry.chat_id);
      if (known) {
        if (entry.chat_id !== current) known.unread = entry.unread_count;
        applyMarks(known, entry.members);
        continue;
      }
      const member = entry.members.find((m) => m.user_id !== session.userId) ?? entry.members[0];
      const peer = { user_id: member.user_id, username: member.username };
      const chat = remember(entry.chat_id, peer, entry.last_activity_at, entry.unread_count);
      applyMarks(chat, entry.members);
      // The page holds this chat's summary, not its history: live messages from here on,
      // the rest from the history when the chat is opened.
      socket.advance(entry.chat_id, entry.last_message?.message_id ?? 0);
    }
    renderChats();
    if (current) renderMessages();
  } catch (error) {
    say($("notice"), `Could not load your chats: ${describe(error)}`);
  }
}

function remember(chatId, peer, lastActivity, unread = 0) {
  const chat = { peer, lastActivity, unread, hasMore: false, delivered: 0, seen: 0, messages: new Map() };
  chats.set(chatId, chat);
  return chat;
}

/**
 * The peer's receipts as the server keeps them (`delivered_up_to`, `seen_up_to`: every message
 * up to that id), so that a reload shows what the live `message_received` and `message_seen`
 * showed. Either source only moves the marks forward.
 */
function applyMarks(chat, members = []) {
  const peer = members.find((m) => m.user_id === chat.peer.user_id);
  if (!peer) return;
  chat.delivered = Math.max(chat.delivered, peer.delivered_up_to ?? 0);
  chat.seen = Math.max(chat.seen, peer.seen_up_to ?? 0);
}

function renderChats() {
  const entries = [...chats].sort(([, a], [, b]) => (b.lastActivity ?? "").localeCompare(a.lastActivity ?? ""));
  $("chats").replaceChildren(
    ...entries.map(([chatId, chat]) => {
      const button = el(
        "button",
        { type: "button", "data-chat-id": chatId, "aria-current": chatId === current ? "true" : false },
        el("span", { class: "name" }, chat.peer.username),
        presenceBadge(chat.peer.user_id),
        chat.unread > 0 ? el("span", { class: "unread" }, `${chat.unread} new`) : "",
      );
      button.addEventListener("click", () => openChat(chatId));
      return el("li", {}, button);
    }),
  );
}

function presenceBadge(userId) {
  if (!presenceKnown) return "";
  const isOnline = online.has(userId);
  return el("span", { class: isOnline ? "presence online" : "presence" }, isOnline ? "online" : "offline");
}

async function openChatWith(user) {
  if (user.user_id === session.userId) return say($("notice"), "That is you: pick someone else.");
  say($("notice"), "");
  try {
    // Finds the one chat of the pair, or makes it; the peer's pages hear of it too.
    const { chat_id: chatId } = await socket.request("start_private_chat", { user_id: user.user_id });
    if (!chats.has(chatId)) {
      remember(chatId, user, new Date().toISOString());
      socket.advance(chatId, 0);
    }
    await openChat(chatId);
  } catch (error) {
    say($("notice"), `Could not open the chat: ${describe(error)}`);
  }
}

async function openChat(chatId) {
  const chat = chats.get(chatId);
  current = chatId;
  chat.unread = 0;
  $("conversation").hidden = false;
  renderChats();
  renderHeader();
  renderMessages();
  await loadHistory(chatId, "");
  $("message").focus();
}

/** A page of history: the newest, or the one before `before` ("Earlier messages"). */
async function loadHistory(chatId, before) {
  const chat = chats.get(chatId);
  const query = new URLSearchParams({ limit: 50 });
  if (before) query.set("before", before);
  try {
    const page = await session.api(`/chats/${encodeURIComponent(chatId)}/messages?${query}`);
    for (const message of page.messages) store(message);
    applyMarks(chat, page.members);
    // Older messages than these exist (the newest page's or an earlier one's `has_more`).
    chat.hasMore = page.has_more;
    const newest = page.messages.at(-1);
    if (newest) socket.advance(chatId, newest.message_id);
    if (chatId === current) {
      renderMessages();
      markSeen();
    }
  } catch (error) {
    say($("notice"), `Could not load the messages: ${describe(error)}`);
  }
}

$("earlier").addEventListener("click", () => {
  const oldest = Math.min(...storedMessages(chats.get(current)).map((m) => m.message_id));
  if (Number.isFinite(oldest)) loadHistory(current, String(oldest));
});

// ---- messages ----------------------------------------------------------------------------

function onMessage(message) {
  if (!chats.has(message.chat_id)) {
    // A chat this page has not heard of (the peer made it while the page was away): the
    // list has its peer's name.
    loadChats().then(() => chats.has(message.chat_id) && onMessage(message));
    return;
  }
  const chat = chats.get(message.chat_id);
  const isNew = !chat.messages.has(message.message_id);
  store(message);
  chat.lastActivity = message.sent_at;
  if (message.sender_id !== session.userId) {
    // Delivery receipt: the sender's pages show the message as delivered.
    socket.notify("receive_message", { chat_id: message.chat_id, message_id: message.message_id });
    if (message.chat_id !== current && isNew) chat.unread += 1;
  }
  renderChats();
  if (message.chat_id === current) {
    renderMessages();
    markSeen();
  }
}

/** Keeps a stored message, replacing its own pending copy. */
function store(message) {
  const chat = chats.get(message.chat_id);
  if (message.client_msg_id) chat.messages.delete(message.client_msg_id);
  chat.messages.set(message.message_id, message);
}

$("send-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const content = $("message").value;
  if (!content.trim() || !current) return;
  const chatId = current;
  const chat = chats.get(chatId);
  const { clientMsgId, stored } = socket.sendMessage(chatId, content);
  chat.messages.set(clientMsgId, { chat_id: chatId, content, client_msg_id: clientMsgId, sender_id: session.userId });
  $("message").value = "";
  renderMessages();
  stored.catch((error) => {
    const pending = chat.messages.get(clientMsgId);
    if (pending) pending.failed = describe(error);
    if (chatId === current) renderMessages();
  });
});

// Enter sends, Shift+Enter starts a new line.
$("message").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    $("send-form").requestSubmit();
  }
});

function onReceipt({ chat_id: chatId, message_id: messageId, user_id: userId }, kind) {
  const chat = chats.get(chatId);
  if (!chat) return;
  if (userId === session.userId) {
    // This user read the chat on another device.
    if (kind === "seen" && chatId !== current) chat.unread = 0;
    renderChats();
    return;
  }
  // Receipts count up to a message: everything before it is delivered (or seen) too.
  chat.delivered = Math.max(chat.delivered, messageId);
  if (kind === "seen") chat.seen = Math.max(chat.seen, messageId);
  if (chatId === current) renderMessages();
}

/** Tells the peer that the open chat was read up to its newest message, once per message. */
function markSeen() {
  if (!current || document.visibilityState !== "visible") return;
  const theirs = storedMessages(chats.get(current)).filter((m) => m.sender_id !== session.userId);
  const newest = theirs.at(-1);
  if (!newest || (seenSent.get(current) ?? 0) >= newest.message_id) return;
  seenSent.set(current, newest.message_id);
  socket.notify("seen", { chat_id: current, message_id: newest.message_id });
}

document.addEventListener("visibilitychange", markSeen);

/** `userId` is (or is no longer) online. The server may say so twice: a set keeps it once. */
function setOnline(userId, isOnline) {
  if (isOnline) online.add(userId);
  else online.delete(userId);
  renderChats();
  renderHeader();
}

/** Connected, presence is known (everyone not named online is offline); else it is not. */
function presenceKnownFrom(state) {
  presenceKnown = state === "connected";
  if (!presenceKnown) online.clear();
  renderChats();
  renderHeader();
}

// ---- rendering the open chat -------------------------------------------------------------

function renderHeader() {
  const chat = chats.get(current);
  if (!chat) return;
  $("peer-name").textContent = chat.peer.username;
  $("peer-presence").replaceChildren(presenceBadge(chat.peer.user_id));
}

function renderMessages() {
  const chat = chats.get(current);
  if (!chat) return;
  const list = $("messages");
  const log = $("message-log");
  const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  // Stored messages in the chat's order, then those still on their way.
  const pending = [...chat.messages.values()].filter((m) => m.message_id === undefined);
  list.replaceChildren(...[...storedMessages(chat), ...pending].map((m) => messageItem(m, chat)));
  $("earlier").hidden = !chat.hasMore;
  if (atBottom) log.scrollTop = log.scrollHeight;
}

/** The chat's stored messages, oldest first: ids grow in the order the chat stored them. */
function storedMessages(chat) {
  return [...chat.messages.values()]
    .filter((m) => m.message_id !== undefined)
    .sort((a, b) => a.message_id - b.message_id);
}

function messageItem(message, chat) {
  const mine = message.sender_id === session.userId;
  const status = mine ? statusOf(message, chat) : null;
  return el(
    "li",
    { class: mine ? "mine" : "theirs", "data-message-id": message.message_id, "data-status": status },
    el("span", { class: "sender" }, mine ? "You" : chat.peer.username),
    message.sent_at ? el("time", { datetime: message.sent_at }, new Date(message.sent_at).toLocaleTimeString()) : "",
    el("p", { class: "content" }, message.content),
    status ? el("span", { class: "status" }, message.failed ? `not sent: ${message.failed}` : status) : "",
  );
}

function statusOf(message, chat) {
  if (message.failed) return "failed";
  if (message.message_id === undefined) return "sending";
  if (message.message_id <= chat.seen) return "seen";
  if (message.message_id <= chat.delivered) return "delivered";
  return "sent";
}

// ---- finding people ----------------------------------------------------------------------

let searchTimer = 0;
$("find").addEventListener("input", () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(search, 250);
});

/** Names starting with what was typed, as one types. */
async function search() {
  const q = $("find").value.trim();
  if (!q) return $("found").replaceChildren();
  try {
    const { users } = await session.api(`/users/search?${new URLSearchParams({ q, limit: 10 })}`);
    if ($("find").value.trim() !== q) return; // a newer search is on its way
    const others = users.filter((u) => u.user_id !== session.userId);
    $("found").replaceChildren(
      ...others.map((user) => {
        const button = el("button", { type: "button", "data-user-id": user.user_id }, `Chat with ${user.username}`);
        button.addEventListener("click", () => openChatWith(user));
        return el("li", {}, button);
      }),
    );
    if (others.length === 0) $("found").replaceChildren(el("li", {}, "Nobody by that name yet."));
  } catch (error) {
    say($("notice"), `Search failed: ${describe(error)}`);
  }
}

// Enter: the user with exactly this name (without regard to case).
$("find-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const username = $("find").value.trim();
  if (!username) return;
  try {
    await openChatWith(await session.api(`/users/show?${new URLSearchParams({ username })}`));
  } catch (error) {
    const notFound = error instanceof ApiError && error.status === 404;
    say($("notice"), notFound ? `Nobody is called ${username}.` : describe(error));
  }
});

// ---- status lines ------------------------------------------------------------------------

function showStatus({ state, code, delay }) {
  const text = {
    connecting: "Connecting…",
    connected: "Connected.",
    waiting: `Connection lost (code ${code}); trying again in ${Math.ceil(delay / 1000)} s.`,
  }[state];
  say($("connection"), text);
  document.body.dataset.connection = state;
}

function say(node, text) {
  node.textContent = text;
}

function busy(form, isBusy) {
  for (const button of form.querySelectorAll("button")) button.disabled = isBusy;
}

function describe(error) {
  if (error instanceof ApiError || error instanceof SocketError) return error.message;
  return `${error.message || error} (is the server running?)`;
}

// ---- start -------------------------------------------------------------------------------

const restored = Session.restore();
if (restored) start(restored);
else $("login-username").focus();
