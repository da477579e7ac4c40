// The assist tool ("magic", M): a few clicks become a proposed mask, polygon or box, previewed
// while the user is still clicking and recorded as one ``assist`` command on Enter.
//
// Modes: four extreme points; positive / negative clicks (left click positive; right click,
// Alt+click or Shift+click negative); or a dragged box. Every change of the clicks asks the
// server for a preview (POST /images/{id}/assist/preview, which records nothing), debounced,
// and a newer click aborts the request in flight, so the proposal shown is always the one of
// the latest clicks. Enter sends the command through the outbox like every other command; the
// new annotation (source "assist") comes back selected, and further clicks, with it still
// selected, refine it (the command names its ``annotation_id``: a new revision). Esc drops the
// clicks. The engine is the project's interactive model when it has one, else the server's
// built-in one.

import { api } from "./api.js";
import { h } from "./dom.js";
import { clampPoint } from "./geometry.js";
import { decodeMask, maskCanvas } from "./rle.js";

export const ASSIST_MODES = [["clicks", "Clicks"], ["extreme_points", "Extreme points"], ["box", "Box"]];
export const ASSIST_OUTPUTS = [["mask", "Mask"], ["polygon", "Polygon"], ["box", "Box"]];
const PREVIEW_DELAY_MS = 120;
const POSITIVE = "#22c55e", NEGATIVE = "#ef4444";

export class AssistTool {
  constructor(editor) {
    this.editor = editor;
    this.mode = "clicks";
    this.output = "mask";
    this.modelId = null; // an interactive model of the project, or null: the built-in engine
    this.models = null; // the interactive models, once asked (loadModels)
    this.modelsLoading = null;
    this.points = []; // [x, y, +1 | -1] in image pixels
    this.dragStart = null;
    this.hover = null;
    this.proposal = null; // {geometry, type, score, ms, canvas?}
    this.problem = null; // the server's refusal of the last preview, in its words
    this.timer = null;
    this.inflight = null;
    this.previews = 0; // answered previews (tests and the status line read it)
    this.optionsEl = null;
    // Whether the next clicks refine or start a new object follows the selection.
    editor.addEventListener("selection", () => this.showHint());
  }

  get name() { return "assist"; }
  get cursor() { return "crosshair"; }
  get busy() { return this.points.length > 0 || Boolean(this.dragStart); }

  /** The right button makes a negative click here instead of panning (clicks mode). */
  wantsButton(e) { return e.button === 2 && (this.mode === "clicks" || this.refining()); }

  /** The assist annotation the clicks refine: the single selected one made by assist. */
  refining() {
    const ed = this.editor;
    if (ed.selection.length !== 1) return null;
    const ann = ed.labels.get(ed.selection[0]);
    return ann && ann.source === "assist" ? ann : null;
  }

  /** The mode the clicks are sent with: refining always adds clicks. */
  sentMode() { return this.refining() ? "clicks" : this.mode; }

  // -- pointer --------------------------------------------------------------------------------

  down(p, e) {
    const ed = this.editor;
    const pt = clampPoint(p.x, p.y, ed.imageW, ed.imageH);
    if (this.sentMode() === "box") { this.dragStart = { x: pt[0], y: pt[1] }; this.hover = p; return; }
    if (this.sentMode() === "extreme_points" && this.points.length >= 4) return;
    const negative = e.button === 2 || e.altKey || e.shiftKey;
    this.points.push([pt[0], pt[1], this.sentMode() === "clicks" && negative ? -1 : 1]);
    this.changed();
  }

  move(p) { this.hover = p; this.editor.renderer.invalidateOverlay(); }

  up(p) {
    if (!this.dragStart) return;
    const ed = this.editor;
    const a = this.dragStart;
    this.dragStart = null;
    const b = clampPoint(p.x, p.y, ed.imageW, ed.imageH);
    const s = ed.renderer.viewport.scale;
    if (Math.abs(b[0] - a.x) * s < 3 || Math.abs(b[1] - a.y) * s < 3) { ed.renderer.invalidateOverlay(); return; }
    this.points = [[Math.min(a.x, b[0]), Math.min(a.y, b[1]), 1], [Math.max(a.x, b[0]), Math.max(a.y, b[1]), 1]];
    this.changed();
  }

  leave() { this.hover = null; this.editor.renderer.invalidateOverlay(); }

  key(e) {
    if (e.key === "Enter" && !e.ctrlKey && !e.metaKey && this.ready()) { this.commit(); return true; }
    if (e.key === "Backspace" && this.points.length) {
      this.points.pop();
      if (this.sentMode() === "box") this.points = [];
      this.changed();
      return true;
    }
    if (e.key === "Escape") {
      if (this.busy || this.proposal) { this.cancel(); return true; }
      if (this.refining()) { this.editor.select([]); return true; } // next clicks: a new object
    }
    return false;
  }

  /** Enough clicks for the mode. */
  ready() {
    const n = this.points.length;
    const mode = this.sentMode();
    return mode === "extreme_points" ? n === 4 : mode === "box" ? n === 2 : n > 0;
  }

