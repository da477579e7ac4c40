// The hand-written canvas renderer of the annotation stage.
//
// Three stacked canvases, each redrawn only when it is dirty, in requestAnimationFrame:
//   image   the photo; redrawn when the view moves, never for an edit;
//   labels  every annotation; redrawn when the view moves or the labels change;
//   overlay selection handles, the shape being drawn, other people's cursors; cheap, and
//           redrawn on its own, so a moving cursor never repaints 5,000 boxes.
// Annotations come from a spatial index queried with the visible rectangle (culling). Their
// outlines are written straight into pixels (outline_raster.js) rather than stroked as canvas
// paths, which without a GPU is what makes 5,000 boxes cost milliseconds instead of ~100 ms.
// While the view is moving the image is scaled without smoothing (several times cheaper); a
// moment after it stops, it is redrawn smooth.

import { bounds } from "./geometry.js";
import { Viewport } from "./viewport.js";
import { OutlineRaster, pixelOf } from "./outline_raster.js";
import { MaskAtlas } from "./masks.js";

const LABEL_TEXT_LIMIT = 400; // above this many visible objects, names are not drawn
const FRAME_LOG = 600;
const SETTLE_MS = 140; // after the last view change, the image is redrawn smooth

function layer(stage, name, options) {
  const c = stage.appendChild(document.createElement("canvas"));
  c.className = `stage-${name}`;
  c.setAttribute("aria-hidden", "true");
  return [c, c.getContext("2d", options)];
}

export class CanvasRenderer {
  constructor(stage, { labels, index, masks, colorOf, width = 1, height = 1 }) {
    this.stage = stage;
    this.labels = labels;
    this.index = index;
    this.masks = masks;
    this.colorOf = colorOf;
    this.viewport = new Viewport();
    [this.imageCanvas, this.ictx] = layer(stage, "image", { alpha: false });
    [this.base, this.bctx] = layer(stage, "labels");
    [this.overlay, this.octx] = layer(stage, "overlay");
    this.image = null;
    this.raster = new OutlineRaster();
    this.pixels = new Map(); // style -> ImageData pixel value
    this.styles = new Map(); // label (and proposed or not) -> style
    this.imageW = width;
    this.imageH = height;
    // hidden: shapes being dragged (drawn on the overlay); viewHidden: the ones the user hid.
    this.options = { maskOpacity: 0.45, showLabels: true, showAnnotations: true, hidden: new Set(),
                     viewHidden: new Set(), styleOf: null };
    this.painters = [];
    this.dirty = { image: true, labels: true, overlay: true };
    this.raf = 0;
    this.dpr = 1;
    this.autoFit = true;
    this.moving = false;
    this.settleTimer = null;
    this.visibleCount = 0;
    this.overlayShown = true;
    this.perf = (window.__lwPerf ||= { frames: [], firstRender: null });
    this.resizeObserver = new ResizeObserver(() => this.resize());
    this.resizeObserver.observe(stage);
    this.resize();
  }

  destroy() {
    cancelAnimationFrame(this.raf);
    clearTimeout(this.settleTimer);
    this.resizeObserver.disconnect();
    for (const c of [this.imageCanvas, this.base, this.overlay]) c.remove();
  }

  setImage(image, width, height) {
    this.image = image;
    this.imageW = width;
    this.imageH = height;
    this.invalidate(true, false, false);
  }

  resize() {
    const r = this.stage.getBoundingClientRect();
    this.dpr = window.devicePixelRatio || 1;
    this.viewport.width = Math.max(1, r.width);
    this.viewport.height = Math.max(1, r.height);
    for (const c of [this.imageCanvas, this.base, this.overlay]) {
      c.width = Math.round(this.viewport.width * this.dpr);
      c.height = Math.round(this.viewport.height * this.dpr);
    }
    // Until the user moves the view, it follows the stage's size (the layout settles late).
    if (this.autoFit) this.viewport.fit(this.imageW, this.imageH);
    this.invalidate();
  }

  fit() { this.autoFit = true; this.viewport.fit(this.imageW, this.imageH); this.viewChanged(); }

  actualSize() { this.autoFit = false; this.viewport.actualSize(); this.viewChanged(); }

  /** The user moved the view: stop following the stage's size. */
  moved() { this.autoFit = false; this.viewChanged(); }

