// A uniform grid over the image: each annotation is filed under the cells its bounding box
// touches. Drawing asks for the annotations in the visible rectangle, hit testing for those
// under the pointer; both then look at a few cells instead of every annotation.

const TARGET_CELLS = 64; // per side

export class SpatialIndex {
  constructor(width, height) {
    this.width = Math.max(1, width);
    this.height = Math.max(1, height);
    this.size = Math.max(8, Math.ceil(Math.max(this.width, this.height) / TARGET_CELLS));
    this.cols = Math.ceil(this.width / this.size) + 1;
    this.rows = Math.ceil(this.height / this.size) + 1;
    this.cells = new Array(this.cols * this.rows);
    this.where = new Map(); // id -> [c0, r0, c1, r1]
    this.bounds = new Map(); // id -> [x0, y0, x1, y1]
  }

  range(b) {
    const clampC = (v) => Math.min(this.cols - 1, Math.max(0, v));
    const clampR = (v) => Math.min(this.rows - 1, Math.max(0, v));
    return [clampC(Math.floor(b[0] / this.size)), clampR(Math.floor(b[1] / this.size)),
            clampC(Math.floor(b[2] / this.size)), clampR(Math.floor(b[3] / this.size))];
  }

  set(id, b) {
    this.remove(id);
    const r = this.range(b);
    for (let row = r[1]; row <= r[3]; row++) {
      for (let col = r[0]; col <= r[2]; col++) {
        const k = row * this.cols + col;
        (this.cells[k] ||= new Set()).add(id);
      }
    }
    this.where.set(id, r);
    this.bounds.set(id, b);
  }

  remove(id) {
    const r = this.where.get(id);
    if (!r) return;
    for (let row = r[1]; row <= r[3]; row++) {
      for (let col = r[0]; col <= r[2]; col++) this.cells[row * this.cols + col]?.delete(id);
    }
    this.where.delete(id);
    this.bounds.delete(id);
  }

  clear() {
    this.cells = new Array(this.cols * this.rows);
    this.where.clear();
    this.bounds.clear();
  }

  /** Ids whose bounding box meets the rectangle [x0, y0, x1, y1] (image pixels). */
  query(x0, y0, x1, y1) {
    const r = this.range([x0, y0, x1, y1]);
    const covered = (r[2] - r[0] + 1) * (r[3] - r[1] + 1);
    if (covered >= this.cols * this.rows * 0.6) {
      // Most of the image is in view: scanning the bounds is cheaper than merging cells.
      const out = [];
      for (const [id, b] of this.bounds) {
        if (b[2] >= x0 && b[0] <= x1 && b[3] >= y0 && b[1] <= y1) out.push(id);
      }
      return out;
    }
    const seen = new Set();
    for (let row = r[1]; row <= r[3]; row++) {
      for (let col = r[0]; col <= r[2]; col++) {
        const cell = this.cells[row * this.cols + col];
        if (!cell) continue;
        for (const id of cell) {
          if (seen.has(id)) continue;
          const b = this.bounds.get(id);
          if (b[2] >= x0 && b[0] <= x1 && b[3] >= y0 && b[1] <= y1) seen.add(id);
        }
      }
    }
    return [...seen];
  }
}
