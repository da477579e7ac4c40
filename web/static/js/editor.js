// An annotation editing session on one image: the labels, the canvas, the tools, and the
// commands that change them. Every change the user makes becomes a command (with its
// command_id, and base_revision when it changes an existing annotation), is shown at once as
// pending, goes into the Outbox, and is recorded for undo.

import { ImageLabels } from "./image_labels.js";
import { SpatialIndex } from "./spatial_index.js";
import { MaskCache } from "./masks.js";
import { CanvasRenderer } from "./renderer.js";
import { bounds, hitScore } from "./geometry.js";
import { commands, newId } from "./commands.js";
import { UndoHistory } from "./undo.js";
import { SelectTool } from "./selection.js";
import { BoxTool, PolygonTool, PointTool, ExtremePointsTool } from "./tools.js";
import { AssistTool } from "./assist_tool.js";
import { MaskBrushTool } from "./mask_brush.js";
import { clampShift, maskGeometry, translateMask } from "./mask_edit.js";
import { maskToPolygon } from "./mask_outline.js";
import { ShapeViewState } from "./shape_view_state.js";
import { KeyboardDrawing, KEYBOARD_TOOLS } from "./keyboard_drawing.js";

const ZOOM_STEP = 1.25;

export class AnnotationEditor extends EventTarget {
  constructor(stage, { image, project, outbox, username, readOnly = false }) {
    super();
    this.stage = stage;
    this.image = image;
    this.imageId = image.id;
    this.imageW = image.width;
    this.imageH = image.height;
    this.project = project;
    this.outbox = outbox;
    this.username = username;
    this.readOnly = readOnly;
    this.colors = new Map(project.classes.map((c) => [c.name, c.color]));
    this.classes = project.classes.filter((c) => !c.retired).map((c) => c.name);
    this.currentLabel = this.classes[0] || null;
    this.labels = new ImageLabels(image.id);
    this.index = new SpatialIndex(image.width, image.height);
    this.masks = new MaskCache();
    this.renderer = new CanvasRenderer(stage, { labels: this.labels, index: this.index,
                                                masks: this.masks, colorOf: (l) => this.colorOf(l),
                                                width: image.width, height: image.height });
    this.undo = new UndoHistory();
    // Hidden / locked shapes and the z-order: this person's view, not recorded (shape_view_state.js).
    this.view = new ShapeViewState(image.id);
    this.renderer.options.viewHidden = this.view.hidden;
    this.view.addEventListener("change", () => {
      this.renderer.invalidateLabels();
      const kept = this.selection.filter((id) => !this.view.blocks(id));
      if (kept.length !== this.selection.length) { this.selection = kept; this.selectionChanged(); }
      this.dispatchEvent(new CustomEvent("viewstate"));
    });
    this.selection = [];
    // Whether the user chose the selection (a click, the object list, Ctrl+A, N, "." / ","):
    // only then do the number keys relabel it. A shape just drawn is selected, not chosen.
    this.selectionExplicit = false;
    this.tools = {
      select: new SelectTool(this), box: new BoxTool(this), polygon: new PolygonTool(this),
      point: new PointTool(this), extreme: new ExtremePointsTool(this),
      assist: new AssistTool(this), brush: new MaskBrushTool(this),
      eraser: new MaskBrushTool(this, { erase: true }),
    };
    this.brushSize = 12; // mask brush and eraser radius, image pixels
    this.assistSent = new Map(); // command_id -> null (new shape) or {id, before} (a refinement)
    this.tool = this.tools.select;
    // The selection stays visible whichever tool is in use.
    this.renderer.painters.push((ctx, vp) => this.tool !== this.tools.select && this.tools.select.paint(ctx, vp));
    this.renderer.painters.push((ctx, vp) => this.tool.paint(ctx, vp));
    // Box, polygon and point from the keyboard: a cursor the arrows move, Enter for a click.
    this.keyDraw = new KeyboardDrawing(this);
    this.renderer.painters.push((ctx, vp) => this.keyDraw.paint(ctx, vp));
    this.labels.addEventListener("change", (e) => this.labelsChanged(e.detail));
    this.labels.addEventListener("event", (e) => this.assistRecorded(e.detail.event));
    this.spaceDown = false;
    this.pan = null;
    this.pointer = null;
    this.bindPointer();
  }

