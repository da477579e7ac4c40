// The select tool: click to select (Shift adds), drag to move (a mask by whole pixels: its RLE is
// translated once, on release), drag a handle to resize a box or
// move a polygon vertex, double-click a polygon edge to add a vertex, Alt-click a vertex to
// remove it. Dragging empty space pans. While a shape is dragged it is hidden on the base layer
// and drawn here on the overlay, so the 5,000 others are not repainted on every mouse move; the
// edit is sent once, on release.

import { clampBox, clampPoint, distanceToSegment } from "./geometry.js";
import { clampShift } from "./mask_edit.js";

const HANDLE = 5; // half size of a handle, screen pixels
const DRAG_START = 3; // pixels of movement before a press becomes a drag

// Box handles: [fx, fy] as fractions of width/height.
const BOX_HANDLES = [[0, 0], [0.5, 0], [1, 0], [1, 0.5], [1, 1], [0.5, 1], [0, 1], [0, 0.5]];
const HANDLE_CURSORS = ["nwse-resize", "ns-resize", "nesw-resize", "ew-resize",
                        "nwse-resize", "ns-resize", "nesw-resize", "ew-resize"];

export class SelectTool {
  constructor(editor) {
    this.editor = editor;
    this.drag = null; // {kind: move|resize|vertex|pan, id, start, original, draft, moved}
    this.hoverId = null;
    this.cursorNow = "default";
  }

  get name() { return "select"; }
  get cursor() { return this.cursorNow; }

  handleAt(p) {
    const ed = this.editor;
    if (ed.selection.length !== 1) return null;
    const ann = ed.labels.get(ed.selection[0]);
    if (!ann) return null;
    const vp = ed.renderer.viewport;
    if (ann.type === "box") {
      const g = ann.geometry;
      for (let i = 0; i < BOX_HANDLES.length; i++) {
        const [fx, fy] = BOX_HANDLES[i];
        const [hx, hy] = vp.toScreen(g.x + fx * g.w, g.y + fy * g.h);
        if (Math.abs(hx - p.sx) <= HANDLE + 2 && Math.abs(hy - p.sy) <= HANDLE + 2) {
          return { kind: "resize", handle: i, ann };
        }
      }
    } else if (ann.type === "polygon") {
      const pts = ann.geometry.points;
      for (let i = 0; i < pts.length; i++) {
        const [hx, hy] = vp.toScreen(pts[i][0], pts[i][1]);
        if (Math.hypot(hx - p.sx, hy - p.sy) <= HANDLE + 3) return { kind: "vertex", vertex: i, ann };
      }
    }
    return null;
  }

  down(p, e) {
    const ed = this.editor;
    const handle = ed.readOnly ? null : this.handleAt(p);
    if (handle && handle.kind === "vertex" && e.altKey) {
      const pts = handle.ann.geometry.points;
      if (pts.length > 3) ed.editGeometry(handle.ann.id, { points: pts.filter((_, i) => i !== handle.vertex) });
      return;
    }
    if (handle) {
      this.drag = { ...handle, id: handle.ann.id, start: p, original: handle.ann.geometry,
                    draft: handle.ann.geometry, base: handle.ann, moved: false };
      return;
    }
    const id = ed.hitTest(p.x, p.y);
    if (id) {
      if (e.shiftKey) {
        ed.select(ed.selection.includes(id) ? ed.selection.filter((s) => s !== id)
                                            : [...ed.selection, id]);
        return;
      }
      // A click chooses the shape, even the one just drawn (number keys then relabel it).
      if (!ed.selection.includes(id) || !ed.selectionExplicit) ed.select(ed.selection.includes(id) ? ed.selection : [id]);
      const ann = ed.labels.get(id);
      const movable = !ed.readOnly && ann && ["box", "polygon", "point", "mask"].includes(ann.type);
      this.drag = movable ? { kind: "move", id, start: p, original: ann.geometry,
                              draft: ann.geometry, base: ann, moved: false } : null;
      return;
    }
    if (!e.shiftKey && ed.selection.length) ed.select([]);
    this.drag = { kind: "pan", start: p, last: p, moved: false };
  }

