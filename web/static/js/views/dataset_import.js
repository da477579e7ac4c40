// "Import labeled dataset" on a project's page (managers): drop or pick a zip, JSON or XML
// file, say its format (guessed from the file), send it to POST /projects/{id}/datasets with
// upload progress, then show what was recorded or the server's refusal (file and line).

import { ApiError, upload } from "../api.js";
import { h, clear } from "../dom.js";
import { formatBytes } from "../model_files.js";

export const DATASET_FORMATS = [
  ["coco", "COCO instances JSON (or a zip with images)"],
  ["yolo", "YOLO detection (zip)"],
  ["yolo_seg", "YOLO segmentation (zip)"],
  ["voc", "Pascal VOC XML (zip, or one file)"],
  ["cvat", "CVAT for images 1.1 XML"],
  ["labelstudio", "Label Studio JSON"],
  ["labelwright", "Labelwright export JSON"],
];

/** The format a file name suggests, or null (a zip can be several). */
function guessFormat(name) {
  const lower = name.toLowerCase();
  if (lower.includes("yolo") && lower.includes("seg")) return "yolo_seg";
  if (lower.includes("yolo")) return "yolo";
  if (lower.includes("voc")) return "voc";
  if (lower.includes("cvat") || lower === "annotations.xml") return "cvat";
  if (lower.includes("label") && lower.includes("studio")) return "labelstudio";
  if (lower.includes("coco") || lower.startsWith("instances")) return "coco";
  if (lower.includes("labelwright")) return "labelwright";
  return null;
}

function describe(answer) {
  const parts = [`${answer.annotations} label${answer.annotations === 1 ? "" : "s"} on ${answer.images} image${answer.images === 1 ? "" : "s"} imported`];
  if (answer.images_added) parts.push(`${answer.images_added} new image${answer.images_added === 1 ? "" : "s"} added`);
  if (answer.classes_added && answer.classes_added.length) parts.push(`classes added: ${answer.classes_added.join(", ")}`);
  if (answer.skipped) parts.push(`${answer.skipped} object${answer.skipped === 1 ? "" : "s"} skipped`);
  return `${parts.join("; ")}.`;
}

/** The section; ``onChanged`` runs once the import is recorded (the page reloads its list). */
export function datasetSection(project, onChanged) {
  let chosen = null;
  const file = h("input", { type: "file", id: "dataset-file", accept: ".zip,.json,.xml,application/zip,application/json,text/xml",
                            class: "visually-hidden", tabindex: "-1", "aria-hidden": "true" });
  const pick = h("button", { type: "button", class: "btn", id: "dataset-pick", onclick: () => file.click() }, "Choose a file…");
  const chosenText = h("span", { class: "small", id: "dataset-chosen" }, "No file chosen");
  const drop = h("div", { class: "dropzone", id: "dataset-drop", role: "group", "aria-labelledby": "dataset-drop-title" },
    h("p", { class: "dropzone-title", id: "dataset-drop-title" }, "Drop a dataset here"),
    h("p", { class: "muted small" }, "A zip (label files, and images to add), or one JSON or XML file."),
    h("div", { class: "page-actions center-actions" }, pick, chosenText), file);
  const format = h("select", { id: "dataset-format", required: true },
    h("option", { value: "" }, "Choose the format…"),
    ...DATASET_FORMATS.map(([value, text]) => h("option", { value }, text)));
  const createClasses = h("input", { type: "checkbox", id: "dataset-create-classes" });
  const submit = h("button", { type: "submit", class: "btn btn-primary", id: "dataset-import" }, "Import dataset");
  const bar = h("progress", { id: "dataset-progress", max: 1, value: 0, hidden: true, "aria-labelledby": "dataset-progress-text" });
  const barText = h("span", { class: "small", id: "dataset-progress-text" }, "");
  const result = h("div", { id: "dataset-result", role: "status", "aria-live": "polite" });

  function choose(f) {
    chosen = f || null;
    chosenText.textContent = chosen ? `${chosen.name} (${formatBytes(chosen.size)})` : "No file chosen";
    const guess = chosen ? guessFormat(chosen.name) : null;
    if (guess && !format.value) format.value = guess;
    clear(result);
  }

  function show(kind, text, more = []) {
    clear(result).append(h("div", { class: kind === "error" ? "notice notice-error" : "notice notice-ok", dataset: { kind } },
      h("p", {}, text), ...more));
  }

  file.addEventListener("change", () => { choose(file.files[0]); file.value = ""; });
  const label = (id, text) => h("label", { for: id }, text);
  const form = h("form", { class: "dataset-form", novalidate: true },
    drop,
    h("div", { class: "form-grid" },
      label("dataset-format", "Format"), format,
      label("dataset-create-classes", "Add missing classes"), createClasses),
    h("p", { class: "muted small" },
      "Labels become human labels, matched to the project's images by file name (images in a zip are added). "
      + "Classes are matched by name. All or nothing: one problem refuses the whole file, and importing the same "
      + "file again records nothing twice."),
    h("div", { class: "page-actions" }, submit, bar, barText), result);

  form.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("dragging"); });
  form.addEventListener("dragleave", (e) => { if (!form.contains(e.relatedTarget)) drop.classList.remove("dragging"); });
  form.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("dragging");
    const f = e.dataTransfer && e.dataTransfer.files[0];
    if (f) choose(f);
  });

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!chosen) { show("error", "Choose a dataset file (a zip, JSON or XML)."); pick.focus(); return; }
    if (!format.value) { show("error", "Choose the dataset's format."); format.focus(); return; }
    const body = new FormData();
    body.append("format", format.value);
    if (createClasses.checked) body.append("create_classes", "true");
    body.append("file", chosen, chosen.name);
    submit.disabled = true;
    bar.hidden = false;
    bar.removeAttribute("value");
    barText.textContent = "Uploading…";
    clear(result);
    try {
      const answer = await upload(`/projects/${project.id}/datasets`, body, {
        onProgress: (sent, total) => {
          if (total) { bar.max = total; bar.value = sent; }
          barText.textContent = sent === total ? "Importing…" : `Uploading ${formatBytes(sent)}${total ? ` of ${formatBytes(total)}` : ""}`;
        },
      });
      bar.hidden = true;
      barText.textContent = "";
      const warnings = (answer.warnings || []).map((w) => h("li", {}, w));
      show("ok", describe(answer), warnings.length ? [h("ul", { class: "small", id: "dataset-warnings" }, ...warnings)] : []);
      await onChanged(answer.position);
    } catch (err) {
      bar.hidden = true;
      barText.textContent = "";
      const details = err instanceof ApiError ? err.details || {} : {};
      const where = details.file ? [h("p", { class: "small", id: "dataset-error-where" },
        `${details.file}${details.line ? `, line ${details.line}` : details.at ? `, ${details.at}` : ""}`)] : [];
      show("error", `The dataset was not imported: ${err.message}`, where);
    } finally {
      submit.disabled = false;
    }
  });

  return h("section", { class: "upload-dataset", "aria-labelledby": "dataset-title" },
    h("h3", { id: "dataset-title" }, "Import labeled dataset"), form);
}