  destroy() {
    this.unbind();
    this.renderer.destroy();
  }

  colorOf(label) { return this.colors.get(label) || "#9ca3af"; }

  // -- labels → index → canvas ----------------------------------------------------------------

  labelsChanged({ ids, all }) {
    if (all) {
      this.index.clear();
      for (const ann of this.labels.values()) this.indexOne(ann);
    } else {
      for (const id of ids) {
        const ann = this.labels.get(id);
        if (ann) this.indexOne(ann); else { this.index.remove(id); this.masks.forget(id); }
      }
    }
    const before = this.selection.length;
    this.selection = this.selection.filter((id) => this.labels.get(id));
    if (this.selection.length !== before) this.selectionChanged();
    this.renderer.invalidateLabels();
    this.dispatchEvent(new CustomEvent("labels", { detail: { ids, all } }));
  }

  indexOne(ann) {
    const b = bounds(ann, this.masks);
    if (b) this.index.set(ann.id, b); else this.index.remove(ann.id);
  }

  hitTest(x, y) {
    const tol = 4 / this.renderer.viewport.scale;
    let best = null, bestScore = Infinity, bestZ = -Infinity;
    for (const id of this.index.query(x - tol, y - tol, x + tol, y + tol)) {
      const ann = this.labels.get(id);
      if (!ann || this.view.blocks(id)) continue; // hidden and locked shapes let the click through
      const s = hitScore(ann, x, y, tol, this.masks);
      // Among equals the selected one wins, so a click does not hop to another shape.
      const score = s === null ? null : s - (this.selection.includes(id) ? 0.5 : 0);
      // The shape brought to front wins; on one level, the smallest.
      const z = this.view.z(id);
      if (score !== null && (z > bestZ || (z === bestZ && score < bestScore))) { best = id; bestScore = score; bestZ = z; }
    }
    return best;
  }

  // -- selection and tools --------------------------------------------------------------------

  /** Select ``ids``; ``explicit: false`` for a shape the user just drew (not chosen). */
  select(ids, { explicit = true } = {}) {
    this.selection = ids.filter((id) => this.labels.get(id) && !this.view.blocks(id));
    this.selectionExplicit = explicit && this.selection.length > 0;
    this.selectionChanged();
  }

  selectionChanged() {
    this.renderer.invalidateOverlay();
    this.dispatchEvent(new CustomEvent("selection", { detail: { ids: this.selection } }));
  }

  /** ``byKey``: picked with its key on the canvas (box, polygon, point: the keyboard cursor shows). */
  setTool(name, { byKey = false } = {}) {
    if (!this.tools[name] || (this.readOnly && name !== "select")) return;
    this.tool.cancel();
    this.tool = this.tools[name];
    this.setCursor(this.tool.cursor);
    this.renderer.invalidateOverlay();
    this.dispatchEvent(new CustomEvent("tool", { detail: { name } }));
    if (byKey && KEYBOARD_TOOLS.includes(name)) this.keyDraw.show(); else this.keyDraw.hide();
  }

  setLabel(label) {
    if (!this.classes.includes(label)) return;
    this.currentLabel = label;
    this.dispatchEvent(new CustomEvent("class", { detail: { label } }));
  }

  /** Select every shape (not the image's tags), as chosen by the user (Ctrl+A). */
  selectAll() {
    this.select([...this.labels.values()].filter((a) => a.type !== "tag").map((a) => a.id));
  }

  setCursor(c) { this.stage.style.cursor = this.spaceDown ? "grab" : c; }

  // -- commands -------------------------------------------------------------------------------

  /** Send ``list`` (one command, or several as one atomic batch); show it at once. */
  send(list, { undo = [], evenReadOnly = false } = {}) {
    if (this.readOnly && !evenReadOnly) return null;
    const body = list.length === 1 ? list[0] : { commands: list };
    const ref = list[0].command_id;
    for (const c of list) this.labels.addPending(ref, c);
    const entry = this.outbox.push(this.imageId, body);
    this.undo.record(undo);
    return entry;
  }

  create(type, geometry, label = this.currentLabel) {
    if (!label) return null;
    const c = commands.create(type, label, geometry);
    this.send([c], { undo: [{ kind: "create", id: c.annotation.id,
                              after: { type, label, geometry } }] });
    this.select([c.annotation.id], { explicit: false });
    return c.annotation.id;
  }

