// The manager's "Add images and predictions" panel on a project's page: drop images or whole
// folders (or pick them), watch them upload with a result per file, and import a predictions
// file as pre-labels. Everything goes through the HTTP API of docs/api.md.

import { ApiError, request } from "../api.js";
import { h, clear } from "../dom.js";
import { formatBytes } from "../model_files.js";
import { UploadQueue, droppedFiles, LIMITS } from "../upload_queue.js";
import { datasetSection } from "./dataset_import.js";

const STATE_TEXT = {
  skipped: "Skipped", waiting: "Waiting", sending: "Uploading", added: "Added",
  duplicate: "Duplicate", refused: "Refused", failed: "Failed", cancelled: "Cancelled",
};
const MAX_PREDICTIONS_BYTES = 16 * 1024 * 1024;  // docs/security.md: other JSON bodies

/** The panel (a <details>, open when ``open``); ``onChanged`` runs after images or pre-labels
 * were added, so the page can show them. */
export function uploadPanel(project, { open = false, onChanged = () => {} } = {}) {
  return h("details", { class: "card upload-panel", id: "upload-panel", open },
    h("summary", {}, h("h2", { class: "upload-summary" }, "Add images, predictions and labeled datasets")),
    h("div", { class: "upload-grid" }, imagesSection(project, onChanged), predictionsSection(project, onChanged),
      datasetSection(project, (position) => settled(project.id, position, onChanged))));
}

/** ``then()`` once the read models show what was written at ``position`` (the image list and
 * counts the page reloads are read models). */
async function settled(projectId, position, then) {
  if (Number.isInteger(position)) {
    try { await request("GET", `/projects/${projectId}?min_position=${position}`); } catch { /* show what is there */ }
  }
  try { await then(); } catch (e) { console.warn("the page could not show the new images", e); }
}