  move(p) {
    const ed = this.editor;
    const d = this.drag;
    if (!d) {
      const handle = ed.readOnly ? null : this.handleAt(p);
      const hover = handle ? null : ed.hitTest(p.x, p.y);
      this.cursorNow = handle ? (handle.kind === "vertex" ? "move" : HANDLE_CURSORS[handle.handle])
                              : hover ? "pointer" : "default";
      ed.setCursor(this.cursorNow);
      if (hover !== this.hoverId) { this.hoverId = hover; ed.renderer.invalidateOverlay(); }
      return;
    }
    if (!d.moved && Math.hypot(p.sx - d.start.sx, p.sy - d.start.sy) < DRAG_START) return;
    if (d.kind === "pan") {
      d.moved = true;
      ed.panBy(p.sx - d.last.sx, p.sy - d.last.sy);
      d.last = p;
      return;
    }
    if (!d.moved) {
      d.moved = true;
      ed.renderer.options.hidden = new Set([d.id]);
      ed.renderer.invalidateLabels();
    }
    d.draft = this.dragged(d, p);
    ed.renderer.invalidateOverlay();
  }

  dragged(d, p) {
    const { imageW: W, imageH: H } = this.editor;
    const dx = p.x - d.start.x, dy = p.y - d.start.y;
    const g = d.original;
    if (d.kind === "move") {
      if (g.rle) {
        // A mask moves by whole pixels; its RLE is made once, on release.
        return { rle: g.rle, shift: clampShift(this.editor.masks.mask(d.base), dx, dy) };
      }
      if (g.points) {
        // Move as a whole, stopping at the image's edges.
        const xs = g.points.map((q) => q[0]), ys = g.points.map((q) => q[1]);
        const mx = Math.max(-Math.min(...xs), Math.min(dx, W - Math.max(...xs)));
        const my = Math.max(-Math.min(...ys), Math.min(dy, H - Math.max(...ys)));
        return { points: g.points.map(([x, y]) => clampPoint(x + mx, y + my, W, H)) };
      }
      if (g.w !== undefined) {
        const x = Math.max(0, Math.min(g.x + dx, W - g.w)), y = Math.max(0, Math.min(g.y + dy, H - g.h));
        return clampBox({ x, y, w: g.w, h: g.h }, W, H);
      }
      const [x, y] = clampPoint(g.x + dx, g.y + dy, W, H);
      return { x, y };
    }
    if (d.kind === "vertex") {
      const points = g.points.map((q) => [...q]);
      points[d.vertex] = clampPoint(g.points[d.vertex][0] + dx, g.points[d.vertex][1] + dy, W, H);
      return { points };
    }
    // resize: move the edges the handle owns
    const [fx, fy] = BOX_HANDLES[d.handle];
    let x0 = g.x, y0 = g.y, x1 = g.x + g.w, y1 = g.y + g.h;
    if (fx === 0) x0 += dx; else if (fx === 1) x1 += dx;
    if (fy === 0) y0 += dy; else if (fy === 1) y1 += dy;
    return clampBox({ x: Math.min(x0, x1), y: Math.min(y0, y1), w: Math.abs(x1 - x0),
                      h: Math.abs(y1 - y0) }, W, H);
  }

  up() {
    const ed = this.editor;
    const d = this.drag;
    this.drag = null;
    if (!d || d.kind === "pan") return;
    if (d.moved) {
      ed.renderer.options.hidden = new Set();
      if (d.draft.shift) {
        const moved = ed.movedMask(d.base, ...d.draft.shift);
        if (moved) ed.editGeometry(d.id, moved, d.base);
        ed.renderer.invalidateLabels();
        return;
      }
      const changed = JSON.stringify(d.draft) !== JSON.stringify(d.original);
      const ok = d.draft.w === undefined || (d.draft.w > 0 && d.draft.h > 0);
      if (changed && ok) ed.editGeometry(d.id, d.draft, d.base);
      ed.renderer.invalidateLabels();
    }
  }

  dblclick(p) {
    const ed = this.editor;
    if (ed.selection.length !== 1) return;
    const ann = ed.labels.get(ed.selection[0]);
    if (!ann || ann.type !== "polygon") return;
    const pts = ann.geometry.points;
    const tol = 6 / ed.renderer.viewport.scale;
    for (let i = 0; i < pts.length; i++) {
      const a = pts[i], b = pts[(i + 1) % pts.length];
      if (distanceToSegment(p.x, p.y, a, b) <= tol) {
        const points = [...pts.slice(0, i + 1), clampPoint(p.x, p.y, ed.imageW, ed.imageH), ...pts.slice(i + 1)];
        ed.editGeometry(ann.id, { points });
        return;
      }
    }
  }

