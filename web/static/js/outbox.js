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

import { api } from "./api.js";

const RETRYABLE = new Set(["rate_limited", "not_ready", "internal", "network"]);
const RETRY_MS = 2000;

export class Outbox extends EventTarget {
  constructor(socket, username) {
    super();
    this.socket = socket;
    this.key = `lw.outbox.v1.${username}`;
    this.entries = this.load();
    this.httpInFlight = false;
    this.retryTimer = null;
    socket.onAck = (m) => this.acknowledged(m.ref, m, null);
    socket.onCommandError = (m) => this.failed(m.ref, m.error);
    socket.addEventListener("open", () => this.flush());
    socket.addEventListener("close", () => {
      for (const e of this.entries) if (e.state === "sent" && e.via === "ws") e.state = "queued";
      this.changed();
    });
    window.addEventListener("online", () => this.flush());
  }

  load() {
    try {
      const stored = JSON.parse(localStorage.getItem(this.key) || "[]");
      return stored.map((e) => ({ ...e, state: "queued", via: null }));
    } catch {
      return [];
    }
  }

  save() {
    const plain = this.entries.map(({ ref, image_id, body }) => ({ ref, image_id, body }));
    try { localStorage.setItem(this.key, JSON.stringify(plain)); } catch { /* quota: memory only */ }
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
      if (!this.socket.online) return;
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
