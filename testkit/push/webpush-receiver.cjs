// The Web Push stand-in for the notifier's tests: a push service (RFC 8030) and the browsers
// subscribed to it in one process. It checks what a real push service checks (the TTL header,
// the aes128gcm content coding, the VAPID token of RFC 8292, the Topic, the 4096-byte limit)
// and then does what the browser would: decrypts the message with the subscription's private
// key and auth secret (RFC 8291) through the http_ece package, an implementation independent
// of ours, and reads the JSON the service worker would show.
//
// Usage: node webpush-receiver.cjs [PORT [CERT KEY]]   (0 or nothing: any free port; with a
// certificate and its key, PEM files, it serves https)
// Prints {"port":N} on stdout once listening; exits when its stdin closes (the test is gone).
//
// HTTP API
//   POST /subscriptions [{applicationServerKey}]  a new browser subscription, answered as
//        PushSubscription.toJSON(): {endpoint, expirationTime, keys: {p256dh, auth}}; with an
//        applicationServerKey, pushes to it must carry that key as VAPID's k (else 403).
//   POST /push/<id>    the push service's push resource.
//   GET  /received     [{device, title, body, data, collapse, topic, ttl, urgency}]
//   GET  /refused      ["<status>: <why>", ...]
//   GET  /requests     pushes seen, accepted or not
//   POST /control      {respond_next: {n, status, retry_after?}} | {forget: id} | {down: bool}
'use strict';

const fs = require('node:fs');
const http = require('node:http');
const https = require('node:https');
const crypto = require('node:crypto');
const ece = require('http_ece');

// RFC 8030 §7.2 leaves the limit to the push service; every browser vendor's is 4096 bytes.
const MAX_PUSH_BODY = 4096;
// RFC 8292 §2: a token must not expire more than 24 hours after the request.
const MAX_TOKEN_AHEAD = 24 * 60 * 60;
const URGENCIES = ['very-low', 'low', 'normal', 'high'];

const subscriptions = new Map(); // id -> {ecdh, auth, applicationServerKey}
const forgotten = new Set();
const received = [];
const refused = [];
const scripted = []; // the next answers, set by respond_next: {status, retryAfter}
let requests = 0;
let down = false;
let origin = '';

// A push service's refusal: the status and a JSON body as Mozilla's autopush writes it.
class Refusal {
  constructor(status, errno, message) {
    this.status = status;
    this.errno = errno;
    this.message = message;
  }
}

