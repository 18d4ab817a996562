// The /chat WebSocket: one connection that comes back by itself after a drop and resumes
// where it left off, so the page neither loses nor doubles a message.
//
// The protocol (README, "The /chat WebSocket"): text frames `{"event", "data", "id"?}`; a frame
// with an `id` gets exactly one reply with the same `id`, its result or an `error`. Server
// events without an `id` are pushes: messages, receipts, presence.

const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 15_000;
// The server takes at most this many chats in `last_message_ids`.
const MAX_RESUME_CHATS = 500;
// Close code of a connection whose access token expired without a `refresh_token` event.
const TOKEN_EXPIRED = 4001;
// The close code for an account deleted.
const ACCOUNT_DELETED = 4003;
// Code the page closes with when it is done (sign-out): no reconnecting.
const NORMAL = 1000;
// Close code of a connection that sent a frame over the server's limit (64 KiB, the README's
// close codes). That frame would be refused again on every connection: it fails, the others
// are written again.
const TOO_LARGE = 1009;
// The server's limit on a frame, in bytes of UTF-8.
const MAX_FRAME_BYTES = 64 * 1024;
const utf8 = new TextEncoder();

/**
 * An `error` reply: `code` is the contract's machine code (`forbidden`, `not_found`, ...), or
 * `frame_too_large` for a request over the server's frame limit, which is never sent (or, if
 * the server's limit is lower than the page thinks, was refused with close code 1009).
 */
export class SocketError extends Error {
  constructor({ code, message }) {
    super(message);
    this.code = code;
  }
}

const tooLarge = () =>
  new SocketError({ code: "frame_too_large", message: "too large for one frame (64 KiB at most)" });

/**
 * Events it dispatches (a CustomEvent's `detail` is the server event's `data`):
 * `message` (`receive_message`: a stored message, ours included), `chat`
 * (`private_chat_room_created`), `delivered` (`message_received`), `seen` (`message_seen`),
 * `online`, `offline`, `typing`, the groups' events under their own names (`group_created`,
 * `members_added`, `member_removed`, `member_role_changed`, `chat_renamed`: pushed, or the
 * reply to the request that made the change), a sent message's changes the same way
 * (`message_edited`, `message_deleted`, `reaction_added`, `reaction_removed`), `problem` (an
 * `error` push), and `status` ({state, code, delay}).
 */
export class ChatSocket extends EventTarget {
  #session;
  #ws = null;
  #connected = false;
  #stopped = false;
  #attempt = 0;
  // Whether the token was renewed since the last `connected`: once per run of failures.
  #renewed = false;
  #timer = 0;
  #nextId = 0;
  #maxFrameBytes;
  // Frames waiting for their reply, by id, in the order they were made, each with its size and
  // the connection it was last written on. They are written again after a reconnect, but for
  // those made with `repeat: false`, which fail when the connection drops: the rest may be
  // repeated safely (`send_message` carries a `client_msg_id`, and a chat is found or
  // created), while removing a member twice, or leaving twice, would be refused.
  #pending = new Map();
  // Per chat, the newest message the page holds. Map order is the order of the last change,
  // so the chats named when resuming, if there are too many, are the most recently active.
  #positions = new Map();
  #onOnline = () => this.#reconnectNow();

