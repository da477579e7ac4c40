// The live-collaboration WebSocket (docs/realtime.md): one connection for the
// whole page, reconnecting with backoff. Rooms the page is in are re-joined after every
// reconnect, each with the last position its handler has seen, so the server sends exactly
// the events that were missed. Commands travel through the Outbox (outbox.js), which uses
// this socket when it is open.

const BACKOFF_MS = [300, 1000, 2000, 4000, 8000];
const PING_EVERY_MS = 15000;
const PONG_WITHIN_MS = 8000;
const PRESENCE_EVERY_MS = 100; // the server forwards at most ~10 a second anyway
const STABLE_MS = 5000;

export class LiveSocket extends EventTarget {
  constructor(url = LiveSocket.defaultUrl()) {
    super();
    this.url = url;
    this.ws = null;
    this.state = "offline"; // connecting | online | offline
    this.failures = 0;
    this.openedAt = null;
    this.rooms = new Map(); // room -> {onMessage, afterPosition: () => number|null}
    this.presenceOut = new Map(); // room -> {timer, latest, last}
    this.retryTimer = null;
    this.pingTimer = null;
    this.pongTimer = null;
    this.stopped = true;
    this.onAck = () => {};
    this.onCommandError = () => {};
    window.addEventListener("online", () => this.retryNow());
    window.addEventListener("offline", () => this.drop("the browser went offline"));
  }

  static defaultUrl() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    return `${scheme}//${location.host}/api/v1/ws`;
  }

  start() {
    this.stopped = false;
    if (!this.ws) this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.drop("stopped");
  }

  get online() { return this.state === "online"; }

  setState(state, detail = "") {
    if (state === this.state) return;
    this.state = state;
    this.dispatchEvent(new CustomEvent("state", { detail: { state, detail } }));
  }

  connect() {
    clearTimeout(this.retryTimer);
    if (this.stopped || this.ws) return;
    if (navigator.onLine === false) { this.setState("offline", "no network"); return; }
    this.setState("connecting");
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch (e) {
      this.scheduleRetry();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      if (ws !== this.ws) return;
      this.openedAt = performance.now();
      this.setState("online");
      this.startPings();
      for (const room of this.rooms.keys()) this.sendJoin(room);
      this.dispatchEvent(new CustomEvent("open"));
    };
    ws.onmessage = (e) => { if (ws === this.ws) this.receive(e.data); };
    ws.onclose = (e) => {
      if (ws !== this.ws) return;
      this.ws = null;
      this.stopPings();
      // A connection that lasted is a fresh start; one refused right after opening (say, a
      // server without live collaboration) counts as a failure, so the backoff grows and the
      // outbox falls back to HTTP.
      if (this.openedAt !== null && performance.now() - this.openedAt > STABLE_MS) this.failures = 0;
      this.openedAt = null;
      if (e.code === 4401) this.dispatchEvent(new CustomEvent("unauthorized"));
      this.setState("offline", e.reason || `closed (${e.code})`);
      this.dispatchEvent(new CustomEvent("close"));
      this.scheduleRetry();
    };
    ws.onerror = () => {}; // onclose follows and handles it
  }

  /** Close the current connection (if any) and treat it as lost. */
  drop(reason) {
    const ws = this.ws;
    if (!ws) { this.setState("offline", reason); return; }
    this.ws = null;
    this.openedAt = null;
    this.stopPings();
    ws.onclose = null;
    ws.onmessage = null;
    try { ws.close(1000, reason.slice(0, 100)); } catch { /* already closed */ }
    this.setState("offline", reason);
    this.dispatchEvent(new CustomEvent("close"));
    this.scheduleRetry();
  }

  scheduleRetry() {
    if (this.stopped) return;
    clearTimeout(this.retryTimer);
    const base = BACKOFF_MS[Math.min(this.failures, BACKOFF_MS.length - 1)];
    this.failures += 1;
    this.retryTimer = setTimeout(() => this.connect(), base * (0.75 + Math.random() * 0.5));
  }

  retryNow() {
    this.failures = 0;
    if (!this.ws && !this.stopped) this.connect();
  }

  startPings() {
    this.stopPings();
    this.pingTimer = setInterval(() => {
      if (!this.send({ op: "ping" })) return;
      clearTimeout(this.pongTimer);
      this.pongTimer = setTimeout(() => this.drop("no answer to ping"), PONG_WITHIN_MS);
    }, PING_EVERY_MS);
  }

  stopPings() {
    clearInterval(this.pingTimer);
    clearTimeout(this.pongTimer);
  }

  send(message) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(message));
    return true;
  }

  receive(text) {
    let m;
    try { m = JSON.parse(text); } catch { return; }
    if (m.op === "pong") { clearTimeout(this.pongTimer); return; }
    if (m.op === "ack") { this.onAck(m); return; }
    if (m.op === "error") {
      const ref = m.ref;
      if (typeof ref === "string" && ref.startsWith("join:")) {
        const room = ref.slice(5);
        this.rooms.get(room)?.onMessage({ op: "join_error", room, error: m.error });
      } else if (ref !== undefined) {
        this.onCommandError(m);
      } else {
        this.dispatchEvent(new CustomEvent("error", { detail: m.error }));
      }
      return;
    }
    const room = m.room && this.rooms.get(m.room);
    if (!room) return;
    if (m.op === "resync") { this.sendJoin(m.room); return; }
    room.onMessage(m);
  }

  /** Be in ``room`` (now and after every reconnect); ``afterPosition()`` says where to resume. */
  join(room, onMessage, afterPosition = () => null) {
    this.rooms.set(room, { onMessage, afterPosition });
    this.sendJoin(room);
  }

  sendJoin(room) {
    const r = this.rooms.get(room);
    if (!r) return;
    const after = r.afterPosition();
    const msg = { op: "join", room, ref: `join:${room}` };
    if (after !== null && after !== undefined) msg.after_position = after;
    this.send(msg);
  }

  leave(room) {
    if (!this.rooms.delete(room)) return;
    const p = this.presenceOut.get(room);
    if (p) clearTimeout(p.timer);
    this.presenceOut.delete(room);
    this.send({ op: "leave", room });
  }

  /** My cursor/selection in ``room``; sent at most every 100 ms, the latest value always. */
  presence(room, cursor, selection) {
    let p = this.presenceOut.get(room);
    if (!p) { p = { timer: null, latest: null, last: 0 }; this.presenceOut.set(room, p); }
    p.latest = { op: "presence", room, cursor, selection };
    if (p.timer) return;
    const wait = Math.max(0, p.last + PRESENCE_EVERY_MS - performance.now());
    p.timer = setTimeout(() => {
      p.timer = null;
      p.last = performance.now();
      if (this.rooms.has(room)) this.send(p.latest);
    }, wait);
  }
}