function imagesSection(project, onChanged) {
  const queue = new UploadQueue(project.id);
  const filesInput = h("input", { type: "file", id: "upload-files", multiple: true, class: "visually-hidden",
                                   accept: "image/*", tabindex: "-1", "aria-hidden": "true" });
  const folderInput = h("input", { type: "file", id: "upload-folder", multiple: true, class: "visually-hidden",
                                    webkitdirectory: "", tabindex: "-1", "aria-hidden": "true" });
  const pickFiles = h("button", { type: "button", class: "btn", id: "upload-pick-files",
                                  onclick: () => filesInput.click() }, "Choose images…");
  const pickFolder = h("button", { type: "button", class: "btn", id: "upload-pick-folder",
                                   onclick: () => folderInput.click() }, "Choose a folder…");
  const drop = h("div", { class: "dropzone", id: "upload-drop", role: "group",
                          "aria-labelledby": "upload-drop-title", "aria-describedby": "upload-drop-hint" },
    h("p", { class: "dropzone-title", id: "upload-drop-title" }, "Drop images or folders here"),
    h("p", { class: "muted small", id: "upload-drop-hint" },
      `JPEG, PNG, GIF, BMP, TIFF or WebP, up to ${LIMITS.maxFileBytes / 1024 / 1024} MiB each; other files are skipped. `
      + "The same picture twice is one image."),
    h("div", { class: "page-actions center-actions" }, pickFiles, pickFolder), filesInput, folderInput);

  const bar = h("progress", { id: "upload-progress", max: 1, value: 0, "aria-labelledby": "upload-progress-text" });
  const barText = h("span", { class: "small", id: "upload-progress-text" }, "");
  const live = h("p", { class: "visually-hidden", id: "upload-live", role: "status", "aria-live": "polite" });
  const cancel = h("button", { type: "button", class: "btn", id: "upload-cancel", hidden: true,
                               onclick: () => queue.cancel() }, "Cancel upload");
  const retry = h("button", { type: "button", class: "btn", id: "upload-retry", hidden: true,
                              onclick: () => { if (queue.retryFailed()) run(); } }, "Retry failed files");
  const summary = h("p", { class: "upload-counts small", id: "upload-counts" });
  const list = h("ul", { class: "upload-results", id: "upload-results", role: "list", "aria-label": "Files" });
  const status = h("div", { class: "upload-status", hidden: true },
    h("div", { class: "upload-progress-row" }, bar, barText, cancel, retry), summary, list);
  const rows = new Map();

  function row(it) {
    let el = rows.get(it.id);
    const shown = `${it.state}\n${it.message || ""}`;
    if (el && el.dataset.shown === shown) return el;  // thousands of rows: touch the changed ones
    if (!el) {
      el = h("li", { class: "upload-row" },
        h("span", { class: "upload-state" }), h("span", { class: "upload-name" }),
        h("span", { class: "upload-size muted small" }), h("span", { class: "upload-message small" }));
      rows.set(it.id, el);
      list.append(el);
    }
    el.dataset.shown = shown;
    el.dataset.state = it.state;
    el.dataset.name = it.file.name;
    el.querySelector(".upload-state").textContent = STATE_TEXT[it.state] || it.state;
    el.querySelector(".upload-state").className = `upload-state state-${it.state}`;
    el.querySelector(".upload-name").textContent = it.path;
    el.querySelector(".upload-size").textContent = formatBytes(it.size);
    el.querySelector(".upload-message").textContent = it.message || "";
    return el;
  }

  let lastAnnounced = "";
  function render() {
    status.hidden = queue.items.length === 0;
    const p = queue.progress();
    bar.max = Math.max(p.bytesTotal, 1);
    bar.value = p.bytesTotal ? p.bytesDone : 0;
    barText.textContent = `${p.done} of ${p.total} files · ${formatBytes(p.bytesDone)} of ${formatBytes(p.bytesTotal)}`;
    const parts = [[p.added, "added"], [p.duplicate, "duplicate"], [p.refused, "refused"], [p.failed, "failed"],
                   [p.cancelled, "cancelled"], [p.skipped, "skipped"]].filter(([n]) => n).map(([n, t]) => `${n} ${t}`);
    summary.textContent = parts.length ? parts.join(" · ") : "";
    cancel.hidden = !queue.running;
    retry.hidden = queue.running || !(p.failed + p.cancelled);
    for (const it of queue.items) row(it);
    // The live region speaks at a file's end, not at every progress event.
    const said = queue.running ? `Uploading: ${p.done} of ${p.total} files done`
      : `Upload finished: ${summary.textContent || "nothing sent"}`;
    if (said !== lastAnnounced) { lastAnnounced = said; live.textContent = said; }
  }
  let frame = 0;  // one render a frame, however often the upload reports progress
  queue.addEventListener("change", () => {
    if (!frame) frame = requestAnimationFrame(() => { frame = 0; render(); });
  });

  async function run() {
    const before = queue.progress();
    await queue.start();
    render();
    const after = queue.progress();
    if (after.added + after.duplicate > before.added + before.duplicate) await settled(project.id, queue.position, onChanged);
  }

  function take(entries) {
    if (!entries.length) return;
    queue.add(entries);
    if (!queue.running) run();  // a run already going sends them after what it planned
  }

  filesInput.addEventListener("change", () => { take([...filesInput.files]); filesInput.value = ""; });
  folderInput.addEventListener("change", () => { take([...folderInput.files]); folderInput.value = ""; });
  // The whole section takes the drop: a file dropped beside the zone must not make the
  // browser leave the page to show it.
  const section = h("section", { class: "upload-images", "aria-labelledby": "upload-images-title" },
    h("h3", { id: "upload-images-title" }, "Images"), drop, live, status);
  section.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("dragging"); });
  section.addEventListener("dragleave", (e) => {
    if (!section.contains(e.relatedTarget)) drop.classList.remove("dragging");
  });
  drop.addEventListener("click", (e) => { if (e.target === drop || e.target.tagName === "P") filesInput.click(); });
  section.addEventListener("drop", async (e) => {
    e.preventDefault();
    drop.classList.remove("dragging");
    try {
      take(await droppedFiles(e.dataTransfer));
    } catch (err) {
      live.textContent = `The dropped files could not be read: ${err.message || err}`;
    }
  });

  return section;
}

