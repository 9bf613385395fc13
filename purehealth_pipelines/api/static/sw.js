// Service worker: the dashboard's offline support. The page shell and its bundled libraries are served from
// the cache when the network or the server is gone (a reload still shows the page), and every API GET is
// network-first with the last good answer kept as the fallback, so the page reopens with the last data it had.
const SHELL = "purehealth-shell-v2";
const API = "purehealth-api-v1";
const SHELL_FILES = [
  "/", "/static/app.js", "/static/app.css", "/static/favicon.svg",
  "/static/vendor/uPlot.iife.min.js", "/static/vendor/uPlot.min.css",
  "/static/vendor/maharashtra_districts.map.geojson",
];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(SHELL).then((cache) => cache.addAll(SHELL_FILES)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(self.clients.claim());
});

async function networkFirst(request, cacheName) {
  const cache = await caches.open(cacheName);
  try {
    const response = await fetch(request);
    if (response.ok) cache.put(request, response.clone());
    return response;
  } catch (error) {
    const cached = await cache.match(request, { ignoreSearch: false });
    if (cached) return cached;
    throw error;
  }
}

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin) return;
  if (url.pathname.startsWith("/api/")) {
    if (url.pathname === "/api/live") return; // tokens are not cached
    event.respondWith(networkFirst(event.request, API));
  } else if (url.pathname === "/" || url.pathname.startsWith("/static/")) {
    event.respondWith(networkFirst(event.request, SHELL));
  }
});
