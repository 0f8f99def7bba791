// Service worker: keeps the pages themselves available without the hub, so that a reload or a
// browser restart while the Wi-Fi or the hub is down still opens the scanner, which then shows
// the scans waiting in its IndexedDB outbox. Network first (a new version is used as soon as the
// hub serves it), the cached copy when the hub cannot be reached. Only the pages' own files are
// cached: never the API, the websocket or anything else the hub answers, and never a URL with a
// query string (a wall screen's `?token=` is a secret; a page's query changes nothing it is made of:
// offline, such a URL gets the cached copy of its page).

const CACHE = "tracetrack-shell-v8"; // a new name: activating drops older caches and what they held
const SHELL = [
  "/", "/index.html", "/scanner.html", "/bills.html", "/returns.html", "/css/app.css", "/icon.svg",
  "/js/bagcodes.js", "/js/bills.js", "/js/feedback.js", "/js/link.js", "/js/login.js", "/js/messages.js",
  "/js/msgpack.js", "/js/nav.js", "/js/outbox.js", "/js/pagestate.js", "/js/returns.js", "/js/scanner.js", "/js/session.js", "/js/ui.js",
];
const NETWORK_TIMEOUT_MS = 4000;
const NEVER = ["/api/", "/ws/"];
const PAGE_FILE = /(^\/$|\.(html|js|css|svg|png|ico|webmanifest)$)/; // the pages' own files, nothing else

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) if (name !== CACHE) await caches.delete(name);
    await self.clients.claim();
  })());
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) return;
  if (NEVER.some((prefix) => url.pathname.startsWith(prefix)) || !PAGE_FILE.test(url.pathname)) return;
  event.respondWith(networkFirst(request));
});

async function networkFirst(request) {
  const cache = await caches.open(CACHE);
  try {
    const response = await withTimeout(fetch(request, { cache: "no-cache" }), NETWORK_TIMEOUT_MS);
    if (response.ok && !new URL(request.url).search) await cache.put(request, response.clone());
    return response;
  } catch (error) {
    const cached = await cache.match(request, { ignoreSearch: true });
    if (cached) return cached;
    throw error;
  }
}

function withTimeout(promise, ms) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("network timeout")), ms);
    promise.then((value) => { clearTimeout(timer); resolve(value); }, (error) => { clearTimeout(timer); reject(error); });
  });
}
