// The delivery load of services/chat-gateway/benches/delivery.rs, generated from Node: to
// reproduce a measurement taken with a Node client, against chat-gateway (either wire) or the
// Socket.IO peer (server.cjs).
//
//   node loadgen.cjs CONFIG.json
//
// CONFIG: {"wire": "chat" | "socketio", "ports": [p1, p2],
//          "pairs": [{"a": {"id", "token"}, "b": {"id", "token"}}, ..],
//          "rate": messages/s in total, "warmup": s, "seconds": s, "drain"?: s (6)}
// User a of each pair connects to the first port, b to the second; each user sends to its peer
// at rate / users per second, each message carrying its send time; the receiver measures the
// latency and which messages arrived. Prints one JSON line:
//   {"sent", "delivered", "received_in_window", "duplicates", "lost",
//    "p50_us", "p90_us", "p99_us", "max_us", "event_loop_p99_ms"}
// counting the messages sent in [warmup, warmup + seconds).
//
// Modules come from NODE_PATH, hence CommonJS (ESM ignores it).
"use strict";

const fs = require("fs");
const { monitorEventLoopDelay } = require("perf_hooks");

const config = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const { wire, ports, pairs, rate, warmup, seconds } = config;
const drain = config.drain ?? 6;
if (!["chat", "socketio"].includes(wire) || ports?.length !== 2 || !(pairs?.length > 0) || !(rate > 0)) {
  process.stderr.write("loadgen.cjs: bad config (see the top of the file)\n");
  process.exit(2);
}

// Microseconds since `base`, the start of sending: one process, so every sender and receiver
// reads the same clock.
let base;
const micros = () => Number(process.hrtime.bigint() - base) / 1000;

// Stands for a connection's failure among its events.
const FAILED = Symbol("failed");

// A connection with the same face for both wires: on(event, handler) (one handler per event,
// the last one set) and send(event, data).
function open(port, token) {
  const handlers = new Map();
  const dispatch = (event, data) => {
    const handler = handlers.get(event);
    if (handler) handler(data);
  };
  const on = (event, handler) => handlers.set(event, handler);
  if (wire === "chat") {
    const WebSocket = require("ws");
    const ws = new WebSocket(`ws://127.0.0.1:${port}/chat?access_token=${encodeURIComponent(token)}`);
    ws.on("message", (text) => {
      const frame = JSON.parse(text);
      dispatch(frame.event, frame.data);
    });
    ws.on("error", (err) => dispatch(FAILED, err));
    ws.on("close", (code) => dispatch(FAILED, new Error(`closed (${code})`)));
    return { on, send: (event, data) => ws.send(JSON.stringify({ event, data })) };
  }
  const { io } = require("socket.io-client");
  // Its own connection per user, as on the chat wire; and no reconnecting, so that a dropped
  // connection shows as lost messages instead of being papered over.
  const socket = io(`http://127.0.0.1:${port}/chat`, {
    transports: ["websocket"],
    auth: { token },
    forceNew: true,
    reconnection: false,
  });
  socket.onAny(dispatch);
  socket.on("connect_error", (err) => dispatch(FAILED, err));
  socket.on("disconnect", (reason) => dispatch(FAILED, new Error(`disconnected (${reason})`)));
  return { on, send: (event, data) => socket.emit(event, data) };
}

// The data of the next `event` on `conn` that `accept`s, or a failure after 30 s.
function next(conn, event, accept = () => true) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} within 30 s`)), 30_000);
    conn.on(FAILED, reject);
    conn.on(event, (data) => {
      if (!accept(data)) return;
      clearTimeout(timer);
      resolve(data);
    });
  });
}

async function connect(port, token) {
  const conn = open(port, token);
  await next(conn, "connected");
  return conn;
}

// Every pair connected and in its chat. Users are numbered a0, b0, a1, b1, ..
async function setUp() {
  return (
    await Promise.all(
      pairs.map(async ({ a, b }, pair) => {
        const [ca, cb] = await Promise.all([connect(ports[0], a.token), connect(ports[1], b.token)]);
        const isTheirs = (data) => data.user_ids.includes(a.id) && data.user_ids.includes(b.id);
        const created = [next(ca, "private_chat_room_created", isTheirs), next(cb, "private_chat_room_created", isTheirs)];
        ca.send("start_private_chat", { user_id: b.id });
        const [{ chat_id }] = await Promise.all(created);
        return [
          { index: 2 * pair, id: a.id, conn: ca, chatId: chat_id },
          { index: 2 * pair + 1, id: b.id, conn: cb, chatId: chat_id },
        ];
      }),
    )
  ).flat();
}

function percentile(sorted, q) {
  return sorted.length ? Math.round(sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]) : null;
}

async function main() {
  const users = await setUp();
  const from = warmup * 1e6;
  const to = from + seconds * 1e6;
  const period = (1e6 * users.length) / rate; // µs between two messages of one user

  let sent = 0;
  let receivedInWindow = 0;
  let duplicates = 0;
  const latencies = [];
  const arrived = new Set();

  for (const user of users) {
    // A failure now is no reason to stop: its messages count as lost.
    user.conn.on(FAILED, (err) => console.error(`user ${user.index}:`, err.message));
    user.conn.on("receive_message", (message) => {
      const received = micros();
      if (message.sender_id === user.id) return;
      const [sender, number, sentAt] = message.content.split(" ").map(Number);
      const key = `${sender} ${number}`;
      if (arrived.has(key)) {
        duplicates++;
        return;
      }
      arrived.add(key);
      if (sentAt >= from && sentAt < to) latencies.push(received - sentAt);
      if (received >= from && received < to) receivedInWindow++;
    });
  }

  base = process.hrtime.bigint();
  for (const user of users) {
    const offset = (period * user.index) / users.length;
    let slot = 0;
    // Each send is timed from base, not from the previous one, so delays do not add up; a user
    // that fell behind sends the slot now due and skips those before it instead of bursting.
    const sendNext = () => {
      const now = Math.round(micros()); // as the content carries it, so both ends count alike
      if (now >= to) return;
      if (now >= from) sent++;
      user.conn.send("send_message", { chat_id: user.chatId, content: `${user.index} ${slot} ${now}` });
      slot = Math.max(slot + 1, Math.floor((micros() - offset) / period));
      schedule();
    };
    const schedule = () => setTimeout(sendNext, Math.max(0, (offset + slot * period - micros()) / 1000));
    schedule();
  }

  // The generator's own event-loop delay while measuring: a saturated generator would show
  // its own queueing as latency.
  const resolution = 10; // ms
  const loop = monitorEventLoopDelay({ resolution });
  setTimeout(() => loop.enable(), from / 1000);
  setTimeout(() => loop.disable(), to / 1000);

  setTimeout(() => {
    latencies.sort((x, y) => x - y);
    const report = {
      sent,
      delivered: latencies.length,
      received_in_window: receivedInWindow,
      duplicates,
      lost: sent - latencies.length,
      p50_us: percentile(latencies, 0.5),
      p90_us: percentile(latencies, 0.9),
      p99_us: percentile(latencies, 0.99),
      max_us: percentile(latencies, 1),
      // The histogram holds whole sampling intervals; the delay is what exceeds one.
      event_loop_p99_ms: Math.max(0, Math.round((loop.percentile(99) / 1e6 - resolution) * 100) / 100),
    };
    process.stdout.write(JSON.stringify(report) + "\n");
    // The connections end with the process.
    process.exit(0);
  }, to / 1000 + drain * 1000);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
