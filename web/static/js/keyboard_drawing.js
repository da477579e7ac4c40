// Drawing from the keyboard (issue 12, WCAG 2.1.1): a cursor on the image that the arrow keys
// move by one image pixel (Shift: 10), and Enter or Space where the mouse would click. The
// shapes are made by the drawing tools' own methods (tools.js: the box's down / move / finish,
// the point's down, the polygon's points and finish), so a box drawn from the keyboard is the
// same command as one drawn with the mouse: the class chosen, one undo step.
//
// The cursor appears when Box, Polygon or Point is picked by its key (B, P, O) on the canvas,
// or on Enter or an arrow key there with one of those tools; it goes when the mouse moves on
// the image (the pointer takes over, and the shape under way goes on with it) or another tool is
// picked. While it is shown the arrows move it, except when nothing is being drawn and the
// selection is one the user chose (click, object list, Ctrl+A, N, . ,): then they move that
// shape, as they always did. The shape just drawn is selected but not chosen, so the arrows
// go on to the next shape.

export const KEYBOARD_TOOLS = ["box", "polygon", "point"];

const STEPS = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
const NAMES = { box: "Box", polygon: "Polygon", point: "Point" };
const HOW = {
  box: "Enter sets the first corner",
  polygon: "Enter adds a point, Shift+Enter closes",
  point: "Enter places a point",
};
const FOCUS = "#d97706"; // --focus in app.css: the canvas's focus ring

export class KeyboardDrawing {
  constructor(editor) {
    this.editor = editor;
    this.pos = null;         // the cursor, whole image pixels; kept while hidden (next start)
    this.shown = false;
    this.lastPointer = null; // the pointer's last page position (a move to the same place is none)
    this.announce = () => {}; // (text): the screen's live region says it
    this.moved = () => {};    // ({x, y} | null): the screen shows where the cursor is
  }

  get tool() { return this.editor.tool; }

  get usable() { return KEYBOARD_TOOLS.includes(this.tool.name) && !this.editor.readOnly; }

  /** Whether a shape is under way (a box's first corner, a polygon's points). */
  get drawing() {
    const t = this.tool;
    return t.name === "box" ? Boolean(t.start) : t.name === "polygon" ? t.points.length > 0 : false;
  }

  /** The cursor as a tool's pointer position; its screen coordinates follow zoom and pan. */
  point() {
    const { x, y } = this.pos;
    const vp = this.editor.renderer.viewport;
    return { x, y, keyboard: true,
             get sx() { return vp.toScreen(x, y)[0]; }, get sy() { return vp.toScreen(x, y)[1]; } };
  }

  visible(x, y, margin = 0) {
    const vp = this.editor.renderer.viewport;
    const [sx, sy] = vp.toScreen(x, y);
    return sx >= margin && sy >= margin && sx <= vp.width - margin && sy <= vp.height - margin;
  }

  /** Show the cursor: where the keyboard left it, else the image's centre, else (out of view)
   * the centre of the part of the image in view. */
  show() {
    if (!this.usable) return;
    const { imageW: W, imageH: H } = this.editor;
    const clamp = (v, max) => Math.max(0, Math.min(max, Math.round(v)));
    const centre = { x: clamp(W / 2, W), y: clamp(H / 2, H) };
    if (!this.pos || !this.visible(this.pos.x, this.pos.y)) {
      if (this.visible(centre.x, centre.y)) this.pos = centre;
      else {
        const [x0, y0, x1, y1] = this.editor.renderer.viewport.visible();
        this.pos = { x: clamp((Math.max(0, x0) + Math.min(W, x1)) / 2, W),
                     y: clamp((Math.max(0, y0) + Math.min(H, y1)) / 2, H) };
      }
    }
    this.shown = true;
    this.follow();
    const t = this.tool.name;
    this.announce(`${NAMES[t]} from the keyboard: cursor at ${this.pos.x}, ${this.pos.y}. `
      + `Arrows move it (Shift: 10 px), ${HOW[t]}.`);
  }

  hide() {
    if (!this.shown) return;
    this.shown = false;
    // The tools' crosshairs at the cursor go too (a pointer's come back with the pointer).
    for (const name of KEYBOARD_TOOLS) {
      const t = this.editor.tools[name];
      if (t.hover && t.hover.keyboard) t.hover = null;
    }
    this.announce("");
    this.moved(null);
    this.editor.renderer.invalidateOverlay();
  }

  /** The pointer moved or pressed on the image: the mouse takes over. */
  pointer(e, down = false) {
    const at = [e.clientX, e.clientY];
    const same = this.lastPointer && at[0] === this.lastPointer[0] && at[1] === this.lastPointer[1];
    this.lastPointer = at;
    if (down || !same) this.hide();
  }

  /** The tool gets the cursor as its pointer; the view keeps the cursor in sight. */
  follow() {
    const { x, y } = this.pos;
    if (!this.visible(x, y, 20)) {
      this.editor.renderer.viewport.reveal([x, y, x, y], 60);
      this.editor.renderer.moved();
      this.editor.dispatchEvent(new CustomEvent("view"));
    }
    this.tool.move(this.point());
    this.editor.renderer.invalidateOverlay();
    this.moved(this.describe());
  }

