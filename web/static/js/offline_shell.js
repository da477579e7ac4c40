// Registers the service worker (sw.js, served at /sw.js) that keeps the app shell for an
// offline reload. Without service workers (an insecure origin other than localhost, or an old
// browser) the app works as before, only not reloadable offline.

export function registerOfflineShell() {
  if (!("serviceWorker" in navigator)) return;
  navigator.serviceWorker.register("/sw.js", { scope: "/", updateViaCache: "none" })
    .catch((e) => console.warn("The offline app shell is unavailable:", e.message));
}
