// Notifications while the page is closed: the browser's push subscription (Web Push, with the
// server's VAPID key), registered as one of the user's devices. Permission is asked for only
// when the user clicks the button, as browsers require and as people prefer; signing out
// forgets the device, so the next person on this browser does not get the last one's pushes.

import { $, Refusal, describe, say } from "./dom.js";

const WORKER = "/web/sw.js";
// The worker shows pushes; it needs no pages of its own to control.
const SCOPE = "/web/";
// localStorage: which account this browser's subscription was registered for, as which device.
const DEVICE_KEY = "chat-suite.push-device";

const supported = () => "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;

let session = null;

/** Shows the button as the browser, the server and the user's past choice allow. */
export async function setUpNotifications(current) {
  session = current;
  const button = $("notifications");
  button.hidden = true;
  say($("notifications-status"), "");
  if (!supported() || !(await serverKey())) return;
  if (Notification.permission === "denied") {
    return say($("notifications-status"), "Notifications are blocked for this site in the browser's settings.");
  }
  button.hidden = false;
  label(await subscribedHere());
}

/** Forgets this browser's device of the signed-in user (before signing out). */
export async function forgetDevice() {
  if (!supported() || !session) return;
  const registration = await navigator.serviceWorker.getRegistration(SCOPE);
  await (await registration?.pushManager.getSubscription())?.unsubscribe().catch(() => {});
  const mine = recorded();
  localStorage.removeItem(DEVICE_KEY);
  if (mine?.user_id === session.userId) {
    await session.api(`/me/devices/${mine.device_id}`, { method: "DELETE" }).catch(() => {});
  }
}

$("notifications").addEventListener("click", async () => {
  const button = $("notifications");
  button.disabled = true;
  try {
    if (await subscribedHere()) {
      await forgetDevice();
      label(false);
      say($("notifications-status"), "Notifications are off.");
    } else {
      await subscribe();
      label(true);
      say($("notifications-status"), "Notifications are on: messages that arrive while this page is closed show up.");
    }
  } catch (error) {
    say($("notifications-status"), `Could not turn notifications on: ${describe(error)}`);
  } finally {
    button.disabled = false;
  }
});

async function subscribe() {
  if ((await Notification.requestPermission()) !== "granted") {
    throw new Refusal("the browser was not allowed to show notifications.");
  }
  const key = await serverKey();
  const registration = await navigator.serviceWorker.register(WORKER, { scope: SCOPE });
  await activated(registration);
  let subscription = await registration.pushManager.getSubscription();
  // A subscription made for another key (the server's key changed) would be refused.
  if (subscription && base64Url(subscription.options.applicationServerKey) !== key) {
    await subscription.unsubscribe();
    subscription = null;
  }
  subscription ??= await registration.pushManager.subscribe({
    userVisibleOnly: true,
    applicationServerKey: fromBase64Url(key),
  });
  const device = await session.api("/me/devices", {
    method: "POST",
    body: { platform: "webpush", subscription: subscription.toJSON() },
  });
  localStorage.setItem(DEVICE_KEY, JSON.stringify({ user_id: session.userId, device_id: device.device_id }));
}

/** Whether this browser holds a subscription registered for the signed-in user. */
async function subscribedHere() {
  if (recorded()?.user_id !== session?.userId || Notification.permission !== "granted") return false;
  const registration = await navigator.serviceWorker.getRegistration(SCOPE);
  return Boolean(await registration?.pushManager.getSubscription());
}

function label(on) {
  $("notifications").textContent = on ? "Turn off notifications" : "Turn on notifications";
  $("notifications").setAttribute("aria-pressed", String(on));
}

function recorded() {
  try {
    return JSON.parse(localStorage.getItem(DEVICE_KEY));
  } catch {
    return null;
  }
}

let key;
/** The server's VAPID public key, or null when it has no Web Push (204). */
async function serverKey() {
  key ??= fetch("/push/vapid-public-key", { headers: { Accept: "application/json" } })
    .then((response) => (response.status === 200 ? response.json() : null))
    .then((body) => body?.public_key ?? null)
    .catch(() => null);
  return key;
}

/** Resolves once the registration's worker is active (pushManager.subscribe needs it). */
function activated(registration) {
  return new Promise((resolve) => {
    if (registration.active) return resolve();
    const worker = registration.installing ?? registration.waiting;
    worker.addEventListener("statechange", () => worker.state === "activated" && resolve());
  });
}

function fromBase64Url(text) {
  const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
  return Uint8Array.from(atob(base64 + "=".repeat((4 - (base64.length % 4)) % 4)), (c) => c.charCodeAt(0));
}

function base64Url(buffer) {
  if (!buffer) return null;
  return btoa(String.fromCharCode(...new Uint8Array(buffer))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