  key(e) {
    if (e.key === "Escape" && this.drag && this.drag.kind !== "pan") {
      this.cancel();
      return true;
    }
    return false;
  }

  cancel() {
    if (this.drag && this.drag.moved) {
      this.editor.renderer.options.hidden = new Set();
      this.editor.renderer.invalidateLabels();
    }
    this.drag = null;
  }

  leave() {
    if (this.hoverId) { this.hoverId = null; this.editor.renderer.invalidateOverlay(); }
  }

  /** Outlines of the hovered and selected shapes, handles of a single selection, the drag;
   * true if it drew anything (as every overlay painter answers). */
  paint(ctx, vp) {
    const ed = this.editor;
    let drew = false;
    if (this.hoverId && ed.tool === this && !ed.selection.includes(this.hoverId)) {
      const ann = ed.labels.get(this.hoverId);
      if (ann) { outline(ctx, vp, ann, ann.geometry, "rgba(255,255,255,0.9)", 1.5, ed); drew = true; }
    }
    for (const id of ed.selection) {
      const ann = ed.labels.get(id);
      if (!ann) continue;
      drew = true;
      const dragging = this.drag && this.drag.moved && this.drag.id === id;
      const g = dragging ? this.drag.draft : ann.geometry;
      const color = ed.colorOf(ann.label);
      if (dragging && g.shift) {
        // The mask itself follows the pointer (it is hidden on the labels layer meanwhile).
        const m = ed.masks.mask(ann);
        ctx.save();
        ctx.translate(vp.tx, vp.ty);
        ctx.scale(vp.scale, vp.scale);
        ctx.imageSmoothingEnabled = false;
        ctx.globalAlpha = Math.max(0.35, ed.renderer.options.maskOpacity);
        if (m.area) ctx.drawImage(ed.masks.canvas(ann, color), m.x + g.shift[0], m.y + g.shift[1]);
        ctx.restore();
      }
      if (dragging) outline(ctx, vp, ann, g, color, 2, ed, ann.status === "proposed");
      outline(ctx, vp, ann, g, "#ffffff", 1, ed);
      if (ed.selection.length === 1) handles(ctx, vp, ann.type, g, color);
    }
    return drew;
  }
}

export function outline(ctx, vp, ann, g, color, width, ed, dashed = false) {
  const type = ann.type;
  ctx.strokeStyle = color;
  ctx.lineWidth = width;
  ctx.setLineDash(dashed ? [6, 4] : []);
  ctx.beginPath();
  if (type === "box") {
    const [x0, y0] = vp.toScreen(g.x, g.y);
    ctx.rect(x0 - 1.5, y0 - 1.5, g.w * vp.scale + 3, g.h * vp.scale + 3);
  } else if (type === "polygon") {
    g.points.forEach(([x, y], i) => {
      const [sx, sy] = vp.toScreen(x, y);
      if (i) ctx.lineTo(sx, sy); else ctx.moveTo(sx, sy);
    });
    ctx.closePath();
  } else if (type === "point") {
    const [sx, sy] = vp.toScreen(g.x, g.y);
    ctx.arc(sx, sy, 8, 0, Math.PI * 2);
  } else if (type === "mask" && ed) {
    const m = ed.masks.mask(ann);
    const [dx, dy] = g.shift || [0, 0];
    const [x0, y0] = vp.toScreen(m.x + dx, m.y + dy);
    ctx.rect(x0 - 1.5, y0 - 1.5, m.w * vp.scale + 3, m.h * vp.scale + 3);
  }
  ctx.stroke();
  ctx.setLineDash([]);
}

function handles(ctx, vp, type, g, color) {
  const spots = type === "box" ? BOX_HANDLES.map(([fx, fy]) => [g.x + fx * g.w, g.y + fy * g.h])
              : type === "polygon" ? g.points : [];
  for (const [x, y] of spots) {
    const [sx, sy] = vp.toScreen(x, y);
    ctx.fillStyle = "#ffffff";
    ctx.strokeStyle = color;
    ctx.lineWidth = 2;
    if (type === "polygon") {
      ctx.beginPath();
      ctx.arc(sx, sy, HANDLE - 0.5, 0, Math.PI * 2);
      ctx.fill();
      ctx.stroke();
    } else {
      ctx.fillRect(sx - HANDLE, sy - HANDLE, HANDLE * 2, HANDLE * 2);
      ctx.strokeRect(sx - HANDLE, sy - HANDLE, HANDLE * 2, HANDLE * 2);
    }
  }
}
