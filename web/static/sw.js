// The service worker: the app shell (the page, its modules, CSS and icon) from a cache, so the
// app reloads while the server cannot be reached; the outbox (outbox.js, localStorage) and the
// kept image (offline_image.js) then show the queued work.
//
// Served at /sw.js (scope: the whole app) by web/endpoints/ui.py, which writes in the release
// (a hash over every static file) and the shell's URLs. The cache is named after the release,
// so a deploy installs a new worker with a new cache and the old one is deleted.
//
// Network first: online, every answer comes from the server (and refreshes the cache), the
// cache only answers when the network fails. Only the shell's own URLs are handled; API calls,
// images, the WebSocket and the login never pass through here and are never cached.

const RELEASE = "__RELEASE__";
const SHELL = ["__SHELL__"];
const PREFIX = "labelwright-shell-";
const CACHE = PREFIX + RELEASE;

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE)
    // The page has just loaded these (immutable URLs): mostly answered from the HTTP cache.
    .then((cache) => cache.addAll(SHELL))
    .then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(caches.keys()
    .then((keys) => Promise.all(keys.filter((k) => k.startsWith(PREFIX) && k !== CACHE).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});

/** The shell URL a request stands for (the page for "/" and its hash routes), or null. */
function shellUrl(request) {
  if (request.method !== "GET") return null;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return null;
  if (url.pathname === "/") return "/";
  return SHELL.includes(url.pathname) ? url.pathname : null;
}

async function networkFirst(request, key) {
  const cache = await caches.open(CACHE);
  try {
    const response = await fetch(request);
    // The modules were cached at install (their URLs are immutable); only the page is refreshed.
    if (key === "/" && response.ok && response.type === "basic") await cache.put(key, response.clone());
    return response;
  } catch (error) {
    const cached = await cache.match(key);
    if (cached) return cached;
    throw error;
  }
}

self.addEventListener("fetch", (event) => {
  const key = shellUrl(event.request);
  if (key) event.respondWith(networkFirst(event.request, key));
});