  viewChanged() {
    this.moving = true;
    clearTimeout(this.settleTimer);
    this.settleTimer = setTimeout(() => {
      this.moving = false;
      this.invalidate(true, false, false);
    }, SETTLE_MS);
    this.invalidate();
  }

  /** Mark layers dirty (all of them by default: the view changed). */
  invalidate(image = true, labels = true, overlay = true) {
    this.dirty.image ||= image;
    this.dirty.labels ||= labels;
    this.dirty.overlay ||= overlay;
    if (!this.raf) this.raf = requestAnimationFrame((t) => this.frame(t));
  }

  invalidateLabels() { this.invalidate(false, true, true); }

  invalidateOverlay() { this.invalidate(false, false, true); }

  frame(now) {
    this.raf = 0;
    const d = this.dirty;
    const drawn = { image: d.image, labels: d.labels, overlay: d.overlay };
    this.dirty = { image: false, labels: false, overlay: false };
    const sync = this.perf.sync;
    const t0 = performance.now();
    if (drawn.image) {
      this.drawImageLayer();
      // Measuring (benchmarks/ui_canvas.py): read a pixel back, which makes the browser finish
      // rasterising now, so the time includes the drawing itself, not just recording it.
      if (sync) this.ictx.getImageData(0, 0, 1, 1);
    }
    const t1 = performance.now();
    if (drawn.labels) {
      this.drawBase();
      this.labelsDrawn = true;
      if (sync) this.bctx.getImageData(0, 0, 1, 1);
    }
    const t2 = performance.now();
    if (drawn.overlay) this.drawOverlay();
    const t3 = performance.now();
    const f = this.perf.frames;
    f.push({ t: now, image_ms: t1 - t0, labels_ms: t2 - t1, overlay_ms: t3 - t2,
             labels: drawn.labels, image: drawn.image, visible: this.visibleCount,
             hasImage: Boolean(this.image) && this.imageShown,
             end: t3 });
    if (f.length > FRAME_LOG) f.splice(0, f.length - FRAME_LOG);
    if (this.image && this.perf.firstRender === null && this.labelsDrawn) {
      this.perf.firstRender = t3;
      performance.mark("lw:first-render");
    }
    this.stage.dispatchEvent(new CustomEvent("frame", { detail: drawn }));
  }

  // -- image layer ------------------------------------------------------------------------------

  drawImageLayer() {
    const ctx = this.ictx;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = "#1b2130";
    ctx.fillRect(0, 0, this.imageCanvas.width, this.imageCanvas.height);
    this.paintImage(ctx);
  }

  paintImage(ctx) {
    const vp = this.viewport;
    const s = vp.scale, dpr = this.dpr;
    if (!this.image) return;
    ctx.setTransform(dpr * s, 0, 0, dpr * s, dpr * vp.tx, dpr * vp.ty);
    // Smooth when still and shown smaller than 2:1; pixels visible when zoomed in.
    ctx.imageSmoothingEnabled = s < 2 && !this.moving;
    ctx.drawImage(this.image, 0, 0, this.imageW, this.imageH);
    this.imageShown = true;
  }

  // -- labels layer -----------------------------------------------------------------------------

