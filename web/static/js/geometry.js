// Shapes in image pixels: bounding boxes, hit tests and IoU, for every annotation type.
// Geometry follows docs/api.md: box {x,y,w,h}; polygon {points}; point {x,y}; mask {rle}; tag {}.

export const POINT_RADIUS = 5; // screen pixels

export function bounds(ann, masks) {
  const g = ann.geometry;
  switch (ann.type) {
    case "box": return [g.x, g.y, g.x + g.w, g.y + g.h];
    case "point": return [g.x, g.y, g.x, g.y];
    case "polygon": {
      let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
      for (const [x, y] of g.points) {
        if (x < x0) x0 = x;
        if (y < y0) y0 = y;
        if (x > x1) x1 = x;
        if (y > y1) y1 = y;
      }
      return [x0, y0, x1, y1];
    }
    case "mask": {
      const m = masks.mask(ann);
      return [m.x, m.y, m.x + m.w, m.y + m.h];
    }
    default: return null; // tags have no place on the image
  }
}

export function pointInPolygon(x, y, points) {
  let inside = false;
  for (let i = 0, j = points.length - 1; i < points.length; j = i++) {
    const [xi, yi] = points[i], [xj, yj] = points[j];
    if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

export function distanceToSegment(px, py, [ax, ay], [bx, by]) {
  const dx = bx - ax, dy = by - ay;
  const len = dx * dx + dy * dy;
  const t = len ? Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / len)) : 0;
  return Math.hypot(px - (ax + t * dx), py - (ay + t * dy));
}

/**
 * How well (x, y) hits ``ann`` with ``tol`` image pixels of slack: null for a miss, else a
 * score where smaller wins (the area of what was hit), so a small box inside a big one can
 * still be picked.
 */
export function hitScore(ann, x, y, tol, masks) {
  const g = ann.geometry;
  switch (ann.type) {
    case "box": {
      if (x < g.x - tol || x > g.x + g.w + tol || y < g.y - tol || y > g.y + g.h + tol) return null;
      return g.w * g.h;
    }
    case "point":
      return Math.hypot(x - g.x, y - g.y) <= tol * 1.6 ? 0 : null;
    case "polygon": {
      if (pointInPolygon(x, y, g.points)) return polygonArea(g.points);
      for (let i = 0; i < g.points.length; i++) {
        const a = g.points[i], b = g.points[(i + 1) % g.points.length];
        if (distanceToSegment(x, y, a, b) <= tol) return polygonArea(g.points);
      }
      return null;
    }
    case "mask": {
      const m = masks.mask(ann);
      const cx = Math.floor(x) - m.x, cy = Math.floor(y) - m.y;
      if (cx < 0 || cy < 0 || cx >= m.w || cy >= m.h || !m.bits[cy * m.w + cx]) return null;
      return m.area;
    }
    default: return null;
  }
}

export function polygonArea(points) {
  let s = 0;
  for (let i = 0, j = points.length - 1; i < points.length; j = i++) {
    s += (points[j][0] + points[i][0]) * (points[j][1] - points[i][1]);
  }
  return Math.abs(s / 2);
}

export function boxIoU(a, b) {
  const ix = Math.max(0, Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x));
  const iy = Math.max(0, Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y));
  const inter = ix * iy;
  const union = a.w * a.h + b.w * b.h - inter;
  return union > 0 ? inter / union : 0;
}

/**
 * Intersection over union of two annotations of one type. Boxes exactly; points are 1 when
 * equal; polygons and masks by rasterising both onto a shared grid of at most 512 cells a
 * side (close to the server's shapely/RLE values, not bit-identical).
 */
export function iou(a, b, masks) {
  if (a.type !== b.type) return 0;
  if (a.type === "box") return boxIoU(a.geometry, b.geometry);
  if (a.type === "point") return a.geometry.x === b.geometry.x && a.geometry.y === b.geometry.y ? 1 : 0;
  if (a.type === "tag") return 1;
  const ba = bounds(a, masks), bb = bounds(b, masks);
  const x0 = Math.min(ba[0], bb[0]), y0 = Math.min(ba[1], bb[1]);
  const x1 = Math.max(ba[2], bb[2]), y1 = Math.max(ba[3], bb[3]);
  const scale = Math.min(1, 512 / Math.max(1, x1 - x0, y1 - y0));
  const w = Math.max(1, Math.ceil((x1 - x0) * scale)), h = Math.max(1, Math.ceil((y1 - y0) * scale));
  const raster = (ann) => {
    const c = new OffscreenCanvas(w, h);
    const ctx = c.getContext("2d", { willReadFrequently: true });
    ctx.setTransform(scale, 0, 0, scale, -x0 * scale, -y0 * scale);
    if (ann.type === "polygon") {
      ctx.beginPath();
      ann.geometry.points.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
      ctx.closePath();
      ctx.fill();
    } else {
      const m = masks.mask(ann);
      ctx.imageSmoothingEnabled = false;
      ctx.drawImage(masks.canvas(ann, "#000000"), m.x, m.y);
    }
    return ctx.getImageData(0, 0, w, h).data;
  };
  const pa = raster(a), pb = raster(b);
  let inter = 0, union = 0;
  for (let k = 3; k < pa.length; k += 4) {
    const ia = pa[k] > 127, ib = pb[k] > 127;
    if (ia && ib) inter++;
    if (ia || ib) union++;
  }
  return union ? inter / union : 0;
}

export function clampBox(g, W, H) {
  const x = Math.max(0, Math.min(g.x, W)), y = Math.max(0, Math.min(g.y, H));
  const x1 = Math.max(0, Math.min(g.x + g.w, W)), y1 = Math.max(0, Math.min(g.y + g.h, H));
  return { x: round2(x), y: round2(y), w: round2(x1 - x), h: round2(y1 - y) };
}

export function round2(v) { return Math.round(v * 100) / 100; }

export function clampPoint(x, y, W, H) {
  return [round2(Math.max(0, Math.min(x, W))), round2(Math.max(0, Math.min(y, H)))];
}
