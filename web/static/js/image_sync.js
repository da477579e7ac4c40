// Keeps one image's ImageLabels in step with the server.
//
// The first state comes over HTTP (so the canvas fills even before the socket is up); then the
// page joins the image's room with after_position = the last position it has, and the server
// sends exactly the events after it. Every later reconnect does the same, so a dropped
// connection resumes where it stopped. A gap in the versions (which the protocol rules out,
// but a missed message would cause) re-joins from the last good position.

import { api } from "./api.js";

export class ImageSync extends EventTarget {
  constructor({ imageId, labels, socket, outbox, presence }) {
    super();
    this.imageId = imageId;
    this.room = `image:${imageId}`;
    this.labels = labels;
    this.socket = socket;
    this.outbox = outbox;
    this.presence = presence;
    this.loaded = false;
    this.reloadTimer = null;
    this.onSettled = (e) => this.settled(e.detail);
    this.onRejected = (e) => this.rejected(e.detail);
    outbox.addEventListener("settled", this.onSettled);
    outbox.addEventListener("rejected", this.onRejected);
  }

  /** Show the current state (``snapshot``: a pending GET /annotations, if already asked). */
  async load(imageStatus, snapshot = api.annotations(this.imageId)) {
    snapshot = await snapshot;
    this.labels.reset({ ...snapshot, status: imageStatus });
    // Commands made earlier on this image that are still on their way (offline, or a reload
    // before they were sent) are shown on top of the server's state.
    for (const entry of this.outbox.forImage(this.imageId)) {
      const list = entry.body.commands || [entry.body];
      for (const c of list) this.labels.addPending(entry.ref, c);
    }
    this.loaded = true;
    this.socket.join(this.room, (m) => this.message(m), () => (this.loaded ? this.labels.position : null));
  }

  destroy() {
    this.socket.leave(this.room);
    this.outbox.removeEventListener("settled", this.onSettled);
    this.outbox.removeEventListener("rejected", this.onRejected);
    clearTimeout(this.reloadTimer);
  }

  message(m) {
    switch (m.op) {
      case "joined":
        if (!m.resumed) this.labels.reset(m); // full state; missed events follow otherwise
        this.presence.setMembers(m.members || []);
        this.dispatchEvent(new CustomEvent("joined", { detail: m }));
        break;
      case "event":
        if (!this.labels.applyEvent(m)) this.socket.sendJoin(this.room);
        break;
      case "presence":
        this.presence.update(m);
        break;
      case "member_joined":
        this.presence.joined(m.user);
        break;
      case "member_left":
        this.presence.left(m.user);
        break;
      case "join_error":
        this.dispatchEvent(new CustomEvent("problem", { detail: m.error }));
        break;
      default:
        break;
    }
  }

  settled({ entry, result, events }) {
    if (entry.image_id !== this.imageId) return;
    if (events && events.length) {
      // An HTTP answer carries its events: apply them now (duplicates of room events are
      // recognised by version and skipped).
      for (const ev of events) {
        const ok = this.labels.applyEvent({ version: ev.version, position: ev.position,
          event: { type: ev.type, actor: ev.actor, at: ev.at, command_id: ev.command_id, data: ev.data } });
        if (!ok) { this.reloadSoon(); break; }
      }
    }
    if (this.labels.version >= result.version) {
      this.labels.dropPending(entry.ref); // confirmed (a resent command answers its first result)
    } else if (!this.socket.online) {
      this.reloadSoon();
    }
    this.dispatchEvent(new CustomEvent("settled", { detail: { entry, result } }));
  }

  rejected({ entry, error }) {
    if (entry.image_id !== this.imageId) return;
    this.labels.dropPending(entry.ref);
    const current = error.details && error.details.version;
    if (current && current > this.labels.version && !this.socket.online) this.reloadSoon();
    this.dispatchEvent(new CustomEvent("rejected", { detail: { entry, error } }));
  }

  /** Without a live room, fetch the state over HTTP (once, shortly). */
  reloadSoon() {
    clearTimeout(this.reloadTimer);
    this.reloadTimer = setTimeout(async () => {
      try {
        const snapshot = await api.annotations(this.imageId);
        if (snapshot.version > this.labels.version) this.labels.reset({ ...snapshot, status: null });
      } catch { /* offline: the next reconnect resumes from the room */ }
    }, 300);
  }
}
