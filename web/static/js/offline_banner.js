// The annotation screen's offline banner: while the server cannot be reached, say so in words,
// with how many changes wait in this browser's outbox (they are sent, once each, when the
// connection is back; outbox.js). A reconnect that succeeds at once does not flash it, and a
// socket refused by a proxy while commands still go over HTTP does not show it either: it is
// shown when the browser is offline, or when the socket is down and work is waiting.

import { h } from "./dom.js";

const SHOW_AFTER_MS = 1500;

/** The banner element; it follows ``socket`` and ``outbox`` until ``destroy()``. */
export function offlineBanner(socket, outbox) {
  const el = h("div", { class: "offline-banner", id: "offline-banner", role: "status",
                        "aria-live": "polite", hidden: true });
  let timer = null;

  function text() {
    const n = outbox.size;
    return n ? `Offline: ${n} change${n === 1 ? "" : "s"} kept in this browser, sent when the connection is back.`
      : "Offline: your changes are kept in this browser and sent when the connection is back.";
  }

  function update() {
    const down = !socket.online && (navigator.onLine === false || outbox.size > 0);
    if (!down) { clearTimeout(timer); timer = null; el.hidden = true; return; }
    el.textContent = text();
    if (!el.hidden || timer) return;
    if (navigator.onLine === false) { el.hidden = false; return; }
    timer = setTimeout(() => { timer = null; update(); if (!socket.online) el.hidden = false; }, SHOW_AFTER_MS);
  }

  socket.addEventListener("state", update);
  outbox.addEventListener("change", update);
  window.addEventListener("online", update);
  window.addEventListener("offline", update);
  update();
  el.destroy = () => {
    clearTimeout(timer);
    socket.removeEventListener("state", update);
    outbox.removeEventListener("change", update);
    window.removeEventListener("online", update);
    window.removeEventListener("offline", update);
  };
  return el;
}
