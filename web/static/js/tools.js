// The drawing tools: box (drag), polygon (click vertices), point (click) and extreme points
// (four clicks: left-, top-, right- and bottom-most points → an ``assist`` command whose
// result the server draws). Each tool gets pointer positions in image pixels ({x, y}) and
// screen pixels ({sx, sy}), and paints its unfinished shape on the overlay in screen space.
// The keyboard (keyboard_drawing.js) draws boxes, polygons and points with these tools too.

import { clampBox, clampPoint } from "./geometry.js";

const CLOSE_DISTANCE = 9; // screen pixels to the first vertex that close a polygon

function crosshair(ctx, vp, p) {
  if (!p) return false;
  ctx.strokeStyle = "rgba(255,255,255,0.55)";
  ctx.lineWidth = 1;
  ctx.setLineDash([4, 4]);
  ctx.beginPath();
  ctx.moveTo(0, p.sy + 0.5);
  ctx.lineTo(vp.width, p.sy + 0.5);
  ctx.moveTo(p.sx + 0.5, 0);
  ctx.lineTo(p.sx + 0.5, vp.height);
  ctx.stroke();
  ctx.setLineDash([]);
  return true;
}

function dot(ctx, sx, sy, color, r = 4) {
  ctx.beginPath();
  ctx.arc(sx, sy, r, 0, Math.PI * 2);
  ctx.fillStyle = color;
  ctx.fill();
  ctx.lineWidth = 1.5;
  ctx.strokeStyle = "#fff";
  ctx.stroke();
}

export class BoxTool {
  constructor(editor) { this.editor = editor; this.start = null; this.hover = null; }
  get name() { return "box"; }
  get cursor() { return "crosshair"; }
  get busy() { return Boolean(this.start); }
  down(p) { this.start = p; this.hover = p; }
  move(p) { this.hover = p; this.editor.renderer.invalidateOverlay(); }
  up(p) { this.finish(p); }
  /**
   * The box from the first corner to ``p``, made if it is at least ``minScreen`` screen pixels
   * each way (a click is no box; the keyboard, keyboard_drawing.js, passes 0); its id or null.
   */
  finish(p, minScreen = 3) {
    if (!this.start) return null;
    const a = this.start;
    this.start = null;
    const { imageW: W, imageH: H } = this.editor;
    const box = clampBox({ x: Math.min(a.x, p.x), y: Math.min(a.y, p.y),
                           w: Math.abs(p.x - a.x), h: Math.abs(p.y - a.y) }, W, H);
    const s = this.editor.renderer.viewport.scale;
    let id = null;
    if (box.w * s >= minScreen && box.h * s >= minScreen && box.w > 0 && box.h > 0) {
      id = this.editor.create("box", box);
    }
    this.editor.renderer.invalidateOverlay();
    return id;
  }
  key(e) {
    if (e.key === "Escape" && this.start) { this.cancel(); return true; }
    return false;
  }
  cancel() { this.start = null; this.editor.renderer.invalidateOverlay(); }
  paint(ctx, vp) {
    const drew = crosshair(ctx, vp, this.hover);
    if (!this.start || !this.hover) return drew;
    const color = this.editor.colorOf(this.editor.currentLabel);
    const x = Math.min(this.start.sx, this.hover.sx), y = Math.min(this.start.sy, this.hover.sy);
    ctx.strokeStyle = color;
    ctx.lineWidth = 2;
    ctx.strokeRect(x, y, Math.abs(this.hover.sx - this.start.sx), Math.abs(this.hover.sy - this.start.sy));
    return true;
  }
  leave() { this.hover = null; this.editor.renderer.invalidateOverlay(); }
}

