// Group chats on the page: the form that makes one, and the open group's panel (its members
// and their roles, and what the user's own role lets them do: add people, remove members,
// make or unmake admins, rename, leave). The changes are asked over the socket; what they
// change on the page comes back as the group's events, to every member's pages alike, and
// app.js applies them.

import { $, Refusal, el, say } from "./dom.js";
import { names } from "./chat.js";
import { suggest, userNamed } from "./people.js";

const ROLE_ORDER = { owner: 0, admin: 1, member: 2 };

/**
 * The "New group" form: a title, and people picked by name. `created(description)` gets the
 * group as `POST /chats` describes it. Made over HTTP, not the socket: a request the socket
 * wrote again after a reconnect would make a second group.
 */
export function setUpNewGroup({ session, created, fail }) {
  const picked = new Map(); // user_id -> user
  const form = $("group-form");

  const renderPicked = () => {
    $("group-picked").replaceChildren(
      ...[...picked.values()].map((user) => {
        const remove = el("button", { type: "button", "aria-label": `Remove: ${user.username}` }, "Remove");
        remove.addEventListener("click", () => {
          picked.delete(user.user_id);
          renderPicked();
          $("group-find").focus();
        });
        return el("li", {}, el("span", { class: "member-name" }, user.username), " ", remove);
      }),
    );
    $("group-picked-none").hidden = picked.size > 0;
  };
  const pick = (user) => {
    picked.set(user.user_id, user);
    $("group-find").value = "";
    $("group-found").replaceChildren();
    renderPicked();
    $("group-find").focus();
  };

  suggest({ session, input: $("group-find"), list: $("group-found"), label: (u) => `Add ${u.username}`, pick, fail });

  // Enter in the name field picks exactly that name; it does not make the group yet.
  $("group-find").addEventListener("keydown", async (event) => {
    if (event.key !== "Enter" || event.isComposing) return;
    event.preventDefault();
    const username = $("group-find").value.trim();
    if (!username) return;
    try {
      const user = await userNamed(session(), username);
      if (!user) return fail(new Refusal(`Nobody is called ${username}.`));
      if (user.user_id !== session().userId) pick(user);
    } catch (error) {
      fail(error);
    }
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = $("create-group");
    button.disabled = true;
    try {
      const body = { title: $("group-title").value.trim(), user_ids: [...picked.keys()] };
      const description = await session().api("/chats", { method: "POST", body });
      picked.clear();
      form.reset();
      $("group-found").replaceChildren();
      renderPicked();
      $("new-group").open = false;
      created(description);
    } catch (error) {
      fail(error);
    } finally {
      button.disabled = false;
    }
  });

  return {
    reset: () => {
      picked.clear();
      form.reset();
      renderPicked();
      $("new-group").open = false;
    },
  };
}

/**
 * The open group's panel. `current()` is the open Chat; `ask(event, data, what)` sends a
 * request over the socket and says what went wrong, if anything.
 */
export function setUpGroupPanel({ session, current, ask, fail }) {
  const chatId = () => current().id;
  const add = (user) => {
    ask("add_members", { chat_id: chatId(), user_ids: [user.user_id] }, `add ${user.username}`);
    $("add-member").value = "";
    $("add-found").replaceChildren();
  };

  const label = (user) => `Add ${user.username}`;
  suggest({ session, input: $("add-member"), list: $("add-found"), label, pick: add, fail });

  $("add-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const username = $("add-member").value.trim();
    if (!username) return;
    try {
      const user = await userNamed(session(), username);
      if (user) add(user);
      else fail(new Refusal(`Nobody is called ${username}.`));
    } catch (error) {
      fail(error);
    }
  });

  $("rename-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const title = $("rename-title").value.trim();
    if (title && title !== current().title) ask("rename_chat", { chat_id: chatId(), title }, "rename the group");
  });

  $("leave").addEventListener("click", () => ask("leave_chat", { chat_id: chatId() }, "leave the group"));

  // The member list is drawn again at every change: one listener for all its buttons.
  $("members").addEventListener("click", (event) => {
    const button = event.target.closest("button[data-action]");
    if (!button) return;
    const { action, userId } = button.dataset;
    const name = names.get(userId) ?? "them";
    if (action === "remove") ask("remove_member", { chat_id: chatId(), user_id: userId }, `remove ${name}`);
    if (action === "admin" || action === "member") {
      ask("set_role", { chat_id: chatId(), user_id: userId, role: action }, `change ${name}'s role`);
    }
  });
}

/** Draws the open chat's group panel (hidden for a private chat, or a group the user is out of). */
export function renderGroupPanel(chat, me) {
  const inGroup = chat.isGroup && !chat.removed;
  $("group-panel").hidden = !inGroup;
  if (!inGroup) return;
  const mine = chat.roleOf(me);
  const manages = mine === "owner" || mine === "admin";
  say($("member-count"), String(chat.memberCount));
  // The owner, the admins, then the members; each longest-standing first.
  const members = [...(chat.members?.values() ?? [])].sort(
    (a, b) =>
      ROLE_ORDER[a.role] - ROLE_ORDER[b.role] ||
      a.joined_at.localeCompare(b.joined_at) ||
      a.username.localeCompare(b.username),
  );
  $("members").replaceChildren(...members.map((member) => memberItem(member, mine, me)));
  $("add-form").hidden = !manages;
  $("add-found").hidden = !manages;
  $("rename-form").hidden = !manages;
  const title = $("rename-title");
  // Not while the user is typing a new title.
  if (document.activeElement !== title || title.dataset.chatId !== chat.id) title.value = chat.title;
  title.dataset.chatId = chat.id;
}

function memberItem(member, mine, me) {
  const { user_id: userId, username, role } = member;
  // Named for whom they act on; the name begins with the words shown (WCAG 2.5.3).
  const action = (name, text) =>
    el(
      "button",
      { type: "button", "data-action": name, "data-user-id": userId, "aria-label": `${text}: ${username}` },
      text,
    );
  const actions = [];
  if (userId !== me && role !== "owner") {
    if (mine === "owner") {
      actions.push(
        role === "admin"
          ? action("member", "Unmake admin")
          : action("admin", "Make admin"),
      );
    }
    if (mine === "owner" || (mine === "admin" && role === "member")) {
      actions.push(action("remove", "Remove"));
    }
  }
  return el(
    "li",
    { "data-user-id": userId },
    el("span", { class: "member-name" }, username),
    userId === me ? el("span", { class: "you" }, " (you)") : "",
    role !== "member" ? el("span", { class: "role" }, role) : "",
    actions.length > 0 ? el("span", { class: "actions" }, ...actions) : "",
  );
}
