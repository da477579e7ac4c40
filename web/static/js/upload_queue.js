// Uploading many image files to a project (POST /projects/{id}/images, multipart parts named
// "file"), in requests well below the server's limits, with progress and a result per file.
//
// The server records a request all or nothing (docs/api.md): one file that is not an image
// refuses the whole request, naming the file (details.index / details.file_name). The queue then
// marks that file refused with the server's message and sends the rest again, so one bad file
// never costs the others. A 413 that names no file (a proxy with a smaller limit) halves the
// request; a lost connection marks that request's files failed (they can be retried).

import { upload, ApiError } from "./api.js";

/** The server's limits (docs/security.md "Limits"; the API does not expose them). */
export const LIMITS = {
  maxFileBytes: 64 * 1024 * 1024,  // one image file
  maxRequestBytes: 512 * 1024 * 1024,  // one upload request
  maxFiles: 1000,  // parts in one request
};
/** What one request carries at most: far below the limits, so progress moves and a refused
 * request costs little. */
export const BATCH = { bytes: 16 * 1024 * 1024, files: 50 };
const PART_OVERHEAD = 512;  // multipart headers per file, generously

// docs/api.md: JPEG, PNG, GIF, BMP, TIFF or WebP (service_layer/image_registration.py).
const IMAGE_EXTENSIONS = [".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"];
const IMAGE_TYPES = ["image/jpeg", "image/png", "image/bmp", "image/gif", "image/tiff", "image/webp"];

function extension(name) {
  const i = name.lastIndexOf(".");
  return i > 0 ? name.slice(i).toLowerCase() : "";
}

/** Why ``file`` is not sent, in plain words, or null when it is sent. */
export function skipReason(file, limits = LIMITS) {
  const base = file.name.split("/").pop();
  if (base.startsWith(".")) return "not sent: a hidden file";
  if (!IMAGE_EXTENSIONS.includes(extension(file.name)) && !IMAGE_TYPES.includes(file.type)) {
    return "not sent: not a JPEG, PNG, GIF, BMP, TIFF or WebP image";
  }
  if (file.size > limits.maxFileBytes) {
    return `not sent: larger than the ${Math.round(limits.maxFileBytes / 1024 / 1024)} MiB an image may have`;
  }
  return null;
}

/** Split ``items`` ({file}) into requests of at most ``batch.bytes`` (a bigger file goes
 * alone) and ``batch.files`` files. */
export function planBatches(items, batch = BATCH) {
  const out = [];
  let current = [];
  let bytes = 0;
  for (const item of items) {
    const size = item.file.size + PART_OVERHEAD;
    if (current.length && (bytes + size > batch.bytes || current.length >= batch.files)) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    current.push(item);
    bytes += size;
  }
  if (current.length) out.push(current);
  return out;
}

/** Which of ``batch``'s items a refusal names: by part index, else by file name. */
function namedItem(batch, details) {
  if (Number.isInteger(details.index) && batch[details.index]) return batch[details.index];
  if (typeof details.file_name === "string") {
    return batch.find((it) => it.file.name === details.file_name) || null;
  }
  return null;
}

/**
 * A queue of files for one project. Each item: ``{id, file, path, size, state, message, image}``
 * where ``state`` is "skipped", "waiting", "sending", "added", "duplicate", "refused",
 * "failed" or "cancelled". Events: "change" (an item or the progress changed), "done".
 */
export class UploadQueue extends EventTarget {
  constructor(projectId, { limits = LIMITS, batch = BATCH, send = upload } = {}) {
    super();
    this.projectId = projectId;
    this.limits = limits;
    this.batch = batch;
    this.send = send;
    this.items = [];
    this.running = false;
    this.controller = null;
    this.sentBytes = 0;  // bytes of files finished (any result) in this run
    this.inFlight = 0;  // bytes of the request being sent, so far
    this.nextId = 1;
    this.position = null;  // the log position of the last images added (read-your-writes)
  }

  /** Add files ({file, path?} or File); the ones not to send are marked skipped. */
  add(entries) {
    const added = [];
    for (const entry of entries) {
      const file = entry instanceof File ? entry : entry.file;
      const path = (entry instanceof File ? file.webkitRelativePath : entry.path) || file.name;
      const reason = skipReason(file, this.limits);
      const item = { id: this.nextId++, file, path, size: file.size,
                     state: reason ? "skipped" : "waiting", message: reason, image: null };
      this.items.push(item);
      added.push(item);
    }
    this.changed();
    return added;
  }

  /** Counts of items by state, and bytes: {total, done, bytesTotal, bytesDone, ...states}. */
  progress() {
    const p = { added: 0, duplicate: 0, refused: 0, failed: 0, cancelled: 0, skipped: 0,
                waiting: 0, sending: 0 };
    let bytesTotal = 0;
    let bytesDone = 0;
    for (const it of this.items) {
      p[it.state] += 1;
      if (it.state === "skipped") continue;
      bytesTotal += it.size;
      if (it.state !== "waiting" && it.state !== "sending") bytesDone += it.size;
    }
    const sending = this.items.filter((it) => it.state === "sending").reduce((s, it) => s + it.size, 0);
    bytesDone += Math.min(this.inFlight, sending);
    const toSend = this.items.filter((it) => it.state !== "skipped").length;
    return { ...p, total: toSend, done: toSend - p.waiting - p.sending, bytesTotal, bytesDone };
  }

