// The mask brush (D) and eraser (X): paint the selected mask, or a new mask of the current
// class, at the image's resolution. A stroke is drawn with the canvas's own round-capped lines
// on a working canvas the size of the image (the mask's pixels put there first), shown on the
// overlay while the mask itself is hidden on the labels layer; when the stroke ends the pixels
// of the touched rectangle are read back, turned into a tight mask and sent as one ``edit`` of
// the mask's geometry (COCO RLE), so a stroke is one undo step and one event. Erasing a mask
// away entirely deletes it (a mask needs at least one pixel).

import { h } from "./dom.js";
import { maskFromAlpha, maskGeometry } from "./mask_edit.js";

const MIN_SIZE = 1, MAX_SIZE = 400; // brush radius, image pixels
export const BRUSH_STEP = 1.25; // [ and ] scale the radius by this

export class MaskBrushTool {
  constructor(editor, { erase = false } = {}) {
    this.editor = editor;
    this.erase = erase;
    this.hover = null;
    this.stroke = null; // {target, base, last, x0, y0, x1, y1}
    this.optionsEl = null;
  }

  get name() { return this.erase ? "eraser" : "brush"; }
  get cursor() { return "crosshair"; }
  get busy() { return Boolean(this.stroke); }

  /** The radius in image pixels, shared by the brush and the eraser. */
  get size() { return this.editor.brushSize; }

  setSize(r) {
    this.editor.brushSize = Math.max(MIN_SIZE, Math.min(MAX_SIZE, Math.round(r)));
    for (const t of [this.editor.tools.brush, this.editor.tools.eraser]) t?.syncOptions();
    this.editor.renderer.invalidateOverlay();
  }

  /** The mask being painted: the single selected mask, if any. */
  target() {
    const ed = this.editor;
    if (ed.selection.length !== 1) return null;
    const ann = ed.labels.get(ed.selection[0]);
    return ann && ann.type === "mask" ? ann : null;
  }

  work() {
    const ed = this.editor;
    if (!this.canvas || this.canvas.width !== ed.imageW || this.canvas.height !== ed.imageH) {
      this.canvas = document.createElement("canvas");
      this.canvas.width = ed.imageW;
      this.canvas.height = ed.imageH;
      this.ctx = this.canvas.getContext("2d", { willReadFrequently: true });
    }
    return this.ctx;
  }

  down(p) {
    const ed = this.editor;
    const target = this.target();
    if (!target && (this.erase || !ed.currentLabel)) return; // nothing to erase
    const ctx = this.work();
    ctx.globalCompositeOperation = "source-over";
    ctx.clearRect(0, 0, ed.imageW, ed.imageH);
    const label = target ? target.label : ed.currentLabel;
    const color = ed.colorOf(label);
    this.stroke = { target, base: target, label, color, last: p, x0: Infinity, y0: Infinity, x1: -Infinity, y1: -Infinity };
    if (target) {
      const m = ed.masks.mask(target);
      if (m.area) ctx.drawImage(ed.masks.canvas(target, color), m.x, m.y);
      this.grow(m.x, m.y, m.x + m.w, m.y + m.h);
      ed.renderer.options.hidden = new Set([target.id]);
      ed.renderer.invalidateLabels();
    }
    this.dab(p, p);
  }

  grow(x0, y0, x1, y1) {
    const s = this.stroke;
    s.x0 = Math.min(s.x0, x0); s.y0 = Math.min(s.y0, y0);
    s.x1 = Math.max(s.x1, x1); s.y1 = Math.max(s.y1, y1);
  }

  dab(a, b) {
    const ctx = this.ctx, r = this.size;
    ctx.globalCompositeOperation = this.erase ? "destination-out" : "source-over";
    ctx.strokeStyle = ctx.fillStyle = this.stroke.color;
    ctx.lineWidth = 2 * r;
    ctx.lineCap = "round";
    ctx.beginPath();
    if (a.x === b.x && a.y === b.y) {
      ctx.arc(a.x, a.y, r, 0, Math.PI * 2);
      ctx.fill();
    } else {
      ctx.moveTo(a.x, a.y);
      ctx.lineTo(b.x, b.y);
      ctx.stroke();
    }
    this.grow(Math.min(a.x, b.x) - r - 1, Math.min(a.y, b.y) - r - 1, Math.max(a.x, b.x) + r + 1, Math.max(a.y, b.y) + r + 1);
  }

  move(p) {
    this.hover = p;
    if (this.stroke) { this.dab(this.stroke.last, p); this.stroke.last = p; }
    this.editor.renderer.invalidateOverlay();
  }