function send(res, status, body, headers = {}) {
  const text = body === undefined ? '' : JSON.stringify(body);
  const all = body === undefined ? headers : { 'content-type': 'application/json', ...headers };
  res.writeHead(status, all);
  res.end(text);
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function readJson(buffer) {
  if (buffer.length === 0) return {};
  return JSON.parse(buffer.toString('utf8'));
}

function fromB64url(text) {
  if (typeof text !== 'string' || !/^[A-Za-z0-9_-]*$/.test(text)) return null;
  return Buffer.from(text, 'base64url');
}

function subscribe(options) {
  const ecdh = crypto.createECDH('prime256v1');
  ecdh.generateKeys();
  const auth = crypto.randomBytes(16);
  const id = crypto.randomBytes(12).toString('hex');
  subscriptions.set(id, { ecdh, auth, applicationServerKey: options.applicationServerKey || null });
  return {
    endpoint: `${origin}/push/${id}`,
    expirationTime: null,
    keys: { p256dh: ecdh.getPublicKey().toString('base64url'), auth: auth.toString('base64url') },
  };
}

// RFC 8292 §3: `Authorization: vapid t=<JWT>, k=<public key>`; the JWT signed with ES256 by
// the key k, `aud` this push service's origin, `exp` in the next 24 hours, `sub` a contact.
function checkVapid(authorization, subscription) {
  if (!authorization) throw new Refusal(401, 109, 'no Authorization header');
  const scheme = /^vapid\s+(.*)$/i.exec(authorization);
  if (!scheme) throw new Refusal(401, 109, 'Authorization is not of the vapid scheme');
  const params = {};
  for (const part of scheme[1].split(',')) {
    const at = part.indexOf('=');
    if (at > 0) params[part.slice(0, at).trim()] = part.slice(at + 1).trim();
  }
  if (!params.t || !params.k) throw new Refusal(401, 109, 'vapid needs both t and k');
  const k = fromB64url(params.k);
  if (!k || k.length !== 65 || k[0] !== 0x04) {
    throw new Refusal(401, 109, 'k is not an uncompressed P-256 point in base64url');
  }
  if (subscription.applicationServerKey && params.k !== subscription.applicationServerKey) {
    throw new Refusal(403, 109, 'k is not the key the subscription was made for');
  }
  let publicKey;
  try {
    publicKey = crypto.createPublicKey({
      key: { kty: 'EC', crv: 'P-256', x: k.subarray(1, 33).toString('base64url'), y: k.subarray(33).toString('base64url') },
      format: 'jwk',
    });
  } catch (e) {
    throw new Refusal(401, 109, `k is not a P-256 public key: ${e.message}`);
  }
  const parts = params.t.split('.');
  if (parts.length !== 3) throw new Refusal(401, 109, 't is not a JWT');
  let header;
  let claims;
  try {
    header = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8'));
    claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
  } catch (e) {
    throw new Refusal(401, 109, `t is not a JWT: ${e.message}`);
  }
  if (header.alg !== 'ES256') throw new Refusal(401, 109, `JWT alg is ${header.alg}, not ES256`);
  const signature = fromB64url(parts[2]);
  const signed = Buffer.from(`${parts[0]}.${parts[1]}`);
  const valid = signature && signature.length === 64 &&
    crypto.verify('sha256', signed, { key: publicKey, dsaEncoding: 'ieee-p1363' }, signature);
  if (!valid) throw new Refusal(401, 109, 'the JWT signature does not verify with k');
  if (claims.aud !== origin) throw new Refusal(401, 109, `JWT aud is ${JSON.stringify(claims.aud)}, not ${origin}`);
  const now = Math.floor(Date.now() / 1000);
  if (!Number.isInteger(claims.exp) || claims.exp <= now) throw new Refusal(401, 109, 'JWT exp is not in the future');
  if (claims.exp > now + MAX_TOKEN_AHEAD) throw new Refusal(401, 109, 'JWT exp is more than 24 hours ahead');
  if (typeof claims.sub !== 'string' || !/^(mailto:[^@\s]+@\S+|https:\/\/\S+)$/.test(claims.sub)) {
    throw new Refusal(401, 109, `JWT sub ${JSON.stringify(claims.sub)} is not a mailto: or https: URI`);
  }
}

// The service worker's view: {title, body, tag, data} with string values in data.
function readPayload(plaintext) {
  let message;
  try {
    message = JSON.parse(plaintext.toString('utf8'));
  } catch (e) {
    throw new Refusal(400, 999, `the decrypted payload is not JSON: ${e.message}`);
  }
  const strings = (o) => o && typeof o === 'object' && !Array.isArray(o) &&
    Object.values(o).every((v) => typeof v === 'string');
  if (typeof message.title !== 'string' || typeof message.body !== 'string' ||
      !(message.tag === null || typeof message.tag === 'string') || !strings(message.data)) {
    throw new Refusal(400, 999, `the payload is not {title, body, tag, data}: ${plaintext.toString('utf8')}`);
  }
  return message;
}

function acceptPush(id, req, body) {
  if (forgotten.has(id)) throw new Refusal(410, 106, `subscription ${id} has expired`);
  const subscription = subscriptions.get(id);
  if (!subscription) throw new Refusal(404, 102, `no subscription ${id}`);
  const ttl = req.headers.ttl;
  if (ttl === undefined || !/^\d+$/.test(ttl)) throw new Refusal(400, 111, `TTL header missing or not a non-negative integer: ${ttl}`);
  const urgency = req.headers.urgency;
  if (urgency !== undefined && !URGENCIES.includes(urgency)) throw new Refusal(400, 999, `Urgency ${urgency} is not one of ${URGENCIES}`);
  const topic = req.headers.topic;
  if (topic !== undefined && !/^[A-Za-z0-9_-]{1,32}$/.test(topic)) {
    throw new Refusal(400, 113, `Topic ${JSON.stringify(topic)} is not 1 to 32 characters of the URL-safe base64 alphabet`);
  }
  checkVapid(req.headers.authorization, subscription);
  if (body.length > MAX_PUSH_BODY) throw new Refusal(413, 104, `body of ${body.length} bytes is over ${MAX_PUSH_BODY}`);
  if (body.length === 0) throw new Refusal(400, 999, 'no payload: the service worker would have nothing to show');
  const encoding = req.headers['content-encoding'];
  if (encoding !== 'aes128gcm') throw new Refusal(400, 110, `Content-Encoding ${encoding} is not aes128gcm`);
  let plaintext;
  try {
    plaintext = ece.decrypt(body, { version: 'aes128gcm', privateKey: subscription.ecdh, authSecret: subscription.auth });
  } catch (e) {
    throw new Refusal(400, 999, `the browser cannot decrypt it: ${e.message}`);
  }
  const message = readPayload(plaintext);
  received.push({
    device: id,
    title: message.title,
    body: message.body,
    data: message.data,
    collapse: message.tag,
    topic: topic === undefined ? null : topic,
    ttl: Number(ttl),
    urgency: urgency === undefined ? null : urgency,
  });
}

async function push(id, req, res) {
  const body = await readBody(req);
  requests += 1;
  if (down) return send(res, 503, { code: 503, errno: 201, error: 'Service Unavailable', message: 'down' });
  const next = scripted.shift();
  if (next) {
    const headers = next.retryAfter === undefined || next.retryAfter === null ? {} : { 'retry-after': String(next.retryAfter) };
    return send(res, next.status, { code: next.status, errno: 999, error: http.STATUS_CODES[next.status], message: 'scripted' }, headers);
  }
  try {
    acceptPush(id, req, body);
  } catch (e) {
    if (!(e instanceof Refusal)) throw e;
    refused.push(`${e.status}: ${e.message}`);
    return send(res, e.status, { code: e.status, errno: e.errno, error: http.STATUS_CODES[e.status], message: e.message });
  }
  send(res, 201, undefined, { location: `${origin}/m/${crypto.randomBytes(12).toString('hex')}` });
}

function control(command) {
  if (command.respond_next) {
    const { n, status, retry_after: retryAfter } = command.respond_next;
    for (let i = 0; i < n; i += 1) scripted.push({ status, retryAfter });
  } else if (typeof command.forget === 'string') {
    subscriptions.delete(command.forget);
    forgotten.add(command.forget);
  } else if (typeof command.down === 'boolean') {
    down = command.down;
  } else {
    return false;
  }
  return true;
}

async function route(req, res) {
  const path = new URL(req.url, origin).pathname;
  const pushId = /^\/push\/([^/]+)$/.exec(path);
  if (req.method === 'POST' && pushId) return push(pushId[1], req, res);
  if (req.method === 'POST' && path === '/subscriptions') return send(res, 201, subscribe(readJson(await readBody(req))));
  if (req.method === 'GET' && path === '/received') return send(res, 200, received);
  if (req.method === 'GET' && path === '/refused') return send(res, 200, refused);
  if (req.method === 'GET' && path === '/requests') return send(res, 200, requests);
  if (req.method === 'POST' && path === '/control') {
    const ok = control(readJson(await readBody(req)));
    return ok ? send(res, 204) : send(res, 400, { error: 'unknown control command' });
  }
  return send(res, 404, { error: `no route ${req.method} ${path}` });
}

// With a certificate and its key (argv 3 and 4), https, as every real push service.
const [certFile, keyFile] = process.argv.slice(3);
const tls = certFile && keyFile;
const handler = (req, res) => {
  route(req, res).catch((e) => {
    process.stderr.write(`webpush-receiver: ${req.method} ${req.url}: ${e.stack}\n`);
    if (!res.headersSent) send(res, 500, { error: e.message });
  });
};
const server = tls
  ? https.createServer({ cert: fs.readFileSync(certFile), key: fs.readFileSync(keyFile) }, handler)
  : http.createServer(handler);

server.listen(Number(process.argv[2] || 0), '127.0.0.1', () => {
  const { port } = server.address();
  origin = `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  process.stdout.write(`${JSON.stringify({ port })}\n`);
});

// The test that started it holds its stdin: when the test ends, however it ends, so does this.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
