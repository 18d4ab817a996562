// Drives the official Socket.IO clients for the Rust tests (testkit/src/socketio.rs): one
// process per test, holding many named clients. Commands arrive as JSON lines on stdin, what
// the clients see leaves as JSON lines on stdout, in the order it happened. The process ends
// when stdin closes.
//
// The clients are not installed here but in the cache: `scripts/test` (ensure_socketio_clients
// in scripts/lib/services.sh) runs `npm ci` on this folder's lock file and sets
// SOCKETIO_CLIENTS to that node_modules. CommonJS, because ESM ignores paths set that way.
//
// stdin:
//   {"op":"connect", "id", "version":"v3"|"v4", "url":"http://127.0.0.1:PORT/chat", "opts":{..},
//    "resume"?: true (auth becomes a function adding the last message id seen in each chat)}
//   {"op":"emit", "id", "event", "data"?, "ack": n|null}   no "data": the event has no argument
//   {"op":"disconnect", "id"}
//   {"op":"connect_again", "id", "auth"?}
//   {"op":"close_engine", "id"}   the engine ends as on a lost network; the client reconnects
// stdout:
//   {"type":"connect", "id", "sid", "transport"}          {"type":"connect_error", "id", "message", "data"}
//   {"type":"disconnect", "id", "reason"}                 {"type":"upgrade", "id", "transport"}
//   {"type":"event", "id", "event", "args", "server_ack"?}  {"type":"ack", "id", "n", "args"}
//   {"type":"reconnect_attempt", "id", "attempt"}         {"type":"error", "id"?, "message"}
"use strict";

const path = require("path");
const readline = require("readline");

const PACKAGES = { v3: "socket.io-client-v3", v4: "socket.io-client" };

const clientsDir = process.env.SOCKETIO_CLIENTS;
if (!clientsDir) {
  process.stderr.write("driver.cjs: SOCKETIO_CLIENTS is not set; run the tests through scripts/test\n");
  process.exit(2);
}

// Loaded on first use, so a test that only needs v4 does not pay for v3.
const loaded = {};
function ioOf(version) {
  const name = PACKAGES[version];
  if (!name) throw new Error(`unknown version ${JSON.stringify(version)} (v3 or v4)`);
  if (!loaded[version]) {
    const module = require(path.join(clientsDir, name));
    loaded[version] = module.io || module;
  }
  return loaded[version];
}

// Writes to a pipe are synchronous on Linux, so every line is out before the next one is made.
function out(line) {
  process.stdout.write(JSON.stringify(line) + "\n");
}
process.stdout.on("error", () => process.exit(0)); // the test is gone (EPIPE)

const sockets = new Map();

function socketOf(id) {
  const socket = sockets.get(id);
  if (!socket) throw new Error(`no client ${JSON.stringify(id)}`);
  return socket;
}

function connect({ id, version, url, opts, resume }) {
  if (sockets.has(id)) throw new Error(`client ${JSON.stringify(id)} exists already`);
  // forceNew: each client its own Manager, so its own engine (and its own reconnects).
  const options = { ...(opts || {}), forceNew: true };
  // With `resume`, as the README's client does: every (re)connection's auth carries the
  // position reached in each chat, from the receive_message events seen so far.
  const lastSeen = {};
  if (resume) {
    const fixed = options.auth || {};
    options.auth = (cb) => cb({ ...fixed, last_message_ids: { ...lastSeen } });
  }
  const socket = ioOf(version)(url, options);
  sockets.set(id, socket);
  const manager = socket.io;

  // The engine is replaced on every reconnect; the manager says "open" for each new one.
  const hooked = new WeakSet();
  const hookEngine = () => {
    const engine = manager.engine;
    if (!engine || hooked.has(engine)) return;
    hooked.add(engine);
    engine.on("upgrade", (transport) => out({ type: "upgrade", id, transport: transport.name }));
  };
  hookEngine();
  manager.on("open", hookEngine);
  manager.on("reconnect_attempt", (attempt) => out({ type: "reconnect_attempt", id, attempt }));

  socket.on("connect", () => {
    hookEngine();
    out({ type: "connect", id, sid: socket.id, transport: manager.engine.transport.name });
  });
  socket.on("connect_error", (err) => {
    out({ type: "connect_error", id, message: err.message, data: err.data === undefined ? null : err.data });
  });
  socket.on("disconnect", (reason) => out({ type: "disconnect", id, reason }));
  // An event the server emits with an ack callback ends in a function, which JSON cannot
  // carry: it is left out and said, and never called.
  socket.onAny((event, ...args) => {
    const message = args[0];
    if (event === "receive_message" && message && message.chat_id) {
      lastSeen[message.chat_id] = Math.max(lastSeen[message.chat_id] || 0, message.message_id);
    }
    if (typeof args[args.length - 1] === "function") {
      args.pop();
      out({ type: "event", id, event, args, server_ack: true });
    } else {
      out({ type: "event", id, event, args });
    }
  });
}

function emit({ id, event, data, ack }) {
  const socket = socketOf(id);
  const args = data === undefined ? [] : [data];
  if (ack === undefined || ack === null) {
    socket.emit(event, ...args);
  } else {
    socket.emit(event, ...args, (...answer) => out({ type: "ack", id, n: ack, args: answer }));
  }
}

function connectAgain({ id, auth }) {
  const socket = socketOf(id);
  if (auth !== undefined) socket.auth = auth;
  socket.connect();
}

function closeEngine({ id }) {
  const engine = socketOf(id).io.engine;
  if (!engine) throw new Error(`client ${JSON.stringify(id)} has no engine open`);
  engine.close();
}

const OPS = {
  connect,
  emit,
  disconnect: ({ id }) => socketOf(id).disconnect(),
  connect_again: connectAgain,
  close_engine: closeEngine,
};

const input = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
input.on("line", (line) => {
  if (!line.trim()) return;
  let command;
  try {
    command = JSON.parse(line);
  } catch (e) {
    out({ type: "error", message: `not JSON: ${e.message}: ${line}` });
    return;
  }
  try {
    const op = OPS[command.op];
    if (!op) throw new Error(`unknown op ${JSON.stringify(command.op)}`);
    op(command);
  } catch (e) {
    out({ type: "error", id: command.id, message: e.message });
  }
});
// Open clients keep node's event loop alive: leave explicitly once the test stops talking.
input.on("close", () => {
  for (const socket of sockets.values()) socket.disconnect();
  process.exit(0);
});