  up(p) {
    const s = this.stroke;
    if (!s) return;
    if (p) this.dab(s.last, p);
    this.stroke = null;
    const ed = this.editor;
    const W = ed.imageW, H = ed.imageH;
    const rx = Math.max(0, Math.floor(s.x0)), ry = Math.max(0, Math.floor(s.y0));
    const rw = Math.min(W, Math.ceil(s.x1)) - rx, rh = Math.min(H, Math.ceil(s.y1)) - ry;
    ed.renderer.options.hidden = new Set();
    ed.renderer.invalidateLabels();
    if (rw <= 0 || rh <= 0) return;
    const data = this.ctx.getImageData(rx, ry, rw, rh).data;
    const m = maskFromAlpha(data, rx, ry, rw, rh, W, H);
    if (!m.area) {
      if (s.target) ed.remove([s.target.id]);
      return;
    }
    const geometry = maskGeometry(m);
    if (s.target) {
      if (geometry.rle.counts !== s.target.geometry.rle.counts) ed.editGeometry(s.target.id, geometry, s.base);
    } else {
      ed.create("mask", geometry, s.label);
    }
  }

  leave() { this.hover = null; this.editor.renderer.invalidateOverlay(); }

  key(e) {
    if (e.key === "[" || e.key === "]") {
      this.setSize(e.key === "]" ? Math.max(this.size + 1, this.size * BRUSH_STEP) : Math.min(this.size - 1, this.size / BRUSH_STEP));
      return true;
    }
    if (e.key === "Escape" && this.stroke) { this.cancel(); return true; }
    return false;
  }

  cancel() {
    if (!this.stroke) return;
    this.stroke = null;
    this.editor.renderer.options.hidden = new Set();
    this.editor.renderer.invalidateLabels();
  }

  options() {
    if (this.optionsEl) return this.optionsEl;
    const id = `${this.name}-size`;
    this.slider = h("input", { type: "range", id, min: String(MIN_SIZE), max: "200", step: "1", value: String(this.size) });
    this.slider.addEventListener("input", () => this.setSize(Number(this.slider.value)));
    this.sizeText = h("output", { for: id, class: "brush-size-text" });
    this.optionsEl = h("div", { class: "tool-group tool-options brush-options", role: "group",
                                "aria-label": this.erase ? "Eraser options" : "Brush options" },
      h("label", { for: id, class: "inline-label" }, this.erase ? "Eraser size" : "Brush size"), this.slider, this.sizeText,
      h("span", { class: "muted small" }, this.erase ? "Erases the selected mask" : "Paints the selected mask, or a new one"));
    this.syncOptions();
    return this.optionsEl;
  }

  syncOptions() {
    if (!this.optionsEl) return;
    this.slider.value = String(Math.min(200, this.size));
    this.sizeText.textContent = `${this.size} px`;
  }

  paint(ctx, vp) {
    let drew = false;
    const s = this.stroke;
    if (s && s.x1 > s.x0) {
      // Only the touched rectangle of the working canvas: drawing all of a 4K canvas on every
      // pointer move would cost more than the stroke.
      const ed = this.editor;
      const x0 = Math.max(0, Math.floor(s.x0)), y0 = Math.max(0, Math.floor(s.y0));
      const x1 = Math.min(ed.imageW, Math.ceil(s.x1)), y1 = Math.min(ed.imageH, Math.ceil(s.y1));
      if (x1 > x0 && y1 > y0) {
        ctx.save();
        ctx.translate(vp.tx, vp.ty);
        ctx.scale(vp.scale, vp.scale);
        ctx.imageSmoothingEnabled = false;
        ctx.globalAlpha = Math.max(0.35, ed.renderer.options.maskOpacity);
        ctx.drawImage(this.canvas, x0, y0, x1 - x0, y1 - y0, x0, y0, x1 - x0, y1 - y0);
        ctx.restore();
        drew = true;
      }
    }
    if (this.hover) {
      const r = Math.max(1, this.size * vp.scale);
      ctx.beginPath();
      ctx.arc(this.hover.sx, this.hover.sy, r, 0, Math.PI * 2);
      ctx.lineWidth = 3;
      ctx.strokeStyle = "rgba(0,0,0,0.6)";
      ctx.stroke();
      ctx.lineWidth = 1.5;
      ctx.strokeStyle = this.erase ? "#fca5a5" : "#ffffff";
      ctx.setLineDash(this.erase ? [4, 3] : []);
      ctx.stroke();
      ctx.setLineDash([]);
      drew = true;
    }
    return drew;
  }
}
