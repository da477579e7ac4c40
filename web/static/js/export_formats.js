// The export formats the server supports, as it says itself: the `format` parameter of
// GET /projects/{id}/export in the served OpenAPI document (its enum is the server's EXPORTERS
// registry, projections/exports.py). A format the server adds shows up here with no change;
// FORMAT_NAMES only gives known ones a friendlier name.

import { API } from "./api.js";

const FORMAT_NAMES = {
  coco: "COCO (JSON)",
  labelwright: "Labelwright (lossless)",
  yolo: "YOLO detection (zip)",
  yolo_seg: "YOLO segmentation (zip)",
  voc: "Pascal VOC (zip)",
  cvat: "CVAT for images 1.1 (XML)",
  labelstudio: "Label Studio (JSON)",
};

const EXPORT_PATH = `${API}/projects/{project_id}/export`;

let cached = null;

/** The part of the parameter's description ("name: summary; other: …") about ``name``. */
function summaryOf(description, name, names) {
  const start = description.indexOf(`${name}: `);
  if (start < 0) return null;
  let end = description.length;
  for (const other of names) {
    const at = description.indexOf(`; ${other}: `, start);
    if (at >= 0 && at < end) end = at;
  }
  return description.slice(start + name.length + 2, end).trim() || null;
}

/** ``{formats: [{name, title, summary, images, split}], default}`` from the server's OpenAPI
 * document; ``images``/``split``: whether the format takes ``images=true`` / a split (the
 * ``x-formats`` of those parameters). */
export function exportFormats() {
  if (!cached) {
    cached = fetch(`${API}/openapi.json`, { credentials: "same-origin" }).then(async (r) => {
      if (!r.ok) throw new Error(`the server's list of export formats could not be read (HTTP ${r.status})`);
      const doc = await r.json();
      const params = doc.paths?.[EXPORT_PATH]?.get?.parameters || [];
      const param = params.find((p) => p.name === "format");
      const formatsOf = (name) => params.find((p) => p.name === name)?.["x-formats"] || [];
      const withImages = formatsOf("images");
      const withSplit = formatsOf("split");
      const names = param?.schema?.enum;
      if (!Array.isArray(names) || !names.length) throw new Error("the server names no export formats");
      const description = param.description || "";
      return {
        default: param.schema.default || names[0],
        formats: names.map((name) => {
          const summary = summaryOf(description, name, names);
          return { name, title: FORMAT_NAMES[name] || name, summary,
                   images: withImages.includes(name), split: withSplit.includes(name) };
        }),
      };
    });
    cached.catch(() => { cached = null; }); // a failure is asked again next time
  }
  return cached;
}
