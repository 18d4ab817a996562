// One chat as the page holds it: a private chat's peer, or a group's title, members and roles;
// its messages; and how far each member has received and read it. No DOM here: app.js and
// groups.js draw it.

/** Every username the page has learned, by user id: a member who left still has a name. */
export const names = new Map();

export const nameOf = (userId) => names.get(userId) ?? "a former member";

export class Chat {
  /**
   * `kind` "private" with `peer` ({user_id, username}), or "group" with `title` and
   * `memberCount` (a group's members come later, from its description).
   */
  constructor(chatId, { kind = "private", peer = null, title = null, memberCount = 2, lastActivity, unread = 0 }) {
    this.id = chatId;
    this.kind = kind;
    this.peer = peer;
    this.title = title;
    this.memberCount = memberCount;
    this.lastActivity = lastActivity;
    this.unread = unread;
    // Until when the user muted it (RFC 3339), or null.
    this.mutedUntil = null;
    this.hasMore = false;
    // message key -> message. A stored message's key is its id; one still on its way is keyed
    // by its client_msg_id until it comes back stored.
    this.messages = new Map();
    // user_id -> {delivered, seen}: every message up to that id.
    this.receipts = new Map();
    // A group's members, user_id -> {user_id, username, role, joined_at}, once described.
    this.members = null;
    this.ownerId = null;
    // Set when the user was removed from the group: {by}. They keep what they saw, and can
    // no longer send.
    this.removed = null;
    // The last change to the group, said under its title ("alice renamed the group").
    this.activity = "";
    if (peer) names.set(peer.user_id, peer.username);
  }

  get isGroup() {
    return this.kind === "group";
  }

  get muted() {
    return this.mutedUntil !== null && this.mutedUntil !== undefined && this.mutedUntil > new Date().toISOString();
  }

  /** What the list and the header call it. */
  get name() {
    return this.isGroup ? this.title : this.peer.username;
  }

  /** `GET /chats/{chat_id}`: the group's title, owner and every member with their role. */
  describe(description) {
    this.title = description.title;
    this.ownerId = description.owner_id;
    this.members = new Map(description.members.map((m) => [m.user_id, { ...m }]));
    this.memberCount = description.members.length;
    for (const m of description.members) names.set(m.user_id, m.username);
  }

  /** The caller's role here: "owner", "admin", "member", or null before the description. */
  roleOf(userId) {
    return this.members?.get(userId)?.role ?? null;
  }

  /**
   * Receipts as the server keeps them (`delivered_up_to`, `seen_up_to` of `GET /chats` and of a
   * history page), so that a reload shows what the live `message_received` and `message_seen`
   * showed. Either source only moves the marks forward.
   */
  applyMarks(members = []) {
    for (const m of members) {
      this.mark(m.user_id, "delivered", m.delivered_up_to ?? 0);
      this.mark(m.user_id, "seen", m.seen_up_to ?? 0);
    }
  }

  /** `userId` received (or read) every message up to `messageId`; reading is receiving too. */
  mark(userId, kind, messageId) {
    const marks = this.receipts.get(userId) ?? { delivered: 0, seen: 0 };
    marks.delivered = Math.max(marks.delivered, messageId);
    if (kind === "seen") marks.seen = Math.max(marks.seen, messageId);
    this.receipts.set(userId, marks);
  }

  /** The chat's stored messages, oldest first: ids grow in the order the chat stored them. */
  stored() {
    return [...this.messages.values()]
      .filter((m) => m.message_id !== undefined)
      .sort((a, b) => a.message_id - b.message_id);
  }

  /**
   * Keeps a stored message, replacing its own pending copy. A history page's copy brings the
   * reactions as they stand; a live copy of a message already held keeps what it has.
   */
  store(message) {
    if (message.client_msg_id) this.messages.delete(message.client_msg_id);
    const known = this.messages.get(message.message_id);
    const reactions = message.reactions ? Reactions.from(message.reactions) : (known?.reactions ?? new Reactions());
    this.messages.set(message.message_id, { ...message, reactions });
  }

