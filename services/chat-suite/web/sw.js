// The web client's service worker: shows a push as a notification while the page is closed
// (the server pushes only to users with no live connection), one per chat (the push's tag
// is the chat: a newer push replaces the banner), and opens the page when one is clicked.
// The payload is what the notifier encrypts: {title, body, tag, data}.

self.addEventListener("push", (event) => {
  let push = {};
  try {
    push = event.data?.json() ?? {};
  } catch {
    // Not ours to read: say something rather than nothing (a push must show a notification).
  }
  event.waitUntil(
    self.registration.showNotification(push.title || "chat-suite", {
      body: push.body || "",
      tag: push.tag || undefined,
      renotify: Boolean(push.tag),
      data: push.data || {},
      icon: "/web/icon.svg",
    }),
  );
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  event.waitUntil(
    (async () => {
      const pages = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
      const page = pages.find((client) => new URL(client.url).pathname === "/");
      return page ? page.focus() : self.clients.openWindow("/");
    })(),
  );
});