  drawBase() {
    const ctx = this.bctx;
    const vp = this.viewport;
    const s = vp.scale, dpr = this.dpr;
    const W = this.base.width, H = this.base.height;
    this.visibleCount = 0;
    const visible = [];
    const masks = [];
    const polygons = [];
    const points = [];
    const raster = this.raster;
    raster.begin(ctx, W, H);
    if (this.options.showAnnotations) {
      const [x0, y0, x1, y1] = vp.visible();
      const hidden = this.options.hidden, viewHidden = this.options.viewHidden;
      const k = s * dpr, ox = vp.tx * dpr, oy = vp.ty * dpr;
      for (const id of this.index.query(x0, y0, x1, y1)) {
        if (hidden.has(id) || viewHidden.has(id)) continue;
        const ann = this.labels.get(id);
        if (!ann) continue;
        visible.push(ann);
        const g = ann.geometry;
        if (ann.type === "box") {
          const st = this.styleOf(ann);
          raster.box(g.x * k + ox, g.y * k + oy, (g.x + g.w) * k + ox, (g.y + g.h) * k + oy,
                     this.pixel(st), st.dashed);
        } else if (ann.type === "polygon") {
          const st = this.styleOf(ann);
          const color = this.pixel(st);
          const pts = g.points;
          let phase = 0;
          for (let i = 0; i < pts.length; i++) {
            const a = pts[i], b = pts[(i + 1) % pts.length];
            phase = raster.line(a[0] * k + ox, a[1] * k + oy, b[0] * k + ox, b[1] * k + oy,
                                color, st.dashed, phase);
          }
          polygons.push(ann);
        } else if (ann.type === "mask") {
          masks.push(ann);
        } else if (ann.type === "point") {
          points.push(ann);
        }
      }
    }
    this.visibleCount = visible.length;
    // The outlines go on first (replacing the last frame); polygon fills and masks belong
    // beneath them, so they are then drawn *under* what is there (destination-over).
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    raster.end(ctx);
    ctx.globalCompositeOperation = "destination-over";
    ctx.setTransform(dpr * s, 0, 0, dpr * s, dpr * vp.tx, dpr * vp.ty);
    if (polygons.length && polygons.length <= 2000) {
      for (const ann of polygons) {
        const st = this.styleOf(ann);
        ctx.globalAlpha = st.faint ? 0.08 : 0.18;
        ctx.fillStyle = st.color;
        ctx.beginPath();
        const pts = ann.geometry.points;
        ctx.moveTo(pts[0][0], pts[0][1]);
        for (let i = 1; i < pts.length; i++) ctx.lineTo(pts[i][0], pts[i][1]);
        ctx.closePath();
        ctx.fill();
      }
    }
    if (masks.length && this.useAtlas()) {
      // Zoomed out: every mask from one composited bitmap (see MaskAtlas), one drawImage.
      this.atlas.update(this.wantedMasks());
      ctx.imageSmoothingEnabled = true;
      ctx.globalAlpha = this.options.maskOpacity;
      ctx.drawImage(this.atlas.canvas, 0, 0, this.atlas.canvas.width / this.atlas.scale,
                    this.atlas.canvas.height / this.atlas.scale);
    } else if (masks.length) {
      ctx.imageSmoothingEnabled = false;
      for (const ann of masks) {
        const m = this.masks.mask(ann);
        const st = this.styleOf(ann);
        // A proposed mask is hatched (the "dashed" of masks); a faint one is lighter.
        ctx.globalAlpha = this.options.maskOpacity * (st.faint ? 0.6 : 1);
        if (m.area) ctx.drawImage(this.masks.canvas(ann, st.color, st.dashed), m.x, m.y);
      }
    }
    ctx.globalAlpha = 1;
    ctx.globalCompositeOperation = "source-over";
    if (points.length) this.drawPoints(points);
    if (this.options.showLabels && visible.length <= LABEL_TEXT_LIMIT) this.drawNames(visible);
  }

  /** Whether masks come from the atlas: the view shows no more detail than it holds. */
  useAtlas() {
    if (!this.atlas || this.atlas.width !== this.imageW || this.atlas.height !== this.imageH) {
      this.atlas = new MaskAtlas(this.masks, this.imageW, this.imageH);
    }
    return this.viewport.scale * this.dpr <= this.atlas.scale * 1.05;
  }

  /** The masks the atlas should hold now: shown ones, with their style. */
  wantedMasks() {
    const wanted = new Map();
    const hidden = this.options.hidden;
    for (const ann of this.labels.values()) {
      if (ann.type !== "mask" || hidden.has(ann.id) || this.options.viewHidden.has(ann.id)) continue;
      const st = this.styleOf(ann);
      wanted.set(ann.id, { ann, color: st.color, hatched: st.dashed, alpha: st.faint ? 0.6 : 1 });
    }
    return wanted;
  }

  pixel(style) {
    if (style.pixel !== undefined) return style.pixel;
    const key = `${style.color}|${style.faint ? 1 : 0}`;
    let v = this.pixels.get(key);
    if (v === undefined) { v = pixelOf(style.color, style.faint ? 0.55 : 1); this.pixels.set(key, v); }
    if (!this.options.styleOf) style.pixel = v; // a cached style object: remember it there
    return v;
  }

