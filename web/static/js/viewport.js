// Where the image sits on screen: screen = image * scale + (tx, ty), in CSS pixels.

export const MIN_SCALE = 0.02;
export const MAX_SCALE = 40;

export class Viewport {
  constructor() {
    this.scale = 1;
    this.tx = 0;
    this.ty = 0;
    this.width = 1; // CSS pixels of the stage
    this.height = 1;
  }

  toImage(sx, sy) { return [(sx - this.tx) / this.scale, (sy - this.ty) / this.scale]; }

  toScreen(ix, iy) { return [ix * this.scale + this.tx, iy * this.scale + this.ty]; }

  /** The image rectangle [x0, y0, x1, y1] on screen, in image pixels. */
  visible() {
    const [x0, y0] = this.toImage(0, 0);
    const [x1, y1] = this.toImage(this.width, this.height);
    return [x0, y0, x1, y1];
  }

  fit(imageW, imageH, margin = 24) {
    const s = Math.min((this.width - 2 * margin) / imageW, (this.height - 2 * margin) / imageH);
    this.scale = Math.max(MIN_SCALE, Math.min(MAX_SCALE, s > 0 ? s : 1));
    this.tx = (this.width - imageW * this.scale) / 2;
    this.ty = (this.height - imageH * this.scale) / 2;
  }

  /** 1:1 (one image pixel per CSS pixel), keeping the image point under the stage's centre. */
  actualSize() { this.zoomAt(1 / this.scale, this.width / 2, this.height / 2); }

  zoomAt(factor, sx, sy) {
    const next = Math.max(MIN_SCALE, Math.min(MAX_SCALE, this.scale * factor));
    const [ix, iy] = this.toImage(sx, sy);
    this.scale = next;
    this.tx = sx - ix * next;
    this.ty = sy - iy * next;
  }

  panBy(dx, dy) {
    this.tx += dx;
    this.ty += dy;
  }

  /** Bring the image rectangle [x0, y0, x1, y1] into view, zooming out if it does not fit. */
  reveal(b, margin = 60) {
    const [sx0, sy0] = this.toScreen(b[0], b[1]);
    const [sx1, sy1] = this.toScreen(b[2], b[3]);
    if (sx1 - sx0 > this.width - 2 * margin || sy1 - sy0 > this.height - 2 * margin) {
      const s = Math.min((this.width - 2 * margin) / Math.max(1, b[2] - b[0]),
                         (this.height - 2 * margin) / Math.max(1, b[3] - b[1]));
      this.scale = Math.max(MIN_SCALE, Math.min(this.scale, s));
    }
    const [ax0, ay0] = this.toScreen(b[0], b[1]);
    const [ax1, ay1] = this.toScreen(b[2], b[3]);
    if (ax0 < margin || ax1 > this.width - margin) this.tx += this.width / 2 - (ax0 + ax1) / 2;
    if (ay0 < margin || ay1 > this.height - margin) this.ty += this.height / 2 - (ay0 + ay1) / 2;
  }
}
