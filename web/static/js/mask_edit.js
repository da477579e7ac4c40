// Edits of a mask as tight rasters ({x, y, w, h, bits, area, W, H}, as rle.js decodes them):
// moving one, and turning painted pixels back into one. The result of each is encoded to COCO
// RLE (rle.js encodeMask) and sent as an ``edit`` of the mask's geometry.

import { encodeMask } from "./rle.js";

/** ``m`` moved by whole pixels, kept inside the image (it stops at the edges, like a box). */
export function translateMask(m, dx, dy) {
  const x = Math.max(0, Math.min(m.W - m.w, m.x + Math.round(dx)));
  const y = Math.max(0, Math.min(m.H - m.h, m.y + Math.round(dy)));
  return { ...m, x, y };
}

/** How far ``m`` may move: (dx, dy) clamped so it stays inside the image, whole pixels. */
export function clampShift(m, dx, dy) {
  const t = translateMask(m, dx, dy);
  return [t.x - m.x, t.y - m.y];
}

/**
 * The tight mask of the pixels whose alpha is at least half in ``rgba`` (an ImageData's data
 * for the rectangle rx, ry, rw, rh of a W × H image); its area is 0 when nothing is left.
 */
export function maskFromAlpha(rgba, rx, ry, rw, rh, W, H) {
  let x0 = Infinity, y0 = Infinity, x1 = -1, y1 = -1;
  for (let row = 0; row < rh; row++) {
    for (let col = 0, k = (row * rw) * 4 + 3; col < rw; col++, k += 4) {
      if (rgba[k] >= 128) {
        if (col < x0) x0 = col;
        if (col > x1) x1 = col;
        if (row < y0) y0 = row;
        y1 = row;
      }
    }
  }
  if (x1 < 0) return { x: 0, y: 0, w: 0, h: 0, bits: new Uint8Array(0), area: 0, W, H };
  const w = x1 - x0 + 1, h = y1 - y0 + 1;
  const bits = new Uint8Array(w * h);
  let area = 0;
  for (let row = 0; row < h; row++) {
    for (let col = 0; col < w; col++) {
      if (rgba[((row + y0) * rw + col + x0) * 4 + 3] >= 128) { bits[row * w + col] = 1; area++; }
    }
  }
  return { x: rx + x0, y: ry + y0, w, h, bits, area, W, H };
}

/** The geometry of a tight mask, as the API stores it. */
export function maskGeometry(m) { return { rle: encodeMask(m) }; }