export class PolygonTool {
  constructor(editor) { this.editor = editor; this.points = []; this.hover = null; }
  get name() { return "polygon"; }
  get cursor() { return "crosshair"; }
  get busy() { return this.points.length > 0; }
  down(p) {
    const first = this.points[0];
    if (first && this.points.length >= 3) {
      const [fx, fy] = this.editor.renderer.viewport.toScreen(first[0], first[1]);
      if (Math.hypot(fx - p.sx, fy - p.sy) <= CLOSE_DISTANCE) { this.finish(); return; }
    }
    const last = this.points[this.points.length - 1];
    const pt = clampPoint(p.x, p.y, this.editor.imageW, this.editor.imageH);
    if (!last || last[0] !== pt[0] || last[1] !== pt[1]) this.points.push(pt);
    this.editor.renderer.invalidateOverlay();
  }
  move(p) { this.hover = p; this.editor.renderer.invalidateOverlay(); }
  up() {}
  dblclick() { this.finish(); }
  finish() {
    const pts = this.points;
    this.points = [];
    if (pts.length >= 3) this.editor.create("polygon", { points: pts });
    this.editor.renderer.invalidateOverlay();
  }
  key(e) {
    if (e.key === "Enter" && this.points.length) { this.finish(); return true; }
    if (e.key === "Backspace" && this.points.length) {
      this.points.pop();
      this.editor.renderer.invalidateOverlay();
      return true;
    }
    if (e.key === "Escape" && this.points.length) { this.cancel(); return true; }
    return false;
  }
  cancel() { this.points = []; this.editor.renderer.invalidateOverlay(); }
  paint(ctx, vp) {
    const drew = crosshair(ctx, vp, this.hover);
    if (!this.points.length) return drew;
    const color = this.editor.colorOf(this.editor.currentLabel);
    const screen = this.points.map(([x, y]) => vp.toScreen(x, y));
    ctx.strokeStyle = color;
    ctx.lineWidth = 2;
    ctx.beginPath();
    screen.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
    if (this.hover) ctx.lineTo(this.hover.sx, this.hover.sy);
    ctx.stroke();
    screen.forEach(([x, y], i) => dot(ctx, x, y, i === 0 ? "#fff" : color, i === 0 ? 5 : 3.5));
    return true;
  }
  leave() { this.hover = null; this.editor.renderer.invalidateOverlay(); }
}

export class PointTool {
  constructor(editor) { this.editor = editor; this.hover = null; }
  get name() { return "point"; }
  get cursor() { return "crosshair"; }
  down(p) {
    const [x, y] = clampPoint(p.x, p.y, this.editor.imageW, this.editor.imageH);
    this.editor.create("point", { x, y });
  }
  move(p) { this.hover = p; this.editor.renderer.invalidateOverlay(); }
  up() {}
  key() { return false; }
  cancel() {}
  paint(ctx, vp) { return crosshair(ctx, vp, this.hover); }
  leave() { this.hover = null; this.editor.renderer.invalidateOverlay(); }
}

export class ExtremePointsTool {
  constructor(editor) { this.editor = editor; this.points = []; this.hover = null; }
  get name() { return "extreme"; }
  get cursor() { return "crosshair"; }
  get busy() { return this.points.length > 0; }
  down(p) {
    this.points.push(clampPoint(p.x, p.y, this.editor.imageW, this.editor.imageH));
    if (this.points.length === 4) {
      const pts = this.points.map(([x, y]) => [x, y, 1]);
      this.points = [];
      this.editor.assist("extreme_points", pts);
    }
    this.editor.renderer.invalidateOverlay();
  }
  move(p) { this.hover = p; this.editor.renderer.invalidateOverlay(); }
  up() {}
  key(e) {
    if (e.key === "Backspace" && this.points.length) {
      this.points.pop();
      this.editor.renderer.invalidateOverlay();
      return true;
    }
    if (e.key === "Escape" && this.points.length) { this.cancel(); return true; }
    return false;
  }
  cancel() { this.points = []; this.editor.renderer.invalidateOverlay(); }
  paint(ctx, vp) {
    const drew = crosshair(ctx, vp, this.hover);
    const color = this.editor.colorOf(this.editor.currentLabel);
    ctx.font = "700 11px system-ui, sans-serif";
    this.points.forEach(([x, y], i) => {
      const [sx, sy] = vp.toScreen(x, y);
      dot(ctx, sx, sy, color, 5);
      ctx.fillStyle = "#fff";
      ctx.fillText(String(i + 1), sx + 7, sy - 7);
    });
    if (this.hover) {
      ctx.fillStyle = "rgba(0,0,0,0.65)";
      const text = `extreme point ${this.points.length + 1} of 4`;
      const w = ctx.measureText(text).width + 10;
      ctx.fillRect(this.hover.sx + 12, this.hover.sy + 12, w, 18);
      ctx.fillStyle = "#fff";
      ctx.fillText(text, this.hover.sx + 17, this.hover.sy + 25);
    }
    return drew || this.points.length > 0;
  }
  leave() { this.hover = null; this.editor.renderer.invalidateOverlay(); }
}