  changed() { this.dispatchEvent(new Event("change")); }

  /** Send every waiting item; resolves when the queue is empty or cancelled. */
  async start() {
    if (this.running) return;
    this.running = true;
    this.controller = new AbortController();
    const signal = this.controller.signal;
    try {
      let pending = [];
      while (!signal.aborted) {
        // Files added while a run goes on are planned once the planned requests are sent.
        if (!pending.length) pending = planBatches(this.items.filter((it) => it.state === "waiting"), this.batch);
        if (!pending.length) break;
        const batch = pending.shift();
        const rest = await this.sendBatch(batch, signal);
        if (rest.length) pending = [...rest, ...pending];
      }
    } finally {
      for (const it of this.items) {
        if (it.state === "waiting" || it.state === "sending") {
          it.state = "cancelled";
          it.message = "not uploaded: cancelled";
        }
      }
      this.running = false;
      this.inFlight = 0;
      this.controller = null;
      this.changed();
      this.dispatchEvent(new Event("done"));
    }
  }

  cancel() { if (this.controller) this.controller.abort(); }

  /** Put failed and cancelled items back to waiting (then ``start`` again). */
  retryFailed() {
    let n = 0;
    for (const it of this.items) {
      if (it.state === "failed" || it.state === "cancelled") {
        it.state = "waiting";
        it.message = null;
        n += 1;
      }
    }
    this.changed();
    return n;
  }

  /** Send one request; returns batches still to send (what a refusal left, or halves). */
  async sendBatch(batch, signal) {
    for (const it of batch) it.state = "sending";
    this.inFlight = 0;
    this.sentAll = false;
    this.changed();
    const form = new FormData();
    for (const it of batch) form.append("file", it.file, it.file.name);
    let answer;
    try {
      answer = await this.send(`/projects/${this.projectId}/images`, form, {
        signal,
        onProgress: (sent, total) => {
          this.inFlight = sent;
          this.sentAll = total !== null && sent >= total;
          this.changed();
        },
      });
    } catch (e) {
      this.inFlight = 0;
      return this.refused(batch, e);
    }
    this.inFlight = 0;
    const rows = (answer && answer.images) || [];
    if (answer && Number.isInteger(answer.position)) this.position = Math.max(this.position || 0, answer.position);
    batch.forEach((it, i) => {
      const row = rows[i];
      it.image = row || null;
      if (row && row.created === false) {
        it.state = "duplicate";
        it.message = row.file_name && row.file_name !== it.file.name
          ? `already in the project (as ${row.file_name})` : "already in the project";
      } else {
        it.state = "added";
        it.message = null;
      }
    });
    this.changed();
    return [];
  }

  refused(batch, e) {
    const err = e instanceof ApiError ? e : new ApiError(0, "network", String(e && e.message || e));
    if (err.code === "aborted") {
      // Cancelled once every byte was sent, the server may have added them all the same.
      const message = this.sentAll ? "cancelled while the server was adding it: it may be in the "
        + "project (Retry tells)" : "not uploaded: cancelled";
      for (const it of batch) { it.state = "cancelled"; it.message = message; }
      this.changed();
      return [];
    }
    const details = err.details || {};
    const named = err.status >= 400 && err.status < 500 ? namedItem(batch, details) : null;
    if (named) {
      named.state = "refused";
      named.message = err.message;
      const rest = batch.filter((it) => it !== named);
      for (const it of rest) it.state = "waiting";
      this.changed();
      return rest.length ? [rest] : [];
    }
    if (err.status === 413 && batch.length > 1) {  // a smaller request limit on the way
      for (const it of batch) it.state = "waiting";
      const half = Math.ceil(batch.length / 2);
      this.changed();
      return [batch.slice(0, half), batch.slice(half)];
    }
    for (const it of batch) {
      it.state = err.status >= 400 && err.status < 500 && batch.length === 1 ? "refused" : "failed";
      it.message = err.message;
    }
    this.changed();
    return [];
  }
}

/** The files of a drop, folders walked (webkitGetAsEntry): [{file, path}]. The entries are
 * taken from ``dataTransfer`` at once (it is emptied when the drop event returns). */
export async function droppedFiles(dataTransfer) {
  const entries = [];
  const loose = [];
  for (const item of dataTransfer.items || []) {
    if (item.kind !== "file") continue;
    const entry = item.webkitGetAsEntry ? item.webkitGetAsEntry() : null;
    if (entry) entries.push(entry);
    else { const f = item.getAsFile(); if (f) loose.push({ file: f, path: f.name }); }
  }
  if (!entries.length && !loose.length) {
    for (const f of dataTransfer.files || []) loose.push({ file: f, path: f.name });
  }
  const out = [...loose];
  for (const entry of entries) await walk(entry, out);
  return out;
}

async function walk(entry, out) {
  if (entry.isFile) {
    const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
    out.push({ file, path: entry.fullPath.replace(/^\//, "") || file.name });
    return;
  }
  if (!entry.isDirectory) return;
  const reader = entry.createReader();
  for (;;) {  // readEntries answers in pieces (100 at a time in Chromium) until empty
    const children = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
    if (!children.length) return;
    for (const child of children) await walk(child, out);
  }
}
