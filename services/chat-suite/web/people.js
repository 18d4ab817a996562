// Finding people by name, for the three places the page asks for someone: a private chat, the
// members of a new group, and people to add to a group.

import { ApiError } from "./session.js";
import { el } from "./dom.js";
import { names } from "./chat.js";

const TYPING_PAUSE_MS = 250;

/**
 * As one types in `input`, the users whose names start with it (the caller left out) appear
 * in `list` as buttons labelled `label(user)`; a click calls `pick(user)`. `fail(error)` hears
 * a search that failed.
 */
export function suggest({ session, input, list, label, pick, fail }) {
  let timer = 0;
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(search, TYPING_PAUSE_MS);
  });

  async function search() {
    const q = input.value.trim();
    if (!q) return list.replaceChildren();
    try {
      const { users } = await session().api(`/users/search?${new URLSearchParams({ q, limit: 10 })}`);
      if (input.value.trim() !== q) return; // a newer search is on its way
      const others = users.filter((u) => u.user_id !== session().userId);
      for (const user of others) names.set(user.user_id, user.username);
      list.replaceChildren(
        ...others.map((user) => {
          const button = el("button", { type: "button", "data-user-id": user.user_id }, label(user));
          button.addEventListener("click", () => pick(user));
          return el("li", {}, button);
        }),
      );
      if (others.length === 0) list.replaceChildren(el("li", {}, "Nobody by that name yet."));
    } catch (error) {
      fail(error);
    }
  }
}

/** The user with exactly this name (without regard to case), or null if there is none. */
export async function userNamed(session, username) {
  try {
    const user = await session.api(`/users/show?${new URLSearchParams({ username })}`);
    names.set(user.user_id, user.username);
    return user;
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return null;
    throw error;
  }
}