  describe() {
    const t = this.tool;
    const out = { x: this.pos.x, y: this.pos.y };
    if (t.name === "box" && t.start) {
      out.w = Math.abs(this.pos.x - t.start.x);
      out.h = Math.abs(this.pos.y - t.start.y);
    }
    return out;
  }

  /** A key on the canvas (before the shortcut table); true if it was the drawing's. */
  key(e) {
    if (e.altKey || e.ctrlKey || e.metaKey || !this.usable) return false;
    const ed = this.editor, t = this.tool;
    const step = STEPS[e.key];
    if (step) {
      // A selection the user chose (or, with no cursor, any selection) moves, as before.
      if (!this.drawing && ed.selection.length && (ed.selectionExplicit || !this.shown)) return false;
      if (!this.shown) this.show();
      const n = e.shiftKey ? 10 : 1;
      this.pos = { x: Math.max(0, Math.min(ed.imageW, this.pos.x + step[0] * n)),
                   y: Math.max(0, Math.min(ed.imageH, this.pos.y + step[1] * n)) };
      this.follow();
      return true;
    }
    if (e.key === "Enter" || e.key === " ") {
      if (!this.shown) {
        // Space held pans; Enter closes a polygon clicked with the mouse (tools.js).
        if (e.key === " " || (t.name === "polygon" && t.points.length)) return false;
        this.show();
        return true;
      }
      if (e.repeat) return true; // a held key places once
      if (t.name === "polygon" && e.key === "Enter" && e.shiftKey) this.closePolygon();
      else this.place();
      return true;
    }
    if (!this.shown || !this.drawing) return false;
    if (e.key === "Escape") {
      t.cancel();
      this.announce(`${NAMES[t.name]} cancelled.`);
      this.moved(this.describe());
      return true;
    }
    if (e.key === "Backspace") {
      if (t.name === "box") {
        t.cancel();
        this.announce("First corner removed. Enter sets it again.");
      } else {
        t.points.pop();
        ed.renderer.invalidateOverlay();
        this.announce(t.points.length ? `Last point removed; ${t.points.length} left.` : "Last point removed; none left.");
      }
      this.moved(this.describe());
      return true;
    }
    return false;
  }

  /** Enter or Space: the click of the tool in use, at the cursor. */
  place() {
    const ed = this.editor, t = this.tool, p = this.point();
    const { x, y } = this.pos;
    const cls = ed.currentLabel;
    if (t.name === "box") {
      if (!t.start) {
        t.down(p);
        t.move(p);
        this.announce(`First corner set at ${x}, ${y}. Arrows stretch the box, Enter sets the other corner, Esc cancels.`);
      } else if (x === t.start.x || y === t.start.y) {
        this.announce("The box has no width or height yet: move the cursor away from the first corner.");
      } else {
        const a = t.start;
        const id = t.finish(p, 0);
        const x0 = Math.min(a.x, x), y0 = Math.min(a.y, y);
        this.announce(id ? `Box created from ${x0}, ${y0} to ${Math.max(a.x, x)}, ${Math.max(a.y, y)} `
          + `(${Math.abs(x - a.x)} by ${Math.abs(y - a.y)}), class ${cls}.` : "No class to draw with.");
      }
    } else if (t.name === "polygon") {
      // A click near the first point closes the polygon; the keyboard closes it only exactly
      // on that point (or with Shift+Enter): a point placed close by is a point.
      const n = t.points.length;
      const [first, last] = [t.points[0], t.points[n - 1]];
      if (n >= 3 && first[0] === x && first[1] === y) {
        this.closePolygon();
        return;
      }
      if (last && last[0] === x && last[1] === y) {
        this.announce(`Point ${n} is already at ${x}, ${y}: move the cursor first.`);
      } else {
        t.points.push([x, y]);
        ed.renderer.invalidateOverlay();
        this.announce(`Point ${n + 1} of the polygon at ${x}, ${y}. `
          + (n + 1 >= 3 ? "Shift+Enter closes it." : "Enter adds the next."));
      }
    } else if (t.name === "point") {
      t.down(p);
      this.announce(cls ? `Point created at ${x}, ${y}, class ${cls}.` : "No class to draw with.");
    }
    this.moved(this.describe());
  }

  closePolygon() {
    const t = this.tool;
    const n = t.points.length;
    if (n < 3) {
      this.announce(`A polygon needs at least 3 points; it has ${n}.`);
      return;
    }
    t.finish();
    this.announce(`Polygon of ${n} points created, class ${this.editor.currentLabel}.`);
    this.moved(this.describe());
  }

  /** The cursor: a ring and a cross in the focus colour, outlined so it shows on any image. */
  paint(ctx, vp) {
    if (!this.shown || !this.usable || !this.pos) return false;
    const [sx, sy] = vp.toScreen(this.pos.x, this.pos.y);
    const x = Math.round(sx) + 0.5, y = Math.round(sy) + 0.5;
    for (const [color, width] of [["rgba(0,0,0,0.75)", 4], [FOCUS, 2]]) {
      ctx.strokeStyle = color;
      ctx.lineWidth = width;
      ctx.beginPath();
      ctx.arc(x, y, 9, 0, Math.PI * 2);
      for (const [dx, dy] of [[-1, 0], [1, 0], [0, -1], [0, 1]]) {
        ctx.moveTo(x + dx * 4, y + dy * 4);
        ctx.lineTo(x + dx * 16, y + dy * 16);
      }
      ctx.stroke();
    }
    return true;
  }
}
