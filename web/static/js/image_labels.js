// One image's labels as this page shows them: the server's state (confirmed, advanced by the
// image's events in version order) with this user's not-yet-confirmed commands laid over it
// (pending). An edit is visible the moment it is made; when its event comes back it moves from
// pending to confirmed; when the server refuses it (a conflict), it is dropped and the view
// shows the server's state again, with the user's other pending work still on top.
//
// applyEvent mirrors domain/image.py (Image.*.apply_to): keep the two in step.

import { targetOf } from "./commands.js";

const WORK_EVENTS = new Set(["AnnotationCreated", "AnnotationEdited", "AnnotationDeleted",
  "PrelabelAccepted", "PrelabelEdited", "PrelabelRejected", "PrelabelRestored",
  "AnnotationAttributesSet"]);

function newAnnotation(id, type, label, geometry, source, status, actor, at) {
  return { id, type, label, geometry, source, status, revision: 1, created_by: actor,
           updated_by: actor, updated_at: at, attributes: {} };
}

/** Attribute values after ``changes`` ({name: value}; null removes the key). */
export function withAttributes(current, changes) {
  const out = { ...(current || {}) };
  for (const [k, v] of Object.entries(changes || {})) {
    if (v === null) delete out[k]; else out[k] = v;
  }
  return out;
}

export class ImageLabels extends EventTarget {
  constructor(imageId) {
    super();
    this.imageId = imageId;
    this.confirmed = new Map();
    this.shown = new Map();
    this.pending = []; // [{ref, command}] in the order they were made
    this.version = 0;
    this.position = 0;
    this.status = "new";
    this.createdBy = new Map(); // command_id -> annotation id (for assist results)
  }

  /** Replace the confirmed state with a full snapshot ({version, position, annotations}). */
  reset(snapshot) {
    this.confirmed = new Map(snapshot.annotations.map((a) => [a.id, a]));
    this.version = snapshot.version;
    this.position = snapshot.position;
    if (snapshot.status) this.status = snapshot.status;
    this.rebuild();
  }

  rebuild() {
    const before = new Set(this.shown.keys());
    this.shown = new Map(this.confirmed);
    for (const p of this.pending) this.overlay(p.command);
    const changed = new Set([...before, ...this.shown.keys()]);
    this.emit(changed, true);
  }

  emit(ids, all = false) {
    this.dispatchEvent(new CustomEvent("change", { detail: { ids, all } }));
  }

  /** Apply one room/history event message {version, position, event}; false on a gap. */
  applyEvent(msg) {
    if (msg.version <= this.version) return true; // already have it
    if (msg.version !== this.version + 1) return false;
    const ev = msg.event;
    const id = this.applyTo(this.confirmed, ev.type, ev.data, ev.actor, ev.at);
    this.version = msg.version;
    this.position = msg.position;
    const touched = new Set();
    if (id) touched.add(id);
    if (ev.command_id) {
      if (ev.type === "AnnotationCreated") this.createdBy.set(ev.command_id, id);
      const before = this.pending.length;
      for (const p of this.pending) if (p.command.command_id === ev.command_id) {
        const t = targetOf(p.command);
        if (t) touched.add(t);
      }
      this.pending = this.pending.filter((p) => p.command.command_id !== ev.command_id);
      if (this.pending.length !== before) this.dispatchEvent(new CustomEvent("pending"));
    }
    this.refresh(touched);
    this.dispatchEvent(new CustomEvent("event", { detail: msg }));
    return true;
  }

