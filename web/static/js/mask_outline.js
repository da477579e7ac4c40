// A mask's outline as a polygon (the "mask to polygon" action). The largest 4-connected
// component is kept (a polygon is one ring; specks and islands would each need their own),
// its outer boundary is followed along the pixel edges (crack following, so the ring is exactly
// the component's outer border, holes ignored) and then simplified with Douglas-Peucker.

const MAX_POINTS = 10000; // the server's limit for a polygon

/** Labels of the 4-connected components of a tight mask; the largest one's label and size. */
function largestComponent(m) {
  const { w, h, bits } = m;
  const label = new Int32Array(w * h);
  const stack = new Int32Array(w * h);
  let best = 0, bestSize = 0, next = 0;
  for (let start = 0; start < bits.length; start++) {
    if (!bits[start] || label[start]) continue;
    next += 1;
    let top = 0, size = 0;
    stack[top++] = start;
    label[start] = next;
    while (top) {
      const k = stack[--top];
      size += 1;
      const x = k % w;
      if (x > 0 && bits[k - 1] && !label[k - 1]) { label[k - 1] = next; stack[top++] = k - 1; }
      if (x < w - 1 && bits[k + 1] && !label[k + 1]) { label[k + 1] = next; stack[top++] = k + 1; }
      if (k >= w && bits[k - w] && !label[k - w]) { label[k - w] = next; stack[top++] = k - w; }
      if (k + w < w * h && bits[k + w] && !label[k + w]) { label[k + w] = next; stack[top++] = k + w; }
    }
    if (size > bestSize) { best = next; bestSize = size; }
  }
  return { label, best, size: bestSize };
}

// Directions E, S, W, N (y grows downwards); inside is kept on the right.
const DX = [1, 0, -1, 0], DY = [0, 1, 0, -1];

/** The outer boundary of component ``id`` as pixel-corner vertices (tight-raster coordinates). */
function traceOuter(label, w, h, id) {
  const inside = (x, y) => x >= 0 && y >= 0 && x < w && y < h && label[y * w + x] === id;
  let start = 0;
  while (label[start] !== id) start++;
  const sx = start % w, sy = Math.floor(start / w); // topmost, then leftmost pixel
  // Its top edge runs east from its top-left corner with the pixel on the right (below).
  let x = sx, y = sy, d = 0;
  const out = [];
  const limit = 4 * (w + 1) * (h + 1);
  for (let step = 0; step < limit; step++) {
    x += DX[d]; y += DY[d];
    if (x === sx && y === sy && d === 3) break; // back at the start, arriving from below
    // The pixels ahead of corner (x, y): to the left and to the right of the direction d.
    const ahead = [[[x, y - 1], [x, y]], [[x, y], [x - 1, y]], [[x - 1, y], [x - 1, y - 1]],
                   [[x - 1, y - 1], [x, y - 1]]][d];
    const left = inside(...ahead[0]), right = inside(...ahead[1]);
    let nd;
    if (!right) nd = (d + 1) % 4; // turn right (never across a diagonal: 4-connected)
    else if (left) nd = (d + 3) % 4; // turn left
    else nd = d;
    if (nd !== d) out.push([x, y]);
    d = nd;
  }
  if (!out.length || out[0][0] !== sx || out[0][1] !== sy) out.unshift([sx, sy]);
  return out;
}

function perpendicular(p, a, b) {
  const dx = b[0] - a[0], dy = b[1] - a[1];
  const len = Math.hypot(dx, dy);
  if (!len) return Math.hypot(p[0] - a[0], p[1] - a[1]);
  return Math.abs(dy * p[0] - dx * p[1] + b[0] * a[1] - b[1] * a[0]) / len;
}

/** Douglas-Peucker on an open polyline (iterative, so long outlines cannot overflow the stack). */
function simplifyOpen(pts, eps) {
  const keep = new Uint8Array(pts.length);
  keep[0] = keep[pts.length - 1] = 1;
  const todo = [[0, pts.length - 1]];
  while (todo.length) {
    const [i, j] = todo.pop();
    let far = -1, dmax = eps;
    for (let k = i + 1; k < j; k++) {
      const dist = perpendicular(pts[k], pts[i], pts[j]);
      if (dist > dmax) { dmax = dist; far = k; }
    }
    if (far >= 0) { keep[far] = 1; todo.push([i, far], [far, j]); }
  }
  return pts.filter((_, k) => keep[k]);
}

/** A closed ring simplified: split at the vertex farthest from the first, each half on its own. */
export function simplifyRing(ring, eps) {
  if (ring.length <= 3) return ring;
  let far = 0, dmax = -1;
  for (let k = 1; k < ring.length; k++) {
    const dist = Math.hypot(ring[k][0] - ring[0][0], ring[k][1] - ring[0][1]);
    if (dist > dmax) { dmax = dist; far = k; }
  }
  const a = simplifyOpen(ring.slice(0, far + 1), eps);
  const b = simplifyOpen([...ring.slice(far), ring[0]], eps);
  const out = [...a, ...b.slice(1, -1)];
  return out.length >= 3 ? out : ring;
}

/**
 * The polygon of a tight mask (``decodeMask``'s shape): the outer ring of its largest
 * component in image pixels, simplified to within ``eps`` pixels (raised until the ring has at
 * most 10,000 points). Null for an empty mask.
 */
export function maskToPolygon(m, eps = 1) {
  if (!m.area) return null;
  const { label, best } = largestComponent(m);
  const ring = traceOuter(label, m.w, m.h, best).map(([x, y]) => [x + m.x, y + m.y]);
  let points = simplifyRing(ring, eps);
  while (points.length > MAX_POINTS) { eps *= 2; points = simplifyRing(ring, eps); }
  return points;
}