  /**
   * Change a shape. ``base`` is the annotation as the user saw it when they began (a drag
   * started before someone else's edit arrived must conflict, not overwrite that edit).
   */
  editGeometry(id, geometry, base = null) {
    const ann = base || this.labels.get(id);
    if (!ann) return;
    this.send([commands.edit(ann, { geometry })], {
      undo: [{ kind: "edit", id, before: { geometry: ann.geometry }, after: { geometry } }] });
  }

  /** Set attribute values on one shape (``values``: {name: value}, null removes); undo puts
   * back the values it had (null for those it did not have). */
  setAttributes(id, values) {
    const ann = this.labels.get(id);
    if (!ann) return;
    const had = ann.attributes || {};
    const before = Object.fromEntries(Object.keys(values).map((k) => [k, k in had ? had[k] : null]));
    this.send([commands.edit(ann, { attributes: values })], {
      undo: [{ kind: "edit", id, before: { attributes: before }, after: { attributes: values } }] });
  }

  relabel(ids, label) {
    const list = [], undo = [];
    for (const id of ids) {
      const ann = this.labels.get(id);
      if (!ann || ann.label === label || ann.type === "tag" && this.hasTag(label)) continue;
      list.push(commands.edit(ann, { label }));
      undo.push({ kind: "edit", id, before: { label: ann.label }, after: { label } });
    }
    if (list.length) this.send(list, { undo });
  }

  remove(ids) {
    const list = [], undo = [];
    for (const id of ids) {
      const ann = this.labels.get(id);
      if (!ann) continue;
      list.push(commands.remove(ann));
      undo.push({ kind: "delete", id, before: { type: ann.type, label: ann.label, geometry: ann.geometry,
                                                attributes: ann.attributes },
                  ...(ann.source === "prelabel" ? { prelabel: ann.status } : {}) });
    }
    if (list.length) this.send(list, { undo });
  }

  /** Accept pre-labels; one undo step restores them (proposed again, a recorded event). */
  accept(ids) {
    const list = ids.map((id) => this.labels.get(id))
      .filter((a) => a && a.status === "proposed").map((a) => commands.accept(a));
    if (!list.length) return 0;
    // A batch is atomic: one bad id would fail all of them, so large batches are split.
    for (let i = 0; i < list.length; i += 1000) this.send(list.slice(i, i + 1000));
    this.undo.record(list.map((c) => ({ kind: "accept", id: c.annotation_id })));
    return list.length;
  }

  proposedAbove(threshold) {
    const out = [];
    for (const a of this.labels.values()) {
      if (a.status === "proposed" && typeof a.score === "number" && a.score >= threshold) out.push(a.id);
    }
    return out;
  }

  /**
   * An ``assist`` command; ``extra``: output, model_id, annotation_id (refine that one). The
   * server makes the shape, so its undo step is recorded when the shape arrives.
   */
  assist(mode, points, label = this.currentLabel, extra = {}) {
    if (!label) return;
    const c = commands.assist(mode, points, label, extra);
    this.send([c]);
    this.assistSent.set(c.command_id, extra.annotation_id
      ? { id: extra.annotation_id, before: this.labels.get(extra.annotation_id)?.geometry } : null);
    if (!extra.annotation_id) this.pendingAssist = c.command_id;
  }

  /** An assist's shape came back: select a new one, and make it (or the refinement) undoable. */
  assistRecorded(ev) {
    if (!ev.command_id || !this.assistSent.has(ev.command_id)) return;
    const d = ev.data;
    const refined = this.assistSent.get(ev.command_id);
    if (ev.type === "AnnotationCreated") {
      this.assistSent.delete(ev.command_id);
      this.undo.record([{ kind: "create", id: d.annotation_id,
                          after: { type: d.annotation_type, label: d.label, geometry: d.geometry } }]);
      if (this.pendingAssist === ev.command_id) {
        this.pendingAssist = null;
        this.select([d.annotation_id], { explicit: false });
      }
    } else if (ev.type === "AnnotationEdited" && refined && d.geometry) {
      this.assistSent.delete(ev.command_id);
      this.undo.record([{ kind: "edit", id: d.annotation_id, before: { geometry: refined.before },
                          after: { geometry: d.geometry } }]);
    }
  }