  applyTo(map, type, d, actor, at) {
    const touch = (id) => {
      const a = { ...map.get(id) };
      a.revision += 1;
      a.updated_by = actor;
      a.updated_at = at;
      map.set(id, a);
      return a;
    };
    switch (type) {
      case "AnnotationCreated":
        map.set(d.annotation_id, newAnnotation(d.annotation_id, d.annotation_type, d.label,
                                               d.geometry, d.source, "manual", actor, at));
        break;
      case "PrelabelProposed": {
        const a = newAnnotation(d.annotation_id, d.annotation_type, d.label, d.geometry,
                                "prelabel", "proposed", actor, at);
        a.model = d.model;
        a.score = d.score;
        map.set(d.annotation_id, a);
        break;
      }
      case "AnnotationEdited":
      case "PrelabelEdited": {
        if (!map.has(d.annotation_id)) break;
        const a = touch(d.annotation_id);
        if (type === "PrelabelEdited") a.status = "edited";
        if (d.label !== null && d.label !== undefined) a.label = d.label;
        if (d.geometry !== null && d.geometry !== undefined) a.geometry = d.geometry;
        break;
      }
      case "PrelabelAccepted":
        if (map.has(d.annotation_id)) touch(d.annotation_id).status = "accepted";
        break;
      case "AnnotationAttributesSet":
        // The whole resulting dict, and the revision the command leaves the annotation at.
        if (map.has(d.annotation_id)) {
          map.set(d.annotation_id, { ...map.get(d.annotation_id), attributes: { ...d.attributes },
                                     revision: d.revision, updated_by: actor, updated_at: at });
        }
        break;
      case "AnnotationDeleted":
      case "PrelabelRejected":
        map.delete(d.annotation_id);
        break;
      case "PrelabelRestored": {
        // Proposed again as the model made it; an accepted one keeps its place in the map.
        const a = newAnnotation(d.annotation_id, d.annotation_type, d.label, d.geometry,
                                "prelabel", "proposed", d.created_by, at);
        Object.assign(a, { model: d.model, score: d.score, revision: d.revision, updated_by: actor });
        map.set(d.annotation_id, a);
        break;
      }
      case "ImageSubmitted":
        this.status = "submitted";
        break;
      case "ReviewRecorded":
        this.status = d.verdict === "approve" ? "approved" : "rejected";
        break;
      case "ImageReopened":
        this.status = "in_progress";
        break;
      default:
        break;
    }
    if (WORK_EVENTS.has(type) && this.status !== "submitted") this.status = "in_progress";
    return d && d.annotation_id && type !== "AssistClicked" ? d.annotation_id : null;
  }

  /** Show ``command`` (made by this user, not yet confirmed) at once. */
  addPending(ref, command) {
    this.pending.push({ ref, command });
    const id = targetOf(command);
    this.refresh(id ? new Set([id]) : new Set());
    this.dispatchEvent(new CustomEvent("pending"));
  }

  /** Forget the pending commands of ``ref`` (refused, or confirmed without an event). */
  dropPending(ref) {
    const gone = this.pending.filter((p) => p.ref === ref);
    if (!gone.length) return;
    this.pending = this.pending.filter((p) => p.ref !== ref);
    this.refresh(new Set(gone.map((p) => targetOf(p.command)).filter(Boolean)));
    this.dispatchEvent(new CustomEvent("pending"));
  }

  hasPending(ref) { return this.pending.some((p) => p.ref === ref); }

  /** Recompute the shown state of ``ids`` from confirmed + pending. */
  refresh(ids) {
    if (!ids.size) { this.emit(ids); return; }
    for (const id of ids) {
      const base = this.confirmed.get(id);
      if (base) this.shown.set(id, base); else this.shown.delete(id);
    }
    for (const p of this.pending) {
      const t = targetOf(p.command);
      if (t && ids.has(t)) this.overlay(p.command);
    }
    this.emit(ids);
  }

  overlay(c) {
    const now = new Date().toISOString();
    if (c.type === "create") {
      const a = c.annotation;
      this.shown.set(a.id, { ...newAnnotation(a.id, a.type, a.label, a.geometry, "manual",
                                              "manual", "me", now),
                             attributes: withAttributes({}, a.attributes), pending: true });
      return;
    }
    const cur = this.shown.get(c.annotation_id);
    if (!cur) return;
    if (c.type === "delete") { this.shown.delete(c.annotation_id); return; }
    const a = { ...cur, pending: true, revision: cur.revision + 1, updated_at: now };
    if (c.type === "edit") {
      if (c.changes.label !== undefined) a.label = c.changes.label;
      if (c.changes.geometry !== undefined) a.geometry = c.changes.geometry;
      if (c.changes.attributes !== undefined) a.attributes = withAttributes(a.attributes, c.changes.attributes);
      // Attributes alone leave a pre-label's verdict as it is (no PrelabelEdited).
      const shape = c.changes.label !== undefined || c.changes.geometry !== undefined;
      if (a.source === "prelabel" && shape) a.status = "edited";
    } else if (c.type === "accept") {
      a.status = "accepted";
    } else if (c.type === "restore") {
      a.status = "proposed";
    }
    this.shown.set(a.id, a);
  }

  get(id) { return this.shown.get(id); }
  get size() { return this.shown.size; }
  values() { return this.shown.values(); }
}
