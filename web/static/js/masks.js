// Decoded masks, kept per annotation revision: decoding an RLE and painting its canvas happen
// once, not on every frame.

import { decodeMask, maskCanvas } from "./rle.js";

export class MaskCache {
  constructor() { this.entries = new Map(); }

  /** {mask, canvases: Map(color -> canvas)} for a mask annotation. */
  get(ann) {
    const rle = ann.geometry.rle;
    let e = this.entries.get(ann.id);
    if (!e || e.counts !== rle.counts) {
      e = { counts: rle.counts, mask: decodeMask(ann.geometry.rle), canvases: new Map() };
      this.entries.set(ann.id, e);
    }
    return e;
  }

  mask(ann) { return this.get(ann).mask; }

  canvas(ann, color, hatched = false) {
    const e = this.get(ann);
    const key = hatched ? `${color}/` : color;
    let c = e.canvases.get(key);
    if (!c) { c = maskCanvas(e.mask, color, hatched); e.canvases.set(key, c); }
    return c;
  }

  forget(id) { this.entries.delete(id); }
}

/**
 * Every mask of the image composited into one bitmap at a reduced resolution (at most
 * ``maxSide`` pixels a side): while the view shows the image at or below that resolution, the
 * labels layer draws this one bitmap instead of one bitmap per mask (200 masks on a 4K image:
 * one drawImage a frame instead of 200). ``update`` repaints only the rectangles of masks that
 * changed (their RLE, colour, hatching, or shown/hidden), so an edit, someone else's edit
 * arriving live, or a drag costs the size of that mask, not of all of them.
 */
export class MaskAtlas {
  constructor(cache, width, height, maxSide = 2048) {
    this.cache = cache;
    this.scale = Math.min(1, maxSide / Math.max(width, height));
    this.width = width;
    this.height = height;
    this.canvas = document.createElement("canvas");
    this.canvas.width = Math.max(1, Math.ceil(width * this.scale));
    this.canvas.height = Math.max(1, Math.ceil(height * this.scale));
    this.ctx = this.canvas.getContext("2d");
    this.drawn = new Map(); // id -> {counts, style, b: [x0, y0, x1, y1]}
    this.repaints = 0; // rectangles repainted (tests read it)
  }

  /** ``wanted``: Map id -> {ann, color, hatched, alpha}; repaint what differs from the last. */
  update(wanted) {
    const dirty = [];
    const styleOf = (w) => `${w.color}|${w.hatched ? 1 : 0}|${w.alpha}`;
    for (const [id, e] of this.drawn) {
      const w = wanted.get(id);
      if (!w || w.ann.geometry.rle.counts !== e.counts || styleOf(w) !== e.style) dirty.push(e.b);
    }
    const next = new Map();
    for (const [id, w] of wanted) {
      const m = this.cache.mask(w.ann);
      const entry = { counts: w.ann.geometry.rle.counts, style: styleOf(w), b: [m.x, m.y, m.x + m.w, m.y + m.h] };
      const e = this.drawn.get(id);
      if (!e || e.counts !== entry.counts || e.style !== entry.style) dirty.push(entry.b);
      next.set(id, entry);
    }
    this.drawn = next;
    if (!dirty.length) return 0;
    // Many small rectangles (the first paint, a reload) become their union: one pass.
    const rects = dirty.length > 8 ? [dirty.reduce((a, b) => [Math.min(a[0], b[0]), Math.min(a[1], b[1]),
                                                              Math.max(a[2], b[2]), Math.max(a[3], b[3])])] : dirty;
    for (const r of rects) this.repaint(r, wanted);
    this.repaints += rects.length;
    return rects.length;
  }

  repaint([x0, y0, x1, y1], wanted) {
    const ctx = this.ctx, s = this.scale;
    const ax0 = Math.max(0, Math.floor(x0 * s) - 1), ay0 = Math.max(0, Math.floor(y0 * s) - 1);
    const ax1 = Math.min(this.canvas.width, Math.ceil(x1 * s) + 1);
    const ay1 = Math.min(this.canvas.height, Math.ceil(y1 * s) + 1);
    if (ax1 <= ax0 || ay1 <= ay0) return;
    ctx.save();
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.beginPath();
    ctx.rect(ax0, ay0, ax1 - ax0, ay1 - ay0);
    ctx.clip();
    ctx.clearRect(ax0, ay0, ax1 - ax0, ay1 - ay0);
    ctx.setTransform(s, 0, 0, s, 0, 0);
    const ix0 = ax0 / s, iy0 = ay0 / s, ix1 = ax1 / s, iy1 = ay1 / s;
    for (const w of wanted.values()) {
      const e = this.drawn.get(w.ann.id);
      const [bx0, by0, bx1, by1] = e.b;
      if (bx1 <= ix0 || by1 <= iy0 || bx0 >= ix1 || by0 >= iy1 || bx1 <= bx0) continue;
      ctx.globalAlpha = w.alpha;
      ctx.drawImage(this.cache.canvas(w.ann, w.color, w.hatched), bx0, by0);
    }
    ctx.restore();
  }
}