  cancel() {
    this.points = [];
    this.dragStart = null;
    this.dropProposal();
    this.editor.renderer.invalidateOverlay();
  }

  // -- options --------------------------------------------------------------------------------

  setMode(mode) {
    if (!ASSIST_MODES.some(([m]) => m === mode)) return;
    this.mode = mode;
    this.cancel();
    this.syncOptions();
  }

  setOutput(output) {
    if (!ASSIST_OUTPUTS.some(([o]) => o === output)) return;
    this.output = output;
    this.syncOptions();
    if (this.ready()) this.changed();
  }

  /**
   * The project's interactive models, asked once; the newest active one is used by default.
   * ``models`` stays null until the answer is in.
   */
  loadModels() {
    this.modelsLoading ||= (async () => {
      let models = [];
      try {
        const res = await api.models(this.editor.project.id);
        models = (res.models || []).filter((m) => m.task === "interactive" && !m.retired);
      } catch {
        models = []; // unreadable models: the built-in engine answers
      }
      this.models = models;
      if (models.length && this.modelId === null) this.modelId = models[models.length - 1].id;
      this.syncOptions();
      return models;
    })();
    return this.modelsLoading;
  }

  /** The tool's controls (mode, output, engine) for the toolbar; built once. */
  options() {
    if (this.optionsEl) return this.optionsEl;
    const select = (id, label, choices, value, onchange) => {
      const el = h("select", { id, "aria-label": label },
        choices.map(([v, text]) => h("option", { value: v, selected: v === value }, text)));
      el.addEventListener("change", () => { onchange(el.value); this.editor.stage.focus({ preventScroll: true }); });
      return el;
    };
    this.modeSelect = select("assist-mode", "Assist mode", ASSIST_MODES, this.mode, (v) => this.setMode(v));
    this.outputSelect = select("assist-output", "Assist output", ASSIST_OUTPUTS, this.output, (v) => this.setOutput(v));
    this.engineSelect = select("assist-engine", "Assist engine", [["", "Built-in"]], "", (v) => { this.modelId = v || null; if (this.ready()) this.changed(); });
    this.hint = h("span", { class: "assist-hint muted", id: "assist-hint", role: "status" });
    this.optionsEl = h("div", { class: "tool-group tool-options assist-options", role: "group", "aria-label": "Assist options" },
      h("label", { for: "assist-mode", class: "inline-label" }, "Assist"), this.modeSelect,
      h("label", { for: "assist-output", class: "inline-label" }, "as"), this.outputSelect,
      h("label", { for: "assist-engine", class: "inline-label" }, "with"), this.engineSelect, this.hint);
    this.syncOptions();
    return this.optionsEl;
  }

  syncOptions() {
    if (!this.optionsEl) return;
    this.modeSelect.value = this.mode;
    this.outputSelect.value = this.output;
    const models = this.models || [];
    this.engineSelect.replaceChildren(h("option", { value: "" }, "Built-in"),
      ...models.map((m) => h("option", { value: m.id }, `${m.name}@${m.version}`)));
    this.engineSelect.value = this.modelId || "";
    this.engineSelect.disabled = !models.length;
    this.showHint();
  }

  showHint() {
    if (!this.hint) return;
    const mode = this.sentMode();
    let text = this.problem ? this.problem
      : this.refining() ? "Click to refine the selected object (right/Alt: remove), Enter to apply, Esc for a new object"
      : mode === "extreme_points" ? `Click the left-, top-, right- and bottom-most points (${this.points.length} of 4)`
      : mode === "box" ? "Drag a box around the object"
      : "Click the object (right or Alt+click: not the object)";
    if (this.ready() && !this.problem) text += " · Enter to accept";
    this.hint.textContent = text;
    this.hint.dataset.problem = String(Boolean(this.problem));
  }

  // -- preview --------------------------------------------------------------------------------

  /**
   * The command body (without command_id) for the current clicks. A refinement sends only
   * the new clicks and names the proposal: the server keeps its earlier clicks, its output
   * and its engine.
   */
  body() {
    const ed = this.editor;
    const target = this.refining();
    const b = { type: "assist", mode: this.sentMode(), points: this.points.map((p) => [...p]),
                label: target ? target.label : ed.currentLabel };
    if (target) {
      b.annotation_id = target.id;
    } else {
      b.output = this.output;
      if (this.modelId) b.model_id = this.modelId;
    }
    return b;
  }

  changed() {
    this.editor.renderer.invalidateOverlay();
    this.problem = null;
    this.showHint();
    clearTimeout(this.timer);
    this.inflight?.abort();
    this.inflight = null;
    if (!this.ready() || !this.editor.currentLabel) { this.dropProposal(); return; }
    this.timer = setTimeout(() => this.preview(), PREVIEW_DELAY_MS);
  }

  async preview() {
    const ctrl = new AbortController();
    this.inflight = ctrl;
    const body = this.body();
    try {
      const res = await api.assistPreview(this.editor.imageId, body, { signal: ctrl.signal });
      if (this.inflight !== ctrl) return; // a newer click superseded it
      this.setProposal(res);
    } catch (err) {
      if (err.name === "AbortError" || this.inflight !== ctrl) return;
      this.dropProposal();
      this.problem = err.message || "the preview failed";
      this.showHint();
    } finally {
      if (this.inflight === ctrl) this.inflight = null;
    }
  }

