// COCO compressed RLE (pycocotools' "counts" string), decoded in the browser; mirrors
// domain/rle.py. A mask of size [h, w] is read column by column (Fortran order) as alternating
// runs of 0s and 1s, starting with 0s. Each run is written as little-endian 5-bit groups, one
// character (48 + group) each, 0x20 = "more groups follow", 0x10 of the last group = negative;
// from the fourth run on, the value is the difference to the run two places earlier.

export function decodeCounts(counts) {
  const runs = [];
  let p = 0;
  while (p < counts.length) {
    let x = 0;
    let k = 0;
    let more = true;
    while (more) {
      const c = counts.charCodeAt(p) - 48;
      x += (c & 0x1f) * 2 ** (5 * k);
      more = (c & 0x20) !== 0;
      p += 1;
      k += 1;
      if (!more && (c & 0x10)) x -= 2 ** (5 * k);
    }
    if (runs.length > 2) x += runs[runs.length - 2];
    runs.push(x);
  }
  return runs;
}

/**
 * The mask of an RLE as a tight raster: {x, y, w, h, bits: Uint8Array(w*h) row-major, area}.
 * Only the bounding box of the 1s is allocated, so a small object on a large image is cheap.
 */
export function decodeMask(rle) {
  const [H, W] = rle.size;
  const runs = typeof rle.counts === "string" ? decodeCounts(rle.counts) : rle.counts;
  let minX = Infinity, minY = Infinity, maxX = -1, maxY = -1, area = 0;
  let i = 0;
  for (let r = 0; r < runs.length; r++) {
    const n = runs[r];
    if (r % 2 === 1 && n > 0) {
      const c0 = Math.floor(i / H), c1 = Math.floor((i + n - 1) / H);
      const r0 = i % H, r1 = (i + n - 1) % H;
      if (c0 < minX) minX = c0;
      if (c1 > maxX) maxX = c1;
      if (c1 > c0) { minY = 0; maxY = H - 1; } else {
        if (r0 < minY) minY = r0;
        if (r1 > maxY) maxY = r1;
      }
      area += n;
    }
    i += n;
  }
  if (maxX < 0) return { x: 0, y: 0, w: 0, h: 0, bits: new Uint8Array(0), area: 0, W, H };
  const w = maxX - minX + 1, h = maxY - minY + 1;
  const bits = new Uint8Array(w * h);
  i = 0;
  for (let r = 0; r < runs.length; r++) {
    const n = runs[r];
    if (r % 2 === 1) {
      for (let k = i; k < i + n; k++) {
        const col = Math.floor(k / H), row = k - col * H;
        bits[(row - minY) * w + (col - minX)] = 1;
      }
    }
    i += n;
  }
  return { x: minX, y: minY, w, h, bits, area, W, H };
}

/**
 * A canvas of the mask's bounding box, its 1s painted in ``color`` (#rrggbb), the rest clear.
 * ``hatched`` leaves diagonal stripes out: the "dashed" look of a pre-label, for masks.
 */
export function maskCanvas(mask, color, hatched = false) {
  const canvas = document.createElement("canvas");
  canvas.width = Math.max(1, mask.w);
  canvas.height = Math.max(1, mask.h);
  if (!mask.area) return canvas;
  const ctx = canvas.getContext("2d");
  const data = ctx.createImageData(mask.w, mask.h);
  const px = new Uint32Array(data.data.buffer);
  const n = parseInt(color.slice(1), 16);
  // ImageData is RGBA in memory; on little-endian machines a Uint32 reads it as ABGR.
  const abgr = (0xff << 24) | ((n & 0xff) << 16) | (n & 0xff00) | ((n >> 16) & 0xff);
  if (!hatched) {
    for (let k = 0; k < mask.bits.length; k++) if (mask.bits[k]) px[k] = abgr;
  } else {
    for (let row = 0, k = 0; row < mask.h; row++) {
      for (let col = 0; col < mask.w; col++, k++) {
        if (mask.bits[k] && (col + row + mask.x + mask.y) % 8 < 5) px[k] = abgr;
      }
    }
  }
  ctx.putImageData(data, 0, 0);
  return canvas;
}

/** Run lengths → a pycocotools counts string (the inverse of ``decodeCounts``). */
export function encodeCounts(runs) {
  let s = "";
  for (let i = 0; i < runs.length; i++) {
    let x = runs[i];
    if (i > 2) x -= runs[i - 2];
    let more = true;
    while (more) {
      let c = x & 0x1f;
      x = Math.floor(x / 32); // an arithmetic shift that stays exact beyond 32 bits
      more = c & 0x10 ? x !== -1 : x !== 0;
      if (more) c |= 0x20;
      s += String.fromCharCode(c + 48);
    }
  }
  return s;
}

/**
 * A tight raster ({x, y, w, h, bits, W, H}, as ``decodeMask`` returns) → COCO compressed RLE
 * of the whole W × H image, exactly as pycocotools would write it. Columns outside the box are
 * one long run of 0s, so encoding costs the box, not the image.
 */
export function encodeMask({ x, y, w, h, bits, W, H }) {
  const runs = [];
  let value = 0, run = 0;
  const push = (v, n) => {
    if (!n) return;
    if (v === value) { run += n; return; }
    runs.push(run);
    value = v;
    run = n;
  };
  push(0, x * H);
  for (let col = 0; col < w; col++) {
    push(0, y);
    for (let row = 0, k = col; row < h; row++, k += w) push(bits[k] ? 1 : 0, 1);
    push(0, H - y - h);
  }
  push(0, (W - x - w) * H);
  runs.push(run);
  return { size: [H, W], counts: encodeCounts(runs) };
}