  drawPoints(points) {
    const ctx = this.bctx;
    const vp = this.viewport;
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    for (const ann of points) {
      const st = this.styleOf(ann);
      const [sx, sy] = vp.toScreen(ann.geometry.x, ann.geometry.y);
      ctx.beginPath();
      ctx.arc(sx, sy, 4.5, 0, Math.PI * 2);
      ctx.globalAlpha = st.faint ? 0.55 : 1;
      ctx.fillStyle = st.color;
      ctx.fill();
      ctx.lineWidth = 1.5;
      ctx.strokeStyle = "#ffffff";
      ctx.setLineDash(st.dashed ? [3, 2] : []);
      ctx.stroke();
    }
    ctx.globalAlpha = 1;
    ctx.setLineDash([]);
  }

  /** Class names (and, for pre-labels, model and score) above each shape, in screen space. */
  drawNames(visible) {
    const ctx = this.bctx;
    const vp = this.viewport;
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    ctx.font = "600 11px system-ui, sans-serif";
    ctx.textBaseline = "top";
    for (const ann of visible) {
      const b = bounds(ann, this.masks);
      if (!b) continue;
      const [sx0, sy0] = vp.toScreen(b[0], b[1]);
      const [sx1] = vp.toScreen(b[2], b[3]);
      if (sx1 - sx0 < 24 && ann.type !== "point") continue;
      const text = this.tagText(ann);
      const w = ctx.measureText(text).width + 8;
      let x = Math.max(0, sx0), y = Math.max(0, sy0 - 16);
      if (ann.type === "polygon") {
        // On the polygon itself: centred above its top vertex, not at its bounding box's
        // corner (which, for a slanted shape, floats in empty space).
        const [tx, ty] = vp.toScreen(...topVertex(ann.geometry.points));
        x = Math.max(0, tx - w / 2);
        y = Math.max(0, ty - 16);
      }
      const style = this.styleOf(ann);
      ctx.globalAlpha = style.faint ? 0.6 : 0.9;
      ctx.fillStyle = style.color;
      ctx.fillRect(x, y, w, 15);
      ctx.globalAlpha = 1;
      ctx.fillStyle = style.textColor || "#fff";
      ctx.fillText(text, x + 4, y + 2);
    }
  }

  /** The name tag of a shape: its class, with a badge for how it came to be (docs/ui.md
   * "Shape styles"): a pre-label accepted as proposed ✓, a corrected one ✎, a pending one its
   * model and score (and a dashed outline); a shape drawn by hand has none. */
  tagText(ann) {
    if (ann.status === "proposed") {
      const score = typeof ann.score === "number" ? ` ${ann.score.toFixed(2)}` : "";
      return `${ann.label} · ${ann.model ? ann.model.name : "model"}${score}`;
    }
    const badge = STATUS_BADGES[ann.status];
    return badge ? `${badge} ${ann.label}` : ann.label;
  }

  styleOf(ann) {
    if (this.options.styleOf) return this.options.styleOf(ann);
    const proposed = ann.status === "proposed";
    const key = proposed ? `p|${ann.label}` : ann.label;
    let st = this.styles.get(key);
    if (!st) {
      const color = this.colorOf(ann.label);
      st = { color, dashed: proposed, faint: false, textColor: textOn(color) };
      this.styles.set(key, st);
    }
    return st;
  }

  // -- overlay ----------------------------------------------------------------------------------

  drawOverlay() {
    const ctx = this.octx;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, this.overlay.width, this.overlay.height);
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    let drew = false;
    for (const paint of this.painters) {
      ctx.save();
      drew = paint(ctx, this.viewport) === true || drew;
      ctx.restore();
    }
    // An empty full-size layer still costs a blend on every frame: hide it while empty.
    if (drew !== this.overlayShown) {
      this.overlayShown = drew;
      this.overlay.style.visibility = drew ? "visible" : "hidden";
    }
  }
}

/** The highest vertex of a polygon (the leftmost of equally high ones). */
export function topVertex(points) {
  let best = points[0];
  for (const p of points) if (p[1] < best[1] || (p[1] === best[1] && p[0] < best[0])) best = p;
  return best;
}

/** The badge before the class name of a shape in each status (none: drawn by hand). */
export const STATUS_BADGES = { accepted: "✓", edited: "✎" };

/** Black or white, whichever reads better on ``hex`` (WCAG relative luminance). */
export function textOn(hex) {
  const n = parseInt(hex.slice(1), 16);
  const lin = (c) => { const v = c / 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  const L = 0.2126 * lin((n >> 16) & 255) + 0.7152 * lin((n >> 8) & 255) + 0.0722 * lin(n & 255);
  return L > 0.179 ? "#111" : "#fff";
}
