// The few helpers every part of the page uses. Everything a user wrote (names, titles,
// messages) reaches the page through `el` as text nodes; nothing is ever parsed as HTML.

import { ApiError } from "./session.js";
import { SocketError } from "./socket.js";

export const $ = (id) => document.getElementById(id);

/** An element with attributes and children. Strings become text nodes, never markup. */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value !== false && value !== null && value !== undefined) node.setAttribute(name, String(value));
  }
  node.append(...children);
  return node;
}

export function say(node, text) {
  node.textContent = text;
}

/** What the page says of an error. */
export function describe(error) {
  if (error instanceof ApiError || error instanceof SocketError || error instanceof Refusal) return error.message;
  return `${error.message || error} (is the server running?)`;
}

/** Something the page refuses by itself ("Nobody is called …"): said as it is. */
export class Refusal extends Error {}