  /**
   * Replace the mask ``id`` by the polygon of its outline (largest component), same class,
   * as one atomic batch and one undo step. The mask is deleted, not kept: two shapes of one
   * object would count twice in every export.
   */
  maskToPolygon(id) {
    const ann = this.labels.get(id);
    if (!ann || ann.type !== "mask") return null;
    const points = maskToPolygon(this.masks.mask(ann));
    if (!points) return null;
    const geometry = { points };
    const c = commands.create("polygon", ann.label, geometry);
    this.send([c, commands.remove(ann)], { undo: [
      { kind: "create", id: c.annotation.id, after: { type: "polygon", label: ann.label, geometry } },
      { kind: "delete", id, before: { type: ann.type, label: ann.label, geometry: ann.geometry } }] });
    this.select([c.annotation.id], { explicit: this.selectionExplicit });
    return c.annotation.id;
  }

  /** The mask ``ann`` moved by (dx, dy) whole pixels, stopping at the image's edges. */
  movedMask(ann, dx, dy) {
    const m = this.masks.mask(ann);
    const [mx, my] = clampShift(m, dx, dy);
    if (!mx && !my) return null;
    return maskGeometry(translateMask(m, mx, my));
  }

  tags() { return [...this.labels.values()].filter((a) => a.type === "tag"); }

  hasTag(label) { return this.tags().some((t) => t.label === label); }

  addTag(label) {
    if (!this.classes.includes(label) || this.hasTag(label)) return;
    const c = commands.create("tag", label, {});
    this.send([c], { undo: [{ kind: "create", id: c.annotation.id, after: { type: "tag", label, geometry: {} } }] });
  }

  submit() { return this.send([commands.submit()]); }

  review(verdict, comment) { return this.send([commands.review(verdict, comment)]); }
  /** Reopen a held image: allowed while the editor is read-only (that is what it is for). */
  reopen(comment) { return this.send([commands.reopen(comment)], { evenReadOnly: true }); }

  nudge(dx, dy) {
    for (const id of this.selection) {
      const ann = this.labels.get(id);
      if (!ann) continue;
      const g = ann.geometry;
      const clampX = (v) => Math.max(0, Math.min(this.imageW, v));
      const clampY = (v) => Math.max(0, Math.min(this.imageH, v));
      let next = null;
      if (ann.type === "box") {
        next = { ...g, x: Math.max(0, Math.min(this.imageW - g.w, g.x + dx)),
                 y: Math.max(0, Math.min(this.imageH - g.h, g.y + dy)) };
      } else if (ann.type === "point") {
        next = { x: clampX(g.x + dx), y: clampY(g.y + dy) };
      } else if (ann.type === "polygon") {
        next = { points: g.points.map(([x, y]) => [clampX(x + dx), clampY(y + dy)]) };
      } else if (ann.type === "mask") {
        next = this.movedMask(ann, dx, dy);
      }
      if (next) this.editGeometry(id, next);
    }
  }

  /** Apply undo/redo changes as new commands. */
  applyChanges(changes) {
    const list = [];
    for (const c of changes) {
      const id = this.undo.resolve(c.id);
      const ann = this.labels.get(id);
      if (c.kind === "create") {
        const fresh = newId();
        list.push(commands.create(c.after.type, c.after.label, c.after.geometry, fresh, c.after.attributes));
        this.undo.renamed(id, fresh);
      } else if (c.kind === "restore") {
        // Undo of an accept or a reject: proposed again (a rejected one is not in the labels),
        // then back to accepted or to the person's correction if that is what was rejected.
        list.push(commands.restore(ann && ann.source === "prelabel" ? ann : { id }));
        if (c.prelabel === "accepted") {
          list.push({ type: "accept", command_id: newId(), annotation_id: id });
        } else if (c.prelabel === "edited" && c.before) {
          list.push({ type: "edit", command_id: newId(), annotation_id: id,
                      changes: { label: c.before.label, geometry: c.before.geometry } });
        }
      } else if (c.kind === "accept") {
        if (ann && ann.status === "proposed") list.push(commands.accept(ann));
      } else if (c.kind === "delete") {
        if (ann) list.push(commands.remove(ann));
      } else if (ann) {
        list.push(commands.edit(ann, c.after));
      }
    }
    if (!list.length) return false;
    const ref = list[0].command_id;
    for (const cmd of list) this.labels.addPending(ref, cmd);
    this.outbox.push(this.imageId, list.length === 1 ? list[0] : { commands: list });
    return true;
  }