  /** `message_edited`: the new text. */
  edited({ message_id: id, content, edited_at: editedAt }) {
    const message = this.messages.get(id);
    if (message && !message.deleted) Object.assign(message, { content, edited_at: editedAt });
    return Boolean(message);
  }

  /** `message_deleted`: a tombstone, its text and reactions gone. */
  deleted({ message_id: id }) {
    const message = this.messages.get(id);
    if (message) Object.assign(message, { content: null, deleted: true, reactions: new Reactions() });
    return Boolean(message);
  }

  /** `reaction_added` (`added`) or `reaction_removed`, by `user_id`; `me` is this user. */
  reacted({ message_id: id, emoji, user_id: userId }, added, me) {
    const message = this.messages.get(id);
    if (message && !message.deleted) message.reactions.change(emoji, userId, added, me);
    return Boolean(message);
  }

  /**
   * Where one of the user's messages is: `status` ("sending", "failed", "sent", "delivered",
   * "seen") and the words shown. In a group a message is delivered (seen) once every other
   * member who was in when it was sent has received (read) it; until everyone has read it, it
   * says how many have.
   */
  statusOf(message, me) {
    if (message.failed) return { status: "failed", text: `not sent: ${message.failed}` };
    if (message.message_id === undefined) return { status: "sending", text: "sending" };
    const others = this.#audience(message, me);
    const count = (kind) => others.filter((id) => (this.receipts.get(id)?.[kind] ?? 0) >= message.message_id).length;
    const [delivered, seen, all] = [count("delivered"), count("seen"), others.length];
    const status = all > 0 && seen === all ? "seen" : all > 0 && delivered === all ? "delivered" : "sent";
    if (!this.isGroup || all === 0) return { status, text: status };
    if (seen === all) return { status, text: "seen by everyone" };
    if (seen > 0) return { status, text: `${status}, seen by ${seen} of ${all}` };
    if (delivered > 0 && delivered < all) return { status, text: `delivered to ${delivered} of ${all}` };
    return { status, text: status };
  }

  /** Who a message is for: the peer, or the members who were in the group when it was sent. */
  #audience(message, me) {
    if (!this.isGroup) return [this.peer.user_id];
    if (!this.members) return [];
    // Both are RFC 3339 in UTC with milliseconds, so they compare as strings.
    const inWhenSent = (m) => !message.sent_at || m.joined_at <= message.sent_at;
    return [...this.members.values()].filter((m) => m.user_id !== me && inWhenSent(m)).map((m) => m.user_id);
  }
}

/**
 * A message's reactions: per emoji, how many reacted and whether this user did, in the order
 * each emoji was first used. A history page gives the counts; live events move them. The
 * server may replay an event the page has applied (it resumes from a message, and the changes
 * after it come again): each user's reactions heard live are kept, so a repeat changes nothing.
 */
export class Reactions {
  #tallies = new Map();
  // emoji -> user_id -> whether the last event heard of them added it.
  #heard = new Map();

  static from(list) {
    const reactions = new Reactions();
    for (const { emoji, count, me } of list) reactions.#tallies.set(emoji, { count, me });
    return reactions;
  }

  change(emoji, userId, added, me) {
    const heard = this.#heard.get(emoji) ?? new Map();
    if (heard.get(userId) === added) return;
    heard.set(userId, added);
    this.#heard.set(emoji, heard);
    const tally = this.#tallies.get(emoji) ?? { count: 0, me: false };
    if (userId === me) {
      // The page knows its own reactions: a repeat of one it holds changes nothing.
      if (tally.me === added) return;
      tally.me = added;
    }
    tally.count = Math.max(0, tally.count + (added ? 1 : -1));
    if (tally.count === 0) this.#tallies.delete(emoji);
    else this.#tallies.set(emoji, tally);
  }

  /** [{emoji, count, me}], in the order each emoji was first used. */
  list() {
    return [...this.#tallies].map(([emoji, tally]) => ({ emoji, ...tally }));
  }
}
