// Outlines written straight into pixels. Stroking thousands of paths is the slow part of a
// 2D canvas (without a GPU, 5,000 stroked boxes take ~100 ms a frame); writing the same
// outlines into an ImageData and putting it on the canvas takes a few milliseconds. Lines are
// axis-aligned boxes or straight segments in device pixels, 2 px wide, solid or dashed (6 on,
// 4 off), without anti-aliasing (not needed for pixel-snapped boxes).

const DASH_ON = 6;
const DASH_PERIOD = 10;

/** "#rrggbb" and an alpha 0..1 → the Uint32 of an ImageData pixel (little-endian: ABGR). */
export function pixelOf(hex, alpha = 1) {
  const n = parseInt(hex.slice(1), 16);
  const a = Math.round(alpha * 255);
  return ((a << 24) | ((n & 0xff) << 16) | (n & 0xff00) | ((n >> 16) & 0xff)) >>> 0;
}

export class OutlineRaster {
  constructor() {
    this.image = null;
    this.px = null;
    this.w = 0;
    this.h = 0;
    this.used = false;
  }

  /** Start a frame of ``w`` × ``h`` device pixels, all transparent. */
  begin(ctx, w, h) {
    if (!this.image || this.w !== w || this.h !== h) {
      this.image = ctx.createImageData(Math.max(1, w), Math.max(1, h));
      this.px = new Uint32Array(this.image.data.buffer);
      this.w = w;
      this.h = h;
    } else if (this.used) {
      this.px.fill(0);
    }
    this.used = false;
  }

  /** The outline of the box [x0, x1] × [y0, y1] (device pixels, inclusive), 2 px inside it. */
  box(x0, y0, x1, y1, color, dashed) {
    x0 = Math.round(x0); y0 = Math.round(y0); x1 = Math.round(x1); y1 = Math.round(y1);
    const w = this.w, h = this.h, px = this.px;
    if (x1 < 0 || y1 < 0 || x0 >= w || y0 >= h) return;
    this.used = true;
    if (x1 - x0 < 2) x1 = x0 + 1;
    if (y1 - y0 < 2) y1 = y0 + 1;
    const xa = x0 < 0 ? 0 : x0, xb = x1 >= w ? w - 1 : x1;
    const ya = y0 < 0 ? 0 : y0, yb = y1 >= h ? h - 1 : y1;
    this.hline(y0, xa, xb, x0, color, dashed);
    this.hline(y0 + 1, xa, xb, x0, color, dashed);
    this.hline(y1 - 1, xa, xb, x0, color, dashed);
    this.hline(y1, xa, xb, x0, color, dashed);
    const l0 = x0 >= 0 && x0 < w, l1 = x0 + 1 >= 0 && x0 + 1 < w;
    const r0 = x1 - 1 >= 0 && x1 - 1 < w, r1 = x1 >= 0 && x1 < w;
    for (let y = ya; y <= yb; y++) {
      if (dashed && (y - y0) % DASH_PERIOD >= DASH_ON) continue;
      const row = y * w;
      if (l0) px[row + x0] = color;
      if (l1) px[row + x0 + 1] = color;
      if (r0) px[row + x1 - 1] = color;
      if (r1) px[row + x1] = color;
    }
  }

  hline(y, xa, xb, x0, color, dashed) {
    if (y < 0 || y >= this.h) return;
    const row = y * this.w;
    if (!dashed) { this.px.fill(color, row + xa, row + xb + 1); return; }
    // first dash that reaches xa, then one fill per dash
    let x = xa - ((xa - x0) % DASH_PERIOD);
    for (; x <= xb; x += DASH_PERIOD) {
      const a = x < xa ? xa : x, b = x + DASH_ON - 1 > xb ? xb : x + DASH_ON - 1;
      if (a <= b) this.px.fill(color, row + a, row + b + 1);
    }
  }

  /** A straight segment, 2 px wide; ``phase`` continues a dash pattern along a polyline. */
  line(xa, ya, xb, yb, color, dashed, phase = 0) {
    const dx = xb - xa, dy = yb - ya;
    const n = Math.ceil(Math.max(Math.abs(dx), Math.abs(dy)));
    const { w, h, px } = this;
    if (!n) return phase;
    // Skip segments entirely off the canvas.
    if (Math.max(xa, xb) < 0 || Math.max(ya, yb) < 0 || Math.min(xa, xb) >= w || Math.min(ya, yb) >= h) return phase + n;
    this.used = true;
    const steep = Math.abs(dy) > Math.abs(dx);
    for (let i = 0; i <= n; i++) {
      if (dashed && (phase + i) % DASH_PERIOD >= DASH_ON) continue;
      const x = Math.round(xa + (dx * i) / n), y = Math.round(ya + (dy * i) / n);
      if (x < 0 || y < 0 || x >= w || y >= h) continue;
      px[y * w + x] = color;
      if (steep) { if (x + 1 < w) px[y * w + x + 1] = color; } else if (y + 1 < h) px[(y + 1) * w + x] = color;
    }
    return phase + n;
  }

  /** Put the pixels on the canvas (replacing what is there). */
  end(ctx) {
    ctx.putImageData(this.image, 0, 0);
  }
}