  /** `maxFrameBytes`: the server's frame limit, when it is not the default's 64 KiB. */
  constructor(session, { maxFrameBytes = MAX_FRAME_BYTES } = {}) {
    super();
    this.#session = session;
    this.#maxFrameBytes = maxFrameBytes;
    // A connection lives until the expiry of the token it was opened with, unless it is given
    // the renewed one: the server would close it with 4001 otherwise.
    session.addEventListener("refreshed", () => {
      if (this.#connected) {
        this.request("refresh_token", { access_token: session.accessToken }, { repeat: false }).catch(() => {});
      }
    });
    window.addEventListener("online", this.#onOnline);
  }

  /** The page holds every message of `chatId` up to `messageId`: a resume starts after it. */
  advance(chatId, messageId) {
    const known = this.#positions.get(chatId);
    if (known !== undefined && known >= messageId) return;
    this.#positions.delete(chatId);
    this.#positions.set(chatId, messageId);
  }

  /**
   * The user is out of `chatId` (removed from a group, or left it): a resume must not name it,
   * for the server refuses to resume a chat the user is not in (403).
   */
  forget(chatId) {
    this.#positions.delete(chatId);
  }

  connect() {
    clearTimeout(this.#timer);
    this.#stopped = false;
    this.#status("connecting");
    const ws = new WebSocket(this.#url());
    this.#ws = ws;
    ws.addEventListener("message", (event) => this.#onFrame(event.data));
    ws.addEventListener("close", (event) => this.#onClose(ws, event));
  }

  /** Closes for good (sign-out); requests still waiting fail. */
  close() {
    this.#stopped = true;
    clearTimeout(this.#timer);
    window.removeEventListener("online", this.#onOnline);
    this.#ws?.close(NORMAL);
    this.#ws = null;
    for (const { reject } of this.#pending.values()) reject(new Error("signed out"));
    this.#pending.clear();
  }

  /**
   * Sends `event` with an `id` and resolves with the reply's data (or rejects with a
   * SocketError). While the connection is down the frame waits, and goes out once it is back.
   * A frame over the server's limit is not sent at all: the server would close the connection
   * (1009), and writing it again after each reconnect would close every one.
   */
  request(event, data, { repeat = true } = {}) {
    const id = String(++this.#nextId);
    const frame = JSON.stringify({ event, data, id });
    const bytes = utf8.encode(frame).length;
    if (bytes > this.#maxFrameBytes) return Promise.reject(tooLarge());
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { frame, bytes, resolve, reject, repeat, clientMsgId: data.client_msg_id, sentOn: null });
      if (this.#connected) this.#write(id);
    });
  }

  /** Sends `event` without an `id`: no reply, and nothing if the connection is down. */
  notify(event, data) {
    if (this.#connected) this.#ws.send(JSON.stringify({ event, data }));
  }

  /**
   * Sends a message; resolves with it as stored. Its `client_msg_id` makes a repeat after a
   * reconnect return the stored message instead of storing it twice.
   */
  sendMessage(chatId, content, replyTo = null) {
    const clientMsgId = crypto.randomUUID();
    const data = { chat_id: chatId, content, client_msg_id: clientMsgId };
    if (replyTo !== null) data.reply_to = replyTo;
    return { clientMsgId, stored: this.request("send_message", data) };
  }

  #url() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const query = new URLSearchParams({ access_token: this.#session.accessToken });
    // Resume per chat, not with `since`: message ids grow across all chats, but a connection
    // gets them in order only within each chat, so the highest id seen anywhere can be ahead
    // of a message of another chat that was still on its way when the connection dropped.
    const positions = [...this.#positions].slice(-MAX_RESUME_CHATS);
    if (positions.length > 0) {
      query.set("last_message_ids", positions.map(([chat, message]) => `${chat}:${message}`).join(","));
    }
    return `${scheme}//${location.host}/chat?${query}`;
  }

  #onFrame(text) {
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    const { event, data = {}, id } = frame;
    if (id !== undefined) this.#settle(String(id), event, data);
    switch (event) {
      case "connected":
        this.#connected = true;
        this.#attempt = 0;
        this.#renewed = false;
        this.#status("connected");
        // After the `connected` event: the server reads frames from then on, and the replay
        // of what was missed comes first, so a repeated send finds its message stored.
        for (const pendingId of this.#pending.keys()) this.#write(pendingId);
        break;
      case "receive_message":
        this.advance(data.chat_id, data.message_id);
        // The server writes each message once per connection: usually as the reply to our
        // `send_message`, but a copy without the `id` may come first, and then settles it.
        if (data.sender_id === this.#session.userId && data.client_msg_id) {
          for (const [pendingId, pending] of this.#pending) {
            if (pending.clientMsgId === data.client_msg_id) this.#settle(pendingId, event, data);
          }
        }
        this.#emit("message", data);
        break;
      case "private_chat_room_created":
        this.#emit("chat", data);
        break;
      case "message_received":
        this.#emit("delivered", data);
        break;
      case "message_seen":
        this.#emit("seen", data);
        break;
      case "online":
      case "offline":
      case "typing":
      case "group_created":
      case "members_added":
      case "member_removed":
      case "member_role_changed":
      case "chat_renamed":
      case "message_edited":
      case "message_deleted":
      case "reaction_added":
      case "reaction_removed":
        this.#emit(event, data);
        break;
      case "error":
        if (id === undefined) this.#emit("problem", data);
        break;
      default:
        // `ack`, `token_refreshed` and events newer than this page: nothing to do.
        break;
    }
  }

  #write(id) {
    const pending = this.#pending.get(id);
    pending.sentOn = this.#ws;
    this.#ws.send(pending.frame);
  }

  #settle(id, event, data) {
    const pending = this.#pending.get(id);
    if (!pending) return;
    this.#pending.delete(id);
    if (event === "error") pending.reject(new SocketError(data));
    else pending.resolve(data);
  }

  async #onClose(ws, event) {
    if (ws !== this.#ws) return;
    const wasConnected = this.#connected;
    this.#ws = null;
    this.#connected = false;
    for (const [id, { repeat, reject }] of this.#pending) {
      if (!repeat) {
        this.#pending.delete(id);
        reject(new Error("connection closed"));
      }
    }
    if (event.code === TOO_LARGE) this.#failLargest(ws);
    if (this.#stopped) return;
    // The account was deleted (here or on another device): nothing to reconnect to.
    if (event.code === ACCOUNT_DELETED) {
      this.#stopped = true;
      this.#status("deleted", { code: event.code });
      return;
    }
    // A refused upgrade (401 for a bad token, 429 for too many tabs) reaches the page only as
    // a close before `connected`, with no status. A bad token is the one cause the page can
    // fix, so when connecting keeps failing it renews the token once before trying again.
    const unexplained = !wasConnected && (this.#session.expiring || (this.#attempt >= 2 && !this.#renewed));
    if (event.code === TOKEN_EXPIRED || unexplained) {
      try {
        await this.#session.refresh();
        this.#renewed = true;
      } catch {
        // Network trouble: the backoff below tries again. A refused refresh token ends the
        // session, and the page signs out, which stops this socket.
      }
      if (this.#stopped) return;
    }
    const delay = event.code === TOKEN_EXPIRED && this.#attempt === 0 ? 0 : this.#backoff();
    this.#attempt += 1;
    this.#status("waiting", { code: event.code, delay });
    this.#timer = setTimeout(() => this.connect(), delay);
  }

  /**
   * The server closed `ws` for a frame over its limit (one lower than this socket was told):
   * of the frames written on it and still unanswered, the largest is the one, and it fails
   * rather than closing the next connection too.
   */
  #failLargest(ws) {
    let largest = null;
    for (const [id, pending] of this.#pending) {
      if (pending.sentOn === ws && (largest === null || pending.bytes > this.#pending.get(largest).bytes)) largest = id;
    }
    if (largest === null) return;
    this.#pending.get(largest).reject(tooLarge());
    this.#pending.delete(largest);
  }

  /** Exponential, with jitter so that many clients dropped at once do not return at once. */
  #backoff() {
    const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** this.#attempt);
    return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
  }

  #reconnectNow() {
    if (!this.#stopped && this.#ws === null) this.connect();
  }

  #status(state, extra = {}) {
    this.#emit("status", { state, ...extra });
  }

  #emit(name, detail) {
    this.dispatchEvent(new CustomEvent(name, { detail }));
  }
}
