// Copy, paste and duplicate shapes (Ctrl+C, Ctrl+V, Ctrl+D). The clipboard is this tab's
// (sessionStorage), so shapes copied on one image can be pasted on the next. Pasted shapes are
// ordinary ``create`` commands (source manual), sent as one atomic batch and one undo step.
// On the image they were copied from they land OFFSET px lower right; on another image at the
// same place; either way clipped to the image. A class the project does not have (or has
// retired) is refused, with a message.

import { commands } from "./commands.js";
import { clampBox, clampPoint, polygonArea } from "./geometry.js";
import { toast } from "./toast.js";

const KEY = "lw.clipboard";
export const OFFSET = 10;
const COPYABLE = new Set(["box", "polygon", "point", "mask"]);

function plural(n, word) { return `${n} ${word}${n === 1 ? "" : "s"}`; }

/** The selected shapes' type, class and geometry, to the clipboard; how many. */
export function copyShapes(editor) {
  const shapes = editor.selection.map((id) => editor.labels.get(id))
    .filter((a) => a && COPYABLE.has(a.type))
    .map((a) => ({ type: a.type, label: a.label, geometry: a.geometry }));
  if (!shapes.length) { toast("Select the shapes to copy first."); return 0; }
  try {
    sessionStorage.setItem(KEY, JSON.stringify({ image_id: editor.imageId, width: editor.imageW,
                                                 height: editor.imageH, shapes }));
  } catch {
    toast("Too large to copy.", { kind: "error" });
    return 0;
  }
  toast(`Copied ${plural(shapes.length, "shape")}.`);
  return shapes.length;
}

export function clipboard() {
  try { return JSON.parse(sessionStorage.getItem(KEY) || "null"); } catch { return null; }
}

/** The clipboard's shapes onto this image; the new ids (selected). */
export function pasteShapes(editor) {
  const clip = clipboard();
  if (!clip || !clip.shapes.length) { toast("Nothing to paste: copy shapes with Ctrl+C first."); return []; }
  const offset = clip.image_id === editor.imageId ? OFFSET : 0;
  return place(editor, clip.shapes, offset, "Pasted");
}

/** Copies of the selected shapes, OFFSET px lower right (the clipboard is left alone). */
export function duplicateShapes(editor) {
  const shapes = editor.selection.map((id) => editor.labels.get(id))
    .filter((a) => a && COPYABLE.has(a.type));
  if (!shapes.length) { toast("Select the shapes to duplicate first."); return []; }
  return place(editor, shapes, OFFSET, "Duplicated");
}

function place(editor, shapes, offset, verb) {
  if (editor.readOnly) return [];
  const missing = new Set(), outside = [];
  const list = [], undo = [];
  for (const s of shapes) {
    if (!editor.classes.includes(s.label)) { missing.add(s.label); continue; }
    const geometry = moved(editor, s, offset);
    if (!geometry) { outside.push(s); continue; }
    const c = commands.create(s.type, s.label, geometry);
    list.push(c);
    undo.push({ kind: "create", id: c.annotation.id, after: { type: s.type, label: s.label, geometry } });
  }
  if (missing.size) {
    toast(`Not pasted: this project has no class ${[...missing].map((l) => `“${l}”`).join(", ")}.`,
          { kind: "error", ms: 6000 });
  }
  if (outside.length) {
    toast(`${plural(outside.length, "shape")} left out: ${outside.some((s) => s.type === "mask")
      ? "a mask fits only an image of its own size, and " : ""}nothing of it would be inside the image.`,
          { kind: "warn", ms: 6000 });
  }
  if (!list.length) return [];
  editor.send(list, { undo });
  const ids = list.map((c) => c.annotation.id);
  editor.select(ids);
  toast(`${verb} ${plural(ids.length, "shape")}.`, { kind: "success" });
  return ids;
}

/** ``shape``'s geometry moved by (d, d) and clipped to the image; null when nothing is left. */
function moved(editor, shape, d) {
  const W = editor.imageW, H = editor.imageH, g = shape.geometry;
  if (shape.type === "box") {
    const b = clampBox({ x: g.x + d, y: g.y + d, w: g.w, h: g.h }, W, H);
    return b.w > 0 && b.h > 0 ? b : null;
  }
  if (shape.type === "point") {
    if (g.x + d > W || g.y + d > H) return null;
    const [x, y] = clampPoint(g.x + d, g.y + d, W, H);
    return { x, y };
  }
  if (shape.type === "polygon") {
    const points = g.points.map(([x, y]) => clampPoint(x + d, y + d, W, H));
    return polygonArea(points) > 0 ? { points } : null;
  }
  if (shape.type === "mask") {
    const [h, w] = g.rle.size;
    if (h !== H || w !== W) return null;
    if (!d) return { rle: g.rle };
    const probe = { id: `clipboard:${g.rle.counts.length}:${Math.random()}`, geometry: g };
    try { return editor.movedMask(probe, d, d) || { rle: g.rle }; } finally { editor.masks.forget(probe.id); }
  }
  return null;
}
