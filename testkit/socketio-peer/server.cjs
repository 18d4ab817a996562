// The Socket.IO peer of the delivery and group benchmarks: a stock Socket.IO 4 server with the
// classic Redis adapter, answering the events the benchmarks drive (`connected`,
// `start_private_chat`, `join_group`, `send_message`) the way the original Flask chat service
// did, so that chat-gateway can be measured next to it under the same load.
//
//   node server.cjs PORT REDIS_URL
//
// Modules come from NODE_PATH (scripts/bench installs them with `npm ci` into its cache), which
// is why this is CommonJS: ESM ignores NODE_PATH.
"use strict";

const http = require("http");
const { Server } = require("socket.io");
const { createAdapter } = require("@socket.io/redis-adapter");
const { createClient } = require("redis");

const [port, redisUrl] = process.argv.slice(2);
if (!port || !redisUrl) {
  process.stderr.write("usage: node server.cjs PORT REDIS_URL\n");
  process.exit(2);
}

// A chat id joins its two members with ".", so an id must not contain one.
function isUserId(value) {
  return typeof value === "string" && value !== "" && !value.includes(".");
}

// The `sub` claim of a JWT. The signature is NOT checked: this is a benchmark peer, and the
// tokens it sees are made by the benchmark itself.
function userIdOf(token) {
  const parts = typeof token === "string" ? token.split(".") : [];
  if (parts.length !== 3) return null;
  try {
    const { sub } = JSON.parse(Buffer.from(parts[1], "base64url").toString("utf8"));
    return isUserId(sub) ? sub : null;
  } catch {
    return null;
  }
}

// The chat of two users is the same whoever starts it.
function chatIdOf(a, b) {
  return a < b ? `${a}.${b}` : `${b}.${a}`;
}

function room(userId) {
  return "user:" + userId;
}

// The id a message would have been given by the database; the peer stores nothing.
let lastMessageId = 0;

async function main() {
  const pub = createClient({ url: redisUrl });
  const sub = pub.duplicate();
  // Without a listener an error event would end the process; the stock setup only logs.
  for (const client of [pub, sub]) client.on("error", (err) => console.error("redis:", err.message));
  await Promise.all([pub.connect(), sub.connect()]);

  const httpServer = http.createServer();
  const io = new Server(httpServer, { adapter: createAdapter(pub, sub) });
  const chat = io.of("/chat");

  chat.use((socket, next) => {
    const userId = userIdOf(socket.handshake.auth && socket.handshake.auth.token);
    if (!userId) return next(new Error("unauthorized"));
    socket.data.userId = userId;
    next();
  });

  chat.on("connection", (socket) => {
    const me = socket.data.userId;
    socket.join(room(me));
    socket.emit("connected", { user_id: me });

    socket.on("start_private_chat", (data, ack) => {
      const other = data && data.user_id;
      if (!isUserId(other)) return socket.emit("error", { code: "bad_request" });
      const userIds = [me, other].sort();
      const created = { chat_id: chatIdOf(me, other), user_ids: userIds };
      // With an ack the caller gets its answer there; its user's other connections still get the event.
      (typeof ack === "function" ? socket : chat).to(userIds.map(room)).emit("private_chat_room_created", created);
      if (typeof ack === "function") ack(created);
    });

    // A group is a room of its own, joined by each member's socket (as a Socket.IO app keeps
    // them): one emit to the room reaches every member on every process.
    socket.on("join_group", (data, ack) => {
      if (!data || typeof data.chat_id !== "string" || !data.chat_id.startsWith("group:")) {
        return socket.emit("error", { code: "bad_request" });
      }
      socket.join(data.chat_id);
      if (typeof ack === "function") ack({ chat_id: data.chat_id });
      else socket.emit("group_joined", { chat_id: data.chat_id });
    });

    socket.on("send_message", (data, ack) => {
      if (!data || typeof data.chat_id !== "string" || typeof data.content !== "string") {
        return socket.emit("error", { code: "bad_request" });
      }
      const group = data.chat_id.startsWith("group:");
      if (group && !socket.rooms.has(data.chat_id)) return socket.emit("error", { code: "not_member" });
      const members = group ? [] : data.chat_id.split(".");
      if (!group && (members.length !== 2 || !members.includes(me))) {
        return socket.emit("error", { code: "not_member" });
      }
      const message = {
        id: ++lastMessageId,
        chat_id: data.chat_id,
        sender_id: me,
        content: data.content,
        kind: "text",
        sent_at: new Date().toISOString(),
      };
      chat.to(group ? data.chat_id : members.map(room)).emit("receive_message", message);
      if (typeof ack === "function") ack(message);
    });
  });

  httpServer.listen(Number(port), () => console.log(`listening on ${port}`));

  let closing = false;
  const shutdown = async () => {
    if (closing) return;
    closing = true;
    // Closes every connection, the adapter's subscriptions and the HTTP server.
    await io.close();
    await Promise.all([pub.close(), sub.close()]);
  };
  process.on("SIGTERM", shutdown);
  process.on("SIGINT", shutdown);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