function predictionsSection(project, onChanged) {
  const file = h("input", { type: "file", id: "predictions-file", accept: ".json,application/json", required: true });
  const name = h("input", { type: "text", id: "predictions-model", maxlength: 200, autocomplete: "off",
                            placeholder: "from the file" });
  const version = h("input", { type: "text", id: "predictions-version", maxlength: 200, autocomplete: "off",
                               placeholder: "from the file" });
  const format = h("select", { id: "predictions-format" },
    h("option", { value: "auto" }, "Find out from the file"),
    h("option", { value: "coco" }, "COCO results (a list)"),
    h("option", { value: "labelwright" }, "Labelwright JSON"));
  const submit = h("button", { type: "submit", class: "btn btn-primary", id: "predictions-import" }, "Import predictions");
  const result = h("div", { id: "predictions-result", role: "status", "aria-live": "polite" });
  const label = (id, text) => h("label", { for: id }, text);
  const form = h("form", { class: "predictions-form", novalidate: true },
    h("div", { class: "form-grid" },
      label("predictions-file", "Predictions file"), file,
      label("predictions-format", "Format"), format,
      label("predictions-model", "Model name"), name,
      label("predictions-version", "Model version"), version),
    h("p", { class: "muted small" },
      "COCO results name categories 1…K in the project's class order and images by file name, id or "
      + "export number; they need a model name and version. Labelwright JSON may name its model; "
      + "names given here win. An unknown image or label refuses the whole file."),
    h("div", { class: "page-actions" }, submit), result);

  function show(kind, text) {
    clear(result).append(h("p", { class: kind === "error" ? "notice notice-error" : "notice notice-ok",
                                  dataset: { kind } }, text));
  }

  // A Labelwright file that names its model fills the empty fields.
  file.addEventListener("change", async () => {
    clear(result);
    const f = file.files[0];
    if (!f || f.size > MAX_PREDICTIONS_BYTES) return;
    try {
      const body = JSON.parse(await f.text());
      if (body && !Array.isArray(body) && body.model) {
        if (!name.value && typeof body.model.name === "string") name.value = body.model.name;
        if (!version.value && body.model.version !== undefined) version.value = String(body.model.version);
      }
    } catch { /* said on import */ }
  });

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = file.files[0];
    if (!f) { show("error", "Choose a predictions file (JSON)."); file.focus(); return; }
    if (f.size > MAX_PREDICTIONS_BYTES) {
      show("error", `${f.name} is ${formatBytes(f.size)}; a predictions file may have at most ${formatBytes(MAX_PREDICTIONS_BYTES)}. Split it.`);
      return;
    }
    let body;
    try {
      body = JSON.parse(await f.text());
    } catch (err) {
      show("error", `${f.name} is not valid JSON: ${err.message}`);
      return;
    }
    const isList = Array.isArray(body);
    if (format.value === "coco" && !isList) { show("error", `${f.name} is not COCO results: those are a JSON list.`); return; }
    if (format.value === "labelwright" && (isList || !body || typeof body !== "object")) {
      show("error", `${f.name} is not Labelwright JSON: that is an object with "predictions".`);
      return;
    }
    if (isList && (!name.value.trim() || !version.value.trim())) {
      show("error", "COCO results do not name their model: give the model name and version.");
      (name.value.trim() ? version : name).focus();
      return;
    }
    const q = new URLSearchParams();
    if (name.value.trim()) q.set("model", name.value.trim());
    if (version.value.trim()) q.set("model_version", version.value.trim());
    submit.disabled = true;
    show("info", `Importing ${f.name}…`);
    try {
      const qs = q.toString();
      const answer = await request("POST", `/projects/${project.id}/predictions${qs ? `?${qs}` : ""}`, body);
      const n = answer.annotations;
      show("ok", `Imported ${n} pre-label${n === 1 ? "" : "s"} on ${answer.images} image${answer.images === 1 ? "" : "s"} `
        + `from ${f.name}.`);
      await settled(project.id, answer.position, onChanged);
    } catch (err) {
      const where = err instanceof ApiError && err.details && err.details.field ? ` (at ${err.details.field})` : "";
      const refused = err instanceof ApiError && err.status >= 400 && err.status < 500;
      show("error", `Not imported: ${err.message}${where}.${refused ? " Nothing was recorded." : ""}`);
    } finally {
      submit.disabled = false;
    }
  });

  return h("section", { class: "upload-predictions", "aria-labelledby": "predictions-title" },
    h("h3", { id: "predictions-title" }, "Import predictions"), form);
}