  setProposal(res) {
    const g = res.geometry;
    const type = g.rle ? "mask" : g.points ? "polygon" : "box";
    this.proposal = { geometry: g, type, score: res.score, ms: res.ms };
    if (type === "mask") {
      const m = decodeMask(g.rle);
      this.proposal.mask = m;
      this.proposal.canvas = maskCanvas(m, this.editor.colorOf(this.body().label));
    }
    this.previews += 1;
    this.editor.renderer.invalidateOverlay();
    this.editor.dispatchEvent(new CustomEvent("assist-preview", { detail: this.proposal }));
  }

  dropProposal() {
    clearTimeout(this.timer);
    this.inflight?.abort();
    this.inflight = null;
    if (this.proposal) { this.proposal = null; this.editor.renderer.invalidateOverlay(); }
    this.showHint();
  }

  /** Record the clicks as an ``assist`` command (Enter). */
  commit() {
    const body = this.body();
    if (!body.label) return;
    const { type, ...rest } = body;
    this.editor.assist(rest.mode, rest.points, rest.label, {
      output: rest.output, model_id: rest.model_id, annotation_id: rest.annotation_id });
    this.points = [];
    this.dragStart = null;
    // Keep the preview on screen until the recorded shape arrives in its place.
    const shown = this.proposal;
    clearTimeout(this.timer);
    this.inflight?.abort();
    this.inflight = null;
    if (shown) setTimeout(() => { if (this.proposal === shown) { this.proposal = null; this.editor.renderer.invalidateOverlay(); } }, 1500);
    this.showHint();
    this.editor.renderer.invalidateOverlay();
  }

  // -- drawing --------------------------------------------------------------------------------

  paint(ctx, vp) {
    const ed = this.editor;
    let drew = false;
    const pr = this.proposal;
    if (pr) {
      const color = ed.colorOf(this.body().label);
      ctx.save();
      ctx.translate(vp.tx, vp.ty);
      ctx.scale(vp.scale, vp.scale);
      ctx.globalAlpha = 0.5;
      if (pr.type === "mask" && pr.mask.area) {
        ctx.imageSmoothingEnabled = false;
        ctx.drawImage(pr.canvas, pr.mask.x, pr.mask.y);
      } else if (pr.type === "polygon") {
        ctx.fillStyle = color;
        ctx.beginPath();
        pr.geometry.points.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
        ctx.closePath();
        ctx.fill();
      } else if (pr.type === "box") {
        const g = pr.geometry;
        ctx.fillStyle = color;
        ctx.fillRect(g.x, g.y, g.w, g.h);
      }
      ctx.restore();
      drew = true;
    }
    if (this.dragStart && this.hover) {
      const [sx, sy] = vp.toScreen(this.dragStart.x, this.dragStart.y);
      ctx.strokeStyle = ed.colorOf(ed.currentLabel);
      ctx.lineWidth = 2;
      ctx.setLineDash([6, 4]);
      ctx.strokeRect(Math.min(sx, this.hover.sx), Math.min(sy, this.hover.sy),
                     Math.abs(this.hover.sx - sx), Math.abs(this.hover.sy - sy));
      ctx.setLineDash([]);
      drew = true;
    }
    if (this.sentMode() === "box" && this.points.length === 2 && !this.dragStart) {
      const [x0, y0] = vp.toScreen(this.points[0][0], this.points[0][1]);
      const [x1, y1] = vp.toScreen(this.points[1][0], this.points[1][1]);
      ctx.strokeStyle = "#fff";
      ctx.lineWidth = 1.5;
      ctx.setLineDash([6, 4]);
      ctx.strokeRect(x0, y0, x1 - x0, y1 - y0);
      ctx.setLineDash([]);
      drew = true;
    } else {
      this.points.forEach(([x, y, s]) => {
        const [sx, sy] = vp.toScreen(x, y);
        ctx.beginPath();
        ctx.arc(sx, sy, 5, 0, Math.PI * 2);
        ctx.fillStyle = s > 0 ? POSITIVE : NEGATIVE;
        ctx.fill();
        ctx.lineWidth = 1.5;
        ctx.strokeStyle = "#fff";
        ctx.stroke();
        drew = true;
      });
    }
    if (this.hover && !this.dragStart) {
      ctx.strokeStyle = "rgba(255,255,255,0.55)";
      ctx.lineWidth = 1;
      ctx.setLineDash([4, 4]);
      ctx.beginPath();
      ctx.moveTo(0, this.hover.sy + 0.5);
      ctx.lineTo(vp.width, this.hover.sy + 0.5);
      ctx.moveTo(this.hover.sx + 0.5, 0);
      ctx.lineTo(this.hover.sx + 0.5, vp.height);
      ctx.stroke();
      ctx.setLineDash([]);
      drew = true;
    }
    return drew;
  }
}
