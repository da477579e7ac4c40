// The annotation screen's keyboard table: handled by shortcuts.js, shown by the "?" overlay.

import { copyShapes, duplicateShapes, pasteShapes } from "../shape_clipboard.js";

/**
 * ``editor``: the AnnotationEditor; ``stage``: the canvas element; ``canEdit``: whether this
 * user may change labels; ``act``: the screen's actions (pickClass, nextPrelabel, acceptAbove,
 * cycle, arrow, undo, redo, stepOpacity, submit, nextImage, previousImage, history, toggleHelp).
 */
export function annotationKeys({ editor, stage, canEdit, act }) {
  const editing = () => canEdit;
  // Space and Ctrl+A keep their usual meaning off the canvas; Tab always moves the focus (the
  // canvas is no keyboard trap: Tab / Shift+Tab leave it for the side panel and come back).
  const onCanvas = () => document.activeElement === stage || document.activeElement === document.body;
  const busyTool = () => editor.tool.busy;
  return [
    { group: "Tools", keys: ["V"], label: "Select, move, resize", run: () => editor.setTool("select") },
    // Picked with the key on the canvas, box, polygon and point show the keyboard cursor.
    { group: "Tools", keys: ["B"], label: "Box", run: () => editor.setTool("box", { byKey: onCanvas() }), when: editing },
    { group: "Tools", keys: ["P"], label: "Polygon (clicks; Enter closes, Backspace removes the last point)", run: () => editor.setTool("polygon", { byKey: onCanvas() }), when: editing },
    { group: "Tools", keys: ["O"], label: "Point", run: () => editor.setTool("point", { byKey: onCanvas() }), when: editing },
    { group: "Tools", keys: ["E"], label: "Extreme points: 4 clicks make a box", run: () => editor.setTool("extreme"), when: editing },
    { group: "Tools", keys: ["M"], label: "Assist: clicks (right/Alt/Shift: negative), extreme points or a box → a proposal; Enter accepts, further clicks refine it", run: () => editor.setTool("assist"), when: editing },
    { group: "Tools", keys: ["D"], label: "Mask brush (paints the selected mask, or a new one)", run: () => editor.setTool("brush"), when: editing },
    { group: "Tools", keys: ["X"], label: "Mask eraser", run: () => editor.setTool("eraser"), when: editing },
    { group: "Labels", keys: ["Shift+P"], label: "Selected mask → polygon (the mask is replaced)", when: editing,
      run: () => { if (editor.selection.length === 1) editor.maskToPolygon(editor.selection[0]); } },
    { group: "Tools", keys: ["Escape"], label: "Cancel drawing, else clear the selection",
      run: () => { if (editor.tool !== editor.tools.select) editor.setTool("select"); else editor.select([]); } },
    // Drawing from the keyboard (keyboard_drawing.js claims these keys before this table; the
    // entries are for the "?" overlay).
    ...[
      ["B, P, O", "On the canvas: the tool and a drawing cursor on the image (also: Enter or an arrow with the tool; the mouse moving on the image hides it)"],
      ["← ↑ → ↓", "Move the drawing cursor 1 image px (Shift: 10 px). A shape you chose (click, list, Ctrl+A, N, . ,) and nothing under way: the arrows move the shape"],
      ["Enter / Space", "Box: first corner, then the opposite one (the box is made, in the class picked); polygon: add a point; point: place it"],
      ["Shift+Enter", "Close the polygon (3 points or more)"],
      ["Backspace", "Remove the polygon's last point / the box's first corner"],
      ["Esc", "Cancel the shape under way"],
    ].map(([display, label]) => ({ group: "Draw with the keyboard", keys: ["Unidentified"], display, label,
                                   run: () => false, when: () => false })),
    { group: "Labels", keys: ["1"], display: "1 … 9", label: "Pick the class of the next shape; a shape you selected (click, list, Ctrl+A, N, . ,) is relabelled too, the one just drawn is not", run: (e) => act.pickClass(editor.classes[Number(e.key) - 1]) },
    ...[2, 3, 4, 5, 6, 7, 8, 9].map((n) => ({ group: "Labels", keys: [String(n)], hidden: true, label: "",
                                               run: () => editor.classes[n - 1] && act.pickClass(editor.classes[n - 1]) })),
    { group: "Labels", keys: ["A"], label: "Accept the selected pre-label(s)", when: editing,
      run: () => { const n = editor.accept(editor.selection); if (n) act.nextPrelabel(); } },
    { group: "Labels", keys: ["Shift+A"], label: "Accept all pre-labels above the score threshold", when: editing, run: () => act.acceptAbove() },
    { group: "Labels", keys: ["N"], label: "Next pre-label (highest score first)", run: () => act.nextPrelabel(1) },
    { group: "Labels", keys: ["Shift+N"], label: "Previous pre-label", run: () => act.nextPrelabel(-1) },
    { group: "Labels", keys: ["Delete", "Backspace"], label: "Delete the selection (rejects a pre-label)", when: () => editing() && !busyTool(),
      run: () => editor.remove(editor.selection) },
    { group: "Labels", keys: ["."], label: "Select the next object", run: () => act.cycle(1) },
    { group: "Labels", keys: [","], label: "Select the previous object", run: () => act.cycle(-1) },
    { group: "Labels", keys: ["Ctrl+A"], label: "Select all shapes (on the canvas; in a text field: its text)",
      run: () => editor.selectAll(), when: onCanvas },
    // Elsewhere Ctrl+A does nothing rather than select the page's text (text fields keep it).
    { group: "Labels", keys: ["Ctrl+A"], hidden: true, label: "", run: () => {} },
    { group: "Image", keys: ["Tab", "Shift+Tab"], label: "Move the focus: from the canvas to the side panel (classes, pre-labels, tags, submit, review) and back",
      run: () => false, when: () => false },
    { group: "Labels", keys: ["ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown"], label: "Move the selection 1 px (with Shift: 10 px); nothing selected: pan. Box, polygon, point: the drawing cursor (below)",
      run: (e) => act.arrow(e, 1) },
    ...["ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown"].map((k) => ({ group: "Labels", keys: [`Shift+${k}`], hidden: true, label: "", run: (e) => act.arrow(e, 10) })),
    // Copy / paste / duplicate (shape_clipboard.js); a text selection on the page keeps Ctrl+C.
    { group: "Labels", keys: ["Ctrl+C"], label: "Copy the selected shapes (paste them here or on another image)",
      run: () => copyShapes(editor), when: () => editor.selection.length > 0 && String(window.getSelection()) === "" },
    { group: "Labels", keys: ["Ctrl+V"], label: "Paste (10 px lower right on the same image, in place on another; clipped to the image)",
      run: () => { pasteShapes(editor); }, when: editing },
    { group: "Labels", keys: ["Ctrl+D"], label: "Duplicate the selected shapes (10 px lower right)",
      run: () => { duplicateShapes(editor); }, when: editing },
    // Hide / lock / z-order: this person's view of the image, not recorded (shape_view_state.js).
    { group: "View", keys: ["Shift+H"], label: "Hide the selected shapes; nothing selected: show every hidden shape",
      run: () => (editor.selection.length ? editor.view.setHidden(editor.selection, true) : editor.view.showAll()) },
    { group: "View", keys: ["L"], label: "Lock the selected shapes (no click or drag reaches them); nothing selected: unlock all",
      run: () => (editor.selection.length ? editor.view.setLocked(editor.selection, true) : editor.view.unlockAll()) },
    { group: "View", keys: ["Ctrl+]"], label: "Bring the selected shapes to front (a click in an overlap picks them)",
      run: () => editor.view.toFront(editor.selection) },
    { group: "View", keys: ["Ctrl+["], label: "Send the selected shapes to back",
      run: () => editor.view.toBack(editor.selection) },
    { group: "History", keys: ["Ctrl+Z"], label: "Undo your last change", run: () => act.undo(), when: editing },
    { group: "History", keys: ["Ctrl+Shift+Z", "Ctrl+Y"], label: "Redo", run: () => act.redo(), when: editing },
    { group: "View", keys: ["F"], label: "Fit the image", run: () => editor.fit() },
    { group: "View", keys: ["0"], label: "Actual size (1:1)", run: () => editor.actualSize() },
    { group: "View", keys: ["+", "="], label: "Zoom in", run: () => editor.zoomIn() },
    { group: "View", keys: ["-"], label: "Zoom out", run: () => editor.zoomOut() },
    { group: "View", keys: ["Space"], label: "Hold and drag to pan (also: right or middle drag; wheel zooms)",
      run: (e) => { if (!e.repeat) { editor.spaceDown = true; editor.setCursor("grab"); } }, when: onCanvas },
    { group: "View", keys: ["H"], label: "Hide or show all labels", run: () => { const o = editor.renderer.options; o.showAnnotations = !o.showAnnotations; editor.renderer.invalidateLabels(); } },
    { group: "View", keys: ["["], label: "Masks more transparent (brush, eraser: smaller)", run: () => act.stepOpacity(-0.1) },
    { group: "View", keys: ["]"], label: "Masks more opaque (brush, eraser: larger)", run: () => act.stepOpacity(0.1) },
    { group: "Image", keys: ["Ctrl+Enter"], label: "Submit the image and open the next", run: () => act.submit(), when: editing },
    { group: "Image", keys: ["Ctrl+ArrowRight"], label: "Next image (without submitting)", run: () => act.nextImage() },
    { group: "Image", keys: ["Ctrl+ArrowLeft"], label: "Previous image (the one opened before, in this tab)", run: () => act.previousImage() },
    { group: "Image", keys: ["Y"], label: "History and replay of this image", run: () => act.history() },
    { group: "Image", keys: ["?"], label: "Show this help", run: () => act.toggleHelp() },
];
}