  undoLast() {
    const changes = this.undo.takeUndo();
    return changes ? this.applyChanges(changes) : null;
  }

  redoLast() {
    const changes = this.undo.takeRedo();
    return changes ? this.applyChanges(changes) : null;
  }

  // -- view -----------------------------------------------------------------------------------

  zoom(factor) {
    const vp = this.renderer.viewport;
    vp.zoomAt(factor, vp.width / 2, vp.height / 2);
    this.renderer.moved();
    this.dispatchEvent(new CustomEvent("view"));
  }

  zoomIn() { this.zoom(ZOOM_STEP); }
  zoomOut() { this.zoom(1 / ZOOM_STEP); }
  fit() { this.renderer.fit(); this.dispatchEvent(new CustomEvent("view")); }
  actualSize() { this.renderer.actualSize(); this.dispatchEvent(new CustomEvent("view")); }

  reveal(id) {
    const ann = this.labels.get(id);
    const b = ann && bounds(ann, this.masks);
    if (!b) return;
    this.renderer.viewport.reveal(b);
    this.renderer.moved();
    this.dispatchEvent(new CustomEvent("view"));
  }

  panBy(dx, dy) {
    this.renderer.viewport.panBy(dx, dy);
    this.renderer.moved();
  }

  // -- pointer --------------------------------------------------------------------------------

  point(e) {
    const r = this.stage.getBoundingClientRect();
    const sx = e.clientX - r.left, sy = e.clientY - r.top;
    const [x, y] = this.renderer.viewport.toImage(sx, sy);
    return { x, y, sx, sy };
  }

  bindPointer() {
    // On the stage, not the overlay canvas: the overlay is hidden while it has nothing to show.
    const el = this.stage;
    const on = (type, fn, opts) => { el.addEventListener(type, fn, opts); return () => el.removeEventListener(type, fn, opts); };
    const offs = [
      on("pointerdown", (e) => {
        try { el.setPointerCapture(e.pointerId); } catch { /* a synthetic event has no pointer */ }
        this.keyDraw.pointer(e, true);
        const p = this.point(e);
        const claimed = e.button === 2 && !this.spaceDown && this.tool.wantsButton?.(e);
        if (claimed) { e.preventDefault(); this.tool.down(p, e); return; }
        if (this.spaceDown || e.button === 1 || e.button === 2) {
          this.pan = { last: p };
          el.style.cursor = "grabbing";
          e.preventDefault();
          return;
        }
        if (e.button !== 0) return;
        if (this.readOnly && this.tool !== this.tools.select) return;
        this.tool.down(p, e);
      }),
      on("pointermove", (e) => {
        this.keyDraw.pointer(e);
        const p = this.point(e);
        this.pointer = p;
        this.dispatchEvent(new CustomEvent("pointer", { detail: p }));
        if (this.pan) {
          this.panBy(p.sx - this.pan.last.sx, p.sy - this.pan.last.sy);
          this.pan.last = p;
          return;
        }
        this.tool.move(p, e);
      }),
      on("pointerup", (e) => {
        const p = this.point(e);
        if (this.pan) { this.pan = null; this.setCursor(this.tool.cursor); return; }
        this.tool.up(p, e);
      }),
      on("pointerleave", () => {
        this.pointer = null;
        this.tool.leave?.();
        this.dispatchEvent(new CustomEvent("pointer", { detail: null }));
      }),
      on("dblclick", (e) => this.tool.dblclick?.(this.point(e), e)),
      on("contextmenu", (e) => e.preventDefault()),
      on("wheel", (e) => {
        e.preventDefault();
        const p = this.point(e);
        if (e.ctrlKey || !e.shiftKey) {
          // Wheel and pinch (ctrlKey) zoom at the pointer; Shift+wheel pans.
          const factor = Math.exp(-e.deltaY * (e.deltaMode === 1 ? 0.05 : 0.0018));
          this.renderer.viewport.zoomAt(factor, p.sx, p.sy);
          this.renderer.moved();
          this.dispatchEvent(new CustomEvent("view"));
        } else {
          this.panBy(-e.deltaX || -e.deltaY, 0);
        }
      }, { passive: false }),
    ];
    this.unbind = () => offs.forEach((off) => off());
  }
}
