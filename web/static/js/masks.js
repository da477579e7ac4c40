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
