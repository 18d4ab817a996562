// What the page holds while someone is signed in, shared by the modules that read it from the
// server (sync.js), draw it (view.js) and take the user's input (app.js).

export const state = {
  session: null,
  socket: null,
  /** chat_id -> Chat (chat.js). */
  chats: new Map(),
  /** The open chat's id. */
  current: null,
  online: new Set(),
  // Whether the page knows who is online: from `connected` until the connection is lost. The
  // server says which chat peers are online after `connected`, then who comes and goes, and
  // when a chat is made or joined, whether its peer is online; a peer it has not named is not.
  presenceKnown: false,
  /** Per chat, the newest message this page said it saw, so `seen` is sent once per message. */
  seenSent: new Map(),
  /** Per chat, who is typing: user_id -> the timer that forgets it. */
  typing: new Map(),
  /** The users this user blocked. */
  blocked: new Set(),
};

/** The open chat, if any. */
export const open = () => state.chats.get(state.current);

/** Forgets everything of the signed-in user. */
export function clear() {
  for (const who of state.typing.values()) for (const timer of who.values()) clearTimeout(timer);
  Object.assign(state, { session: null, socket: null, current: null, presenceKnown: false });
  for (const each of [state.chats, state.online, state.seenSent, state.typing, state.blocked]) each.clear();
}
