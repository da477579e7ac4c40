// What changed between two versions of an image's labels: added, removed and changed
// annotations (matched by id), with the IoU of each changed shape to its earlier self, and
// whether its per-object attribute values changed.

import { iou } from "./geometry.js";

// Attribute values as text with the keys in order: the same values set in another order are
// no change.
function sameKeys(attributes) {
  return JSON.stringify(Object.entries(attributes || {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

export function diffLabels(before, after, masks) {
  const a = new Map(before.map((x) => [x.id, x]));
  const b = new Map(after.map((x) => [x.id, x]));
  const added = [], removed = [], changed = [], same = [];
  for (const [id, y] of b) {
    const x = a.get(id);
    if (!x) { added.push(y); continue; }
    const labelChanged = x.label !== y.label;
    const shapeChanged = JSON.stringify(x.geometry) !== JSON.stringify(y.geometry);
    const statusChanged = x.status !== y.status;
    const attributesChanged = sameKeys(x.attributes) !== sameKeys(y.attributes);
    if (labelChanged || shapeChanged || statusChanged || attributesChanged) {
      changed.push({ before: x, after: y, labelChanged, shapeChanged, statusChanged, attributesChanged,
                     iou: shapeChanged ? iou(x, y, masks) : 1 });
    } else {
      same.push(y);
    }
  }
  for (const [id, x] of a) if (!b.has(id)) removed.push(x);
  return { added, removed, changed, same };
}
