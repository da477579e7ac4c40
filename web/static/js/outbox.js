// Commands on their way to the server, in the order they were made.
//
// Every command carries a client-made command_id, so sending one twice is harmless: the server
// answers a repeat with the first result and records nothing new. That is what makes the queue
// safe: a command whose answer was lost with the connection is simply sent again. The queue is
// kept in localStorage (per user), so commands made offline survive a reload too.
//
// Single commands go over the live socket when it is open (its ack comes back by ref); a batch
// ({"commands": [...]}, applied atomically) goes over HTTP once everything before it is
// settled. When the socket keeps failing while the network is up, singles go over HTTP too.
//
// Each tab keeps its own queue (two tabs of one person must not overwrite each other's); the
// queue of a tab that was closed before it could send is taken over by the next tab.

import { api } from "./api.js";

const RETRYABLE = new Set(["rate_limited", "not_ready", "internal", "network"]);
const RETRY_MS = 2000;
const HEARTBEAT_MS = 15000;
const ORPHAN_MS = 60000;

/** An id for this browser tab that survives a reload of the tab (sessionStorage). */
function tabId() {
  let id = sessionStorage.getItem("lw.tab");
  if (!id) {
    id = crypto.getRandomValues(new Uint32Array(2)).join("-");
    sessionStorage.setItem("lw.tab", id);
  }
  return id;
}

export class Outbox extends EventTarget {
  constructor(socket, username) {
    super();
    this.socket = socket;
    this.prefix = `lw.outbox.v1.${username}.`;
    this.key = this.prefix + tabId();
    this.entries = this.load();
    this.httpInFlight = false;
    this.retryTimer = null;
    // While this tab lives it says so; a tab silent for longer than ORPHAN_MS was closed, and
    // the next tab of the same user to start adopts what it left unsent.
    this.heartbeat = setInterval(() => this.save(), HEARTBEAT_MS);
    // Closing (or leaving) the tab hands its queue over at once.
    this.onHide = () => this.save(0);
    window.addEventListener("pagehide", this.onHide);
    socket.onAck = (m) => this.acknowledged(m.ref, m, null);
    socket.onCommandError = (m) => this.failed(m.ref, m.error);
    socket.addEventListener("open", () => this.flush());
    socket.addEventListener("close", () => {
      for (const e of this.entries) if (e.state === "sent" && e.via === "ws") e.state = "queued";
      this.changed();
      // After the socket has counted this failure: enough failures switch singles to HTTP.
      setTimeout(() => this.flush(), 0);
    });
    window.addEventListener("online", () => this.flush());
  }

  /** This tab's queue (kept across a reload), plus the queues of closed tabs of this user. */
  load() {
    const entries = [];
    const now = Date.now();
    for (let i = localStorage.length - 1; i >= 0; i--) {
      const key = localStorage.key(i);
      if (!key || !key.startsWith(this.prefix)) continue;
      let stored;
      try { stored = JSON.parse(localStorage.getItem(key)); } catch { stored = null; }
      const mine = key === this.key;
      if (!mine && stored && now - (stored.at || 0) < ORPHAN_MS) continue; // a live tab's
      if (stored && Array.isArray(stored.entries)) entries.push(...stored.entries);
      if (!mine) localStorage.removeItem(key);
    }
    return entries.map((e) => ({ ...e, state: "queued", via: null }));
  }

  save(at = Date.now()) {
    const plain = this.entries.map(({ ref, image_id, body }) => ({ ref, image_id, body }));
    try {
      localStorage.setItem(this.key, JSON.stringify({ at, entries: plain }));
    } catch { /* storage full or unavailable: the queue lives in memory only */ }
  }

  stop() {
    clearInterval(this.heartbeat);
    window.removeEventListener("pagehide", this.onHide);
  }

  changed() {
    this.save();
    this.dispatchEvent(new CustomEvent("change", { detail: { size: this.entries.length } }));
  }

  get size() { return this.entries.length; }

  forImage(imageId) { return this.entries.filter((e) => e.image_id === imageId); }

  /** Queue one command, or a batch {commands: [...]}; returns its entry (ref = first command_id). */
  push(imageId, body) {
    const first = body.commands ? body.commands[0] : body;
    const entry = { ref: first.command_id, image_id: imageId, body, state: "queued", via: null };
    this.entries.push(entry);
    this.changed();
    this.flush();
    return entry;
  }

  useHttpForSingles() {
    return !this.socket.online && this.socket.failures >= 2 && navigator.onLine !== false;
  }

  flush() {
    clearTimeout(this.retryTimer);
    for (let i = 0; i < this.entries.length; i++) {
      const entry = this.entries[i];
      if (entry.state === "sent") {
        if (entry.via === "http") return; // HTTP goes one at a time, in order
        continue;
      }
      const batch = Boolean(entry.body.commands);
      if (batch || this.useHttpForSingles()) {
        // Over HTTP only once everything before it is settled: order is kept across transports.
        if (i > 0 || navigator.onLine === false) return;
        this.sendHttp(entry);
        return;
      }
      if (!this.socket.online) {
        // Look again soon: the socket may come back, or fail often enough for HTTP to take over.
        this.retryLater();
        return;
      }
      if (!this.socket.send({ op: "command", ref: entry.ref, image_id: entry.image_id,
                              ...entry.body })) return;
      entry.state = "sent";
      entry.via = "ws";
    }
  }

  async sendHttp(entry) {
    entry.state = "sent";
    entry.via = "http";
    let result;
    try {
      result = await api.commands(entry.image_id, entry.body);
    } catch (e) {
      if (!this.entries.includes(entry)) return;
      if (RETRYABLE.has(e.code) || e.status >= 500) {
        entry.state = "queued";
        this.retryLater();
      } else {
        this.failed(entry.ref, { code: e.code, message: e.message, details: e.details });
      }
      return;
    }
    this.acknowledged(entry.ref, result, result.events || []);
  }

  retryLater() {
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.flush(), RETRY_MS);
  }

  acknowledged(ref, result, events) {
    const i = this.entries.findIndex((e) => e.ref === ref);
    if (i < 0) return;
    const [entry] = this.entries.splice(i, 1);
    this.changed();
    this.dispatchEvent(new CustomEvent("settled", { detail: { entry, result, events } }));
    this.flush();
  }

  failed(ref, error) {
    const i = this.entries.findIndex((e) => e.ref === ref);
    if (i < 0) return;
    const entry = this.entries[i];
    if (RETRYABLE.has(error.code)) {
      entry.state = "queued";
      this.retryLater();
      return;
    }
    this.entries.splice(i, 1);
    this.changed();
    this.dispatchEvent(new CustomEvent("rejected", { detail: { entry, error } }));
    this.flush();
  }
}
