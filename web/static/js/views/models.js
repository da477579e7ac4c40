// A project's Models page (managers and admins): register a model by dropping its weights and
// classes file anywhere on the page (or choosing them), see what the server found in them,
// map the model's classes onto the project's, run a pre-label job and watch it live (the
// project room's {"op":"job"} messages; re-read while the socket is down, after it is back,
// and when a running job has been quiet for long), cancel it, retire a model. Every refusal is shown in the API's own words, next to
// the control it is about.

import { api, upload } from "../api.js";
import { h, clear, formatTime } from "../dom.js";
import { toast } from "../toast.js";
import { sortFiles, architectureNeed, nameAndVersion, formatBytes, WEIGHTS_EXTENSIONS,
         CLASSES_EXTENSIONS } from "../model_files.js";
import { classMapEditor } from "../model_class_map.js";
import { JobTable, errorText } from "../model_jobs.js";
import { trainForm, metricName } from "../model_training.js";
import { scoreForm, pickPanel, scorable } from "../model_scoring.js";

const TASKS = [["", "Detect from the file"], ["detect", "Detection (boxes)"], ["segment", "Segmentation (masks)"],
               ["classify", "Classification (tags)"], ["interactive", "Interactive (assist)"]];
// The built-in architectures a state dict can be loaded into
// (inference_workers.architectures.BUILTIN_ARCHITECTURES).
const ARCHITECTURES = [["", "None (ONNX or TorchScript)"], ["centernet", "CenterNet (built-in detector)"],
  ["classifier", "Classifier (built-in, tags)"], ["sam", "SAM / MobileSAM (interactive, for assisted drawing)"]];
const POLL_MS = 4000; // while the live socket is down
const QUIET_MS = 30000; // a running job with no message for this long is re-read anyway
const SHOWN_CLASSES = 12;

function hasFiles(e) { return Boolean(e.dataTransfer) && [...e.dataTransfer.types].includes("Files"); }

/** The next version after ``v`` ("3" → "4", "2026.11" → "2026.12", "beta" → "beta-2"). */
function nextVersion(v) {
  const m = v.match(/^(.*?)(\d+)$/);
  return m ? `${m[1]}${Number(m[2]) + 1}` : `${v}-2`;
}

function shortDate(iso) {
  return new Date(iso).toLocaleString(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

/** The output shapes the server read from the model ("(1, 84, N)": N follows the input size). */
function outputShapes(details) {
  const shapes = details && details.output_shapes;
  if (!Array.isArray(shapes) || !shapes.length) return "–";
  return shapes.map((s) => (Array.isArray(s) ? `(${s.map((d) => (d === null ? "N" : d)).join(", ")})` : String(s))).join(" and ");
}

function inputSize(size) {
  if (!size || !size.length) return "–";
  return size.length === 2 ? `${size[0]} × ${size[1]} px (height × width)` : size.join(" × ");
}

export async function show(main, [projectId], app) {
  const project = await api.project(projectId);
  app.setCrumbs([["Projects", "#/projects"], [project.name, `#/projects/${projectId}`], ["Models"]]);
  if (!app.session.canManage(projectId)) {
    main.append(h("div", { class: "page" }, h("div", { class: "notice notice-error", role: "alert", id: "models-refused" },
      "Models are managed by the project's managers. ", h("a", { href: `#/projects/${projectId}` }, "Back to the work queue"))));
    return null;
  }
  const [modelList, jobList] = await Promise.all([
    api.models(projectId),
    api.jobs(projectId).catch((e) => ({ jobs: [], error: e }))]);
  const models = new Map(modelList.models.map((m) => [m.id, m]));
  let selectedId = null;
  let picker = null; // the selected model's "Pick next images" panel
  // Models with a finished score job: they offer "Pick next images".
  const scoredModels = new Set(jobList.jobs.filter((j) => j.type === "score" && j.state === "done").map((j) => j.model_id));
  let mapping = null; // the class map editor of the selected model

  // -- registering ---------------------------------------------------------------------------
  const chosen = { weights: null, classes: null };
  let autofill = { name: "", version: "" };
  let uploadAbort = null;

  const fileInput = h("input", { type: "file", id: "model-files", multiple: true, hidden: true,
                                 accept: [...WEIGHTS_EXTENSIONS, ...CLASSES_EXTENSIONS].join(",") });
  const pick = h("button", { type: "button", class: "btn", id: "model-pick", onclick: () => fileInput.click() }, "Choose files…");
  const chosenList = h("ul", { class: "chosen-files", id: "model-chosen", role: "list", "aria-live": "polite" });
  const drop = h("div", { class: "dropzone", id: "model-drop" },
    h("p", { class: "dropzone-title" }, "Drop the model's weights here, with its classes file if it has one"),
    h("p", { class: "muted small" }, `Weights ${WEIGHTS_EXTENSIONS.join(" ")} · classes ${CLASSES_EXTENSIONS.join(" ")}`),
    pick, chosenList);
  const nameInput = h("input", { id: "model-name", required: true, maxlength: "100", autocomplete: "off" });
  const versionInput = h("input", { id: "model-version", maxlength: "50", autocomplete: "off",
                                    placeholder: "empty: the next free one", "aria-describedby": "model-version-hint" });
  const versionHint = h("span", { class: "field-hint small", id: "model-version-hint" });
  const taskSelect = h("select", { id: "model-task" }, TASKS.map(([v, t]) => h("option", { value: v }, t)));
  const archSelect = h("select", { id: "model-architecture", "aria-describedby": "model-architecture-hint" },
    ARCHITECTURES.map(([v, t]) => h("option", { value: v }, t)));
  const archHint = h("span", { class: "field-hint small", id: "model-architecture-hint" });
  const sizeInput = h("input", { id: "model-input-size", placeholder: "from the file; or 640, or height,width", autocomplete: "off",
                                 pattern: "\\s*\\d+\\s*([,xX]\\s*\\d+\\s*)?",
                                 title: "one number (a square input) or height,width in pixels, e.g. 640 or 480,640" });
  const progress = h("progress", { id: "model-progress", max: 100, hidden: true, "aria-label": "Upload progress" });
  const progressText = h("span", { class: "muted small", id: "model-progress-text", "aria-live": "polite" });
  const formError = h("div", { class: "form-error", id: "model-error", role: "alert" });
  const submit = h("button", { type: "submit", class: "btn btn-primary", id: "model-upload", disabled: true }, "Register model");
  const abortBtn = h("button", { type: "button", class: "btn", id: "model-upload-cancel", hidden: true,
                                 onclick: () => uploadAbort && uploadAbort.abort() }, "Cancel upload");
  const fields = { name: nameInput, version: versionInput, task: taskSelect, architecture: archSelect,
                   input_size: sizeInput, weights: pick, classes: pick };
  const form = h("form", { id: "model-form", class: "model-form" },
    drop,
    h("div", { class: "form-grid" },
      h("label", { for: "model-name" }, "Name"), nameInput,
      h("label", { for: "model-version" }, "Version"), h("div", { class: "field" }, versionInput, versionHint),
      h("label", { for: "model-task" }, "Task"), taskSelect,
      h("label", { for: "model-architecture" }, "Architecture"), h("div", { class: "field" }, archSelect, archHint),
      h("label", { for: "model-input-size" }, "Input size"), sizeInput),
    formError,
    h("div", { class: "page-actions" }, submit, abortBtn, progress, progressText));

  function taken(name, version) {
    return [...models.values()].some((m) => m.name === name.trim() && m.version === version.trim());
  }

  function checkVersion() {
    const clash = nameInput.value.trim() && versionInput.value.trim() && taken(nameInput.value, versionInput.value);
    versionHint.textContent = clash ? `${nameInput.value.trim()} ${versionInput.value.trim()} is already registered: give this one another version.` : "";
    versionHint.classList.toggle("warn", Boolean(clash));
  }

  function prefill(fileName) {
    const guess = nameAndVersion(fileName);
    while (taken(guess.name, guess.version)) guess.version = nextVersion(guess.version);
    if (!nameInput.value.trim() || nameInput.value === autofill.name) nameInput.value = guess.name;
    if (!versionInput.value.trim() || versionInput.value === autofill.version) versionInput.value = guess.version;
    autofill = guess;
    checkVersion();
  }

  function renderChosen() {
    clear(chosenList);
    for (const kind of ["weights", "classes"]) {
      const file = chosen[kind];
      if (!file) continue;
      chosenList.append(h("li", { class: "chosen-file", dataset: { kind } },
        h("span", { class: "chosen-kind" }, kind === "weights" ? "Weights" : "Classes"),
        h("span", { class: "chosen-name" }, file.name), h("span", { class: "muted small" }, formatBytes(file.size)),
        h("button", { type: "button", class: "chip-x", "aria-label": `Remove ${file.name}`,
                      onclick: () => { chosen[kind] = null; renderChosen(); pick.focus(); } }, "×")));
    }
    if (!chosen.classes && chosen.weights) {
      chosenList.append(h("li", { class: "muted small" }, "No classes file: the class names are read from the model's metadata."));
    }
    const need = chosen.weights ? architectureNeed(chosen.weights.name) : null;
    archSelect.required = need === "required";
    archHint.textContent = need === "required" ? "Needed: a .safetensors file holds only a state dict of a built-in architecture."
      : need === "maybe" ? "Needed if this file is a state dict; a TorchScript archive needs none." : "";
    submit.disabled = !chosen.weights || Boolean(uploadAbort);
  }

  function takeFiles(files) {
    if (uploadAbort) { toast("Wait for this upload to finish (or cancel it) first.", { kind: "warn" }); return; }
    const sorted = sortFiles(files);
    if (sorted.weights) chosen.weights = sorted.weights;
    if (sorted.classes) chosen.classes = sorted.classes;
    clearErrors();
    if (sorted.problems.length) formError.textContent = sorted.problems.join(" ");
    if (sorted.weights) prefill(sorted.weights.name);
    renderChosen();
  }

  function clearErrors() {
    formError.textContent = "";
    drop.classList.remove("invalid");
    for (const el of Object.values(fields)) el.removeAttribute("aria-invalid");
  }

  function showError(message, field) {
    clearErrors();
    formError.append(h("strong", {}, "The model was not registered: "), message);
    const el = fields[field];
    if (el) {
      el.setAttribute("aria-invalid", "true");
      if (el === pick) drop.classList.add("invalid");
      el.focus();
    }
  }

  function uploading(on) {
    progress.hidden = !on;
    abortBtn.hidden = !on;
    for (const el of [nameInput, versionInput, taskSelect, archSelect, sizeInput, pick]) el.disabled = on;
    if (on) { progress.value = 0; progressText.textContent = "Starting the upload…"; } else progressText.textContent = "";
    renderChosen();
  }

  function onProgress(sent, total) {
    if (total && sent < total) {
      progress.value = Math.round((sent / total) * 100);
      progressText.textContent = `Uploading ${progress.value}% (${formatBytes(sent)} of ${formatBytes(total)})`;
    } else {
      progress.removeAttribute("value"); // indeterminate: the server is reading the model
      progressText.textContent = "Uploaded; the server is checking the model…";
    }
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearErrors();
    if (!chosen.weights) { showError("choose the model's weights file first.", "weights"); return; }
    if (!form.reportValidity()) return;
    const data = new FormData();
    data.append("weights", chosen.weights, chosen.weights.name);
    if (chosen.classes) data.append("classes", chosen.classes, chosen.classes.name);
    data.append("name", nameInput.value.trim());
    if (versionInput.value.trim()) data.append("version", versionInput.value.trim());
    if (taskSelect.value) data.append("task", taskSelect.value);
    if (archSelect.value) data.append("architecture", archSelect.value);
    if (sizeInput.value.trim()) data.append("input_size", sizeInput.value.trim());
    uploadAbort = new AbortController();
    uploading(true);
    let answer = null;
    let failure = null;
    try {
      answer = await upload(`/projects/${projectId}/models`, data, { signal: uploadAbort.signal, onProgress });
    } catch (err) {
      failure = err;
    }
    uploadAbort = null;
    uploading(false); // before any focus moves: a disabled field cannot take it
    if (failure && failure.code === "aborted") {
      toast("Upload cancelled; nothing was registered.", { kind: "warn" });
    } else if (failure) {
      showError(failure.message, failure.details && failure.details.field); // beside the button; no toast over the form
    } else {
      const m = answer.model;
      models.set(m.id, m);
      chosen.weights = null;
      chosen.classes = null;
      form.reset();
      autofill = { name: "", version: "" };
      renderChosen();
      const unmapped = (m.unmapped || []).length;
      toast(`Registered ${m.name} ${m.version}: ${m.task}, ${m.classes.length} class${m.classes.length === 1 ? "" : "es"}`
        + (unmapped ? `; ${unmapped} not mapped yet` : ""), { kind: "success" });
      select(m.id, { focus: true });
    }
    renderModels();
  });
  fileInput.addEventListener("change", () => { takeFiles([...fileInput.files]); fileInput.value = ""; });
  nameInput.addEventListener("input", checkVersion);
  versionInput.addEventListener("input", checkVersion);

  // -- the model list ------------------------------------------------------------------------
  const modelTable = h("tbody");
  const modelsCard = h("section", { class: "card", id: "models", "aria-labelledby": "models-title" });
  const showRetired = h("input", { type: "checkbox", id: "models-show-retired" });
  showRetired.addEventListener("change", () => renderModels());

  function modelName(id) {
    const m = models.get(id);
    return m ? `${m.name} ${m.version}` : id ? `model ${id.slice(0, 8)}` : "–";
  }

  function renderModels() {
    const all = [...models.values()].sort((a, b) => (b.created_at || "").localeCompare(a.created_at || ""));
    const retired = all.filter((m) => m.retired).length;
    const shown = all.filter((m) => !m.retired || showRetired.checked || m.id === selectedId);
    clear(modelTable);
    for (const m of shown) {
      const unmapped = (m.unmapped || []).length;
      modelTable.append(h("tr", { class: `model-row${m.id === selectedId ? " selected" : ""}${m.retired ? " retired" : ""}`,
                                  dataset: { model: m.id }, "aria-current": m.id === selectedId ? "true" : null },
        h("th", { scope: "row" }, h("button", { type: "button", class: "link-button model-open", onclick: () => select(m.id, { focus: true }) },
          m.name), m.retired ? h("span", { class: "retired-badge" }, "retired") : null,
          scoredModels.has(m.id) ? h("button", { type: "button", class: "link-button model-pick small",
                                                 onclick: () => select(m.id, { pick: true }) }, "Pick next images") : null),
        h("td", {}, m.version), h("td", {}, m.task), h("td", {}, m.format),
        h("td", { class: "num" }, String(m.classes.length)),
        h("td", { class: `num model-unmapped${unmapped ? " warn" : ""}` }, String(unmapped)),
        h("td", { class: "small" }, h("time", { datetime: m.created_at, title: formatTime(m.created_at) }, shortDate(m.created_at)),
          h("span", { class: "muted" }, ` by ${m.created_by}`))));
    }
    clear(modelsCard).append(
      h("div", { class: "card-head" }, h("h2", { id: "models-title" }, "Registered models"),
        retired ? h("label", { class: "inline-check small" }, showRetired, ` show ${retired} retired`) : null),
      shown.length ? h("div", { class: "table-wrap" }, h("table", { class: "num-table model-table", id: "model-table" },
        h("thead", {}, h("tr", {}, ["Name", "Version", "Task", "Format", "Classes", "Not mapped", "Registered"].map((t, i) =>
          h("th", { scope: "col", class: i === 4 || i === 5 ? "num" : "" }, t)))),
        modelTable))
        : h("p", { class: "empty" }, all.length ? "Every model of this project is retired." : "No model yet: drop one on this page."));
  }

  // -- the selected model: what was found, its class map, running it --------------------------
  const detail = h("section", { class: "card wide", id: "model-detail", "aria-labelledby": "model-detail-title", hidden: true });

  function select(id, { focus = false, pick = false } = {}) {
    selectedId = id;
    renderModels();
    renderDetail();
    if (pick && picker) {
      picker.element.scrollIntoView({ block: "start", behavior: "smooth" });
      picker.focus();
      picker.load();
    } else if (focus) {
      detail.scrollIntoView({ block: "start", behavior: "smooth" });
      document.getElementById("model-detail-title")?.focus({ preventScroll: true });
    }
  }

  function facts(m) {
    const names = m.classes.slice(0, SHOWN_CLASSES).join(", ") + (m.classes.length > SHOWN_CLASSES ? ", …" : "");
    const rows = [
      ["format", "Format", m.format], ["task", "Task", m.task], ["layout", "Output layout", m.layout || "–"],
      ["input_size", "Input size", inputSize(m.input_size)],
      ["outputs", "Outputs", outputShapes(m.details)],
      ["classes", "Classes", `${m.classes.length}${m.classes.length ? `: ${names}` : ""}`],
      ["architecture", "Architecture", m.architecture || "–"],
      ["file", "File", `${m.file_name || "–"} (${formatBytes(m.size_bytes)})`],
      ["sha256", "SHA-256", h("code", { title: m.sha256 }, (m.sha256 || "").slice(0, 16))],
      ["registered", "Registered", `${formatTime(m.created_at)} by ${m.created_by}`],
    ];
    const l = m.lineage;
    if (l) {
      const best = l.metrics && Number.isFinite(l.metrics.best) && l.metrics.best >= 0
        ? `held-out ${metricName(l.architecture)} ${Number(l.metrics.best).toFixed(3)} (epoch ${l.metrics.best_epoch} of ${l.metrics.epochs_run})` : "";
      rows.push(["lineage", "Trained on", `labels as of position ${l.position}: ${l.training_images} images `
        + `(${l.validation_images} held out)` + (l.base_model_id ? `, from ${modelName(l.base_model_id)}` : "")
        + (best ? `; ${best}` : "")]);
    }
    return h("dl", { class: "facts model-facts", id: "model-facts" },
      rows.map(([key, dt, dd]) => [h("dt", {}, dt), h("dd", { dataset: { fact: key } }, dd)]));
  }

  function retireControl(m) {
    const box = h("div", { class: "retire-box" });
    const ask = () => clear(box).append(h("button", { type: "button", class: "btn btn-danger", id: "model-retire", onclick: askAgain }, "Retire…"));
    function askAgain() {
      const yes = h("button", { type: "button", class: "btn btn-danger", id: "model-retire-confirm", onclick: retire }, "Retire it");
      clear(box).append(h("span", { class: "small" }, "It keeps its pre-labels and figures but runs no new jobs. "),
        yes, h("button", { type: "button", class: "btn", id: "model-retire-keep", onclick: () => { ask(); box.querySelector("button").focus(); } }, "Keep it"));
      yes.focus();
    }
    async function retire() {
      try {
        const answer = await api.changeModel(m.id, { retired: true });
        models.set(m.id, answer.model);
        toast(`${m.name} ${m.version} is retired.`, { kind: "success" });
        renderModels();
        renderDetail();
      } catch (e) {
        toast(`The model was not retired: ${e.message}`, { kind: "error", ms: 8000 });
        ask();
      }
    }
    ask();
    return box;
  }

  function runForm(m) {
    if (m.retired) return h("p", { class: "notice", id: "run-retired" }, "A retired model runs no new jobs.");
    if (m.task === "interactive") {
      return h("p", { class: "muted" }, "Interactive models answer the assist tools of the annotation screen; they are not run as jobs.");
    }
    const unlabeled = h("input", { type: "radio", name: "run-images", id: "run-unlabeled", value: "unlabeled", checked: true });
    const all = h("input", { type: "radio", name: "run-images", id: "run-all", value: "all" });
    const threshold = h("input", { type: "range", id: "run-threshold", min: "0", max: "1", step: "0.01", value: "0.25",
                                   "aria-label": "Score threshold (slider)" });
    const thresholdN = h("input", { type: "number", id: "run-threshold-value", min: "0", max: "1", step: "0.01", value: "0.25",
                                    required: true, "aria-label": "Score threshold" });
    threshold.addEventListener("input", () => { thresholdN.value = threshold.value; });
    thresholdN.addEventListener("input", () => { if (thresholdN.value !== "") threshold.value = thresholdN.value; });
    const iou = h("input", { type: "number", id: "run-iou", min: "0", max: "1", step: "0.05", value: "0.45", required: true });
    const maxPer = h("input", { type: "number", id: "run-max", min: "1", max: "10000", step: "1", value: "300", required: true });
    const error = h("p", { class: "form-error", id: "run-error", role: "alert" });
    const start = h("button", { type: "submit", class: "btn btn-primary", id: "run-start" }, "Run pre-labeling");
    const f = h("form", { id: "run-form", class: "run-form" },
      h("div", { class: "form-grid" },
        h("span", { class: "label-like" }, "Images"),
        h("div", { class: "radio-row", role: "radiogroup", "aria-label": "Images" },
          h("label", {}, unlabeled, " unlabeled only"), h("label", {}, all, " all")),
        h("label", { for: "run-threshold-value" }, "Score threshold"), h("div", { class: "slider-row" }, threshold, thresholdN),
        h("label", { for: "run-iou" }, "NMS IoU"), iou,
        h("label", { for: "run-max" }, "Max per image"), maxPer),
      h("p", { class: "muted small" }, "Detections scoring below the threshold are not proposed; overlapping boxes of a class above the IoU are merged (non-maximum suppression)."),
      error, start);
    f.addEventListener("submit", async (e) => {
      e.preventDefault();
      error.textContent = "";
      if (!f.reportValidity()) return;
      if (mapping && mapping.unsaved()) {
        error.textContent = "Save or undo the class mapping changes first: a job uses the saved mapping.";
        document.getElementById("class-map-save")?.focus();
        return;
      }
      const current = models.get(m.id);
      if (current.classes.length && (current.unmapped || []).length === current.classes.length) {
        error.textContent = "No model class is mapped onto a project class, so the job would propose nothing: map at least one.";
        return;
      }
      start.disabled = true;
      try {
        const answer = await api.startJob(projectId, {
          type: "prelabel", model_id: m.id, images: all.checked ? "all" : "unlabeled",
          threshold: Number(thresholdN.value), iou: Number(iou.value), max_per_image: Number(maxPer.value) });
        jobs.update(answer.job, { quiet: true });
        toast(`Pre-labeling with ${m.name} ${m.version} queued: ${answer.job.total} image${answer.job.total === 1 ? "" : "s"}.`, { kind: "success" });
        document.getElementById("jobs")?.scrollIntoView({ block: "nearest", behavior: "smooth" });
      } catch (err) {
        error.textContent = `The job was not started: ${err.message}`;
        const field = err.details && err.details.field;
        const el = { threshold: thresholdN, iou, max_per_image: maxPer }[field];
        if (el) el.focus();
      } finally {
        start.disabled = false;
      }
    });
    return f;
  }

  function renderDetail() {
    const m = models.get(selectedId);
    detail.hidden = !m;
    mapping = null;
    if (!m) { clear(detail); return; }
    mapping = classMapEditor(m, project.classes, { onSaved: (saved) => { models.set(saved.id, saved); renderModels(); } });
    clear(detail).append(
      h("div", { class: "card-head" },
        h("h2", { id: "model-detail-title", tabindex: "-1" }, `${m.name} `, h("span", { class: "model-version" }, `version ${m.version}`),
          m.retired ? h("span", { class: "retired-badge" }, "retired") : null),
        m.retired ? null : retireControl(m)),
      h("div", { class: "model-detail-grid" },
        h("section", { "aria-labelledby": "detected-title" }, h("h3", { id: "detected-title" }, "Detected in the file"), facts(m)),
        h("section", { "aria-labelledby": "mapping-title" }, h("h3", { id: "mapping-title" }, "Class mapping"), mapping.element),
        h("section", { "aria-labelledby": "run-title" }, h("h3", { id: "run-title" }, "Run on the project"), runForm(m))),
      activeLearning(m));
  }

  // Score for active learning, and (once scored) pick the next images to label.
  function activeLearning(m) {
    picker = scoredModels.has(m.id) ? pickPanel(projectId, m, { waiting: (project.counts || {}).new }) : null;
    const score = !m.retired && scorable(m) ? scoreForm(projectId, m, {
      onQueued: (job) => {
        jobs.update(job, { quiet: true });
        toast(`Scoring with ${m.name} ${m.version} queued: ${job.total} image${job.total === 1 ? "" : "s"}.`, { kind: "success" });
        document.getElementById("jobs")?.scrollIntoView({ block: "nearest", behavior: "smooth" });
      } }) : null;
    if (!score && !picker) return null;
    return h("section", { class: "active-learning", id: "active-learning", "aria-labelledby": "score-title" },
      h("h3", { id: "score-title" }, "Active learning"), score,
      picker ? picker.element
        : h("p", { class: "muted small", id: "pick-after-score" }, "Once a score job of this model is done, pick the next images to label here."));
  }

  // -- jobs -----------------------------------------------------------------------------------
  const jobs = new JobTable(projectId, {
    modelName,
    onFinished: (job) => {
      if (job.type === "train") {
        const name = (job.params || {}).name;
        if (job.state === "done" && job.result) {
          reloadModels().catch(() => {});
          toast(`Training finished: ${job.result.name} ${job.result.version} is registered.`, { kind: "success", ms: 6000 });
        } else if (job.state === "failed") {
          toast(`Training ${name} failed: ${errorText(job.error) || "see the jobs list"}`, { kind: "error", ms: 8000 });
        }
      } else if (job.type === "score") {
        if (job.state === "done") {
          scoredModels.add(job.model_id);
          renderModels();
          const section = detail.querySelector("#active-learning");
          if (job.model_id === selectedId && !picker && section) section.replaceWith(activeLearning(models.get(selectedId)));
          const r = job.result || {};
          toast(`Scoring with ${modelName(job.model_id)} finished: ${r.images ?? job.done} images scored`
            + (job.failed ? ` (${job.failed} failed)` : "") + ". Pick the next images from its row.", { kind: job.failed ? "warn" : "success", ms: 6000 });
        } else if (job.state === "failed") {
          toast(`Scoring with ${modelName(job.model_id)} failed: ${errorText(job.error) || "see the jobs list"}`, { kind: "error", ms: 8000 });
        }
      } else if (job.state === "done") {
        toast(`Pre-labeling with ${modelName(job.model_id)} finished: ${job.recorded ?? 0} pre-labels on ${job.done} images`
          + (job.failed ? ` (${job.failed} failed)` : "") + ".", { kind: job.failed ? "warn" : "success", ms: 6000 });
      } else if (job.state === "failed") {
        toast(`Pre-labeling with ${modelName(job.model_id)} failed: ${errorText(job.error) || "see the jobs list"}`, { kind: "error", ms: 8000 });
      }
    },
  });
  jobs.setAll(jobList.jobs);
  const jobsNote = h("p", { class: "form-error", id: "jobs-error", role: "alert" },
    jobList.error ? `The jobs could not be loaded: ${jobList.error.message}` : "");
  let lastLive = 0;
  async function reloadJobs() {
    try {
      const { jobs: fresh } = await api.jobs(projectId);
      jobsNote.textContent = "";
      if (fresh.some((j) => j.model_id && !models.has(j.model_id))) await reloadModels();
      jobs.setAll(fresh);
    } catch (e) {
      if (e.status !== 401) jobsNote.textContent = `The jobs could not be loaded: ${e.message}`;
    }
  }
  async function reloadModels() {
    const { models: fresh } = await api.models(projectId);
    for (const m of fresh) models.set(m.id, m);
    renderModels();
    training.refresh();
  }
  const training = trainForm(projectId, {
    models: () => [...models.values()],
    onQueued: (job) => {
      jobs.update(job, { quiet: true });
      toast(`Training ${job.params.name} queued: ${job.total} labeled image${job.total === 1 ? "" : "s"}.`, { kind: "success" });
      document.getElementById("jobs")?.scrollIntoView({ block: "nearest", behavior: "smooth" });
    },
  });
  const jobsCard = h("section", { class: "card wide", id: "jobs", "aria-labelledby": "jobs-title" },
    h("div", { class: "card-head" }, h("h2", { id: "jobs-title" }, "Jobs"),
      h("button", { type: "button", class: "btn btn-small", id: "jobs-refresh", onclick: () => reloadJobs() }, "Refresh")),
    jobsNote, jobs.element);

  const page = h("div", { class: "page models-page" },
    h("div", { class: "page-head" }, h("h1", {}, `${project.name}: models`),
      h("div", { class: "page-actions" },
        h("a", { class: "btn", href: `#/projects/${projectId}` }, "Work queue"),
        h("a", { class: "btn", href: `#/projects/${projectId}/dashboard` }, "Dashboard"))),
    h("div", { class: "models-grid" },
      h("section", { class: "card", id: "model-register", "aria-labelledby": "register-title" },
        h("h2", { id: "register-title" }, "Register a model"), form, fileInput),
      h("section", { class: "card", id: "model-train", "aria-labelledby": "train-title" },
        h("h2", { id: "train-title" }, "Train a model"), training.element),
      modelsCard, detail, jobsCard));
  main.append(page);
  renderModels();
  renderChosen();

  // Files dropped anywhere on the page are taken; anywhere else they would replace the app.
  let depth = 0;
  const onDragEnter = (e) => { if (!hasFiles(e)) return; e.preventDefault(); depth += 1; drop.classList.add("dragging"); };
  const onDragOver = (e) => { if (!hasFiles(e)) return; e.preventDefault(); e.dataTransfer.dropEffect = "copy"; };
  const onDragLeave = () => { depth = Math.max(0, depth - 1); if (!depth) drop.classList.remove("dragging"); };
  const onDrop = (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    depth = 0;
    drop.classList.remove("dragging");
    takeFiles([...e.dataTransfer.files]);
  };
  const guard = (e) => { if (hasFiles(e)) e.preventDefault(); };
  page.addEventListener("dragenter", onDragEnter);
  page.addEventListener("dragover", onDragOver);
  page.addEventListener("dragleave", onDragLeave);
  page.addEventListener("drop", onDrop);
  window.addEventListener("dragover", guard);
  window.addEventListener("drop", guard);

  // Live job progress from the project room; a slow poll only while the room is quiet.
  const room = `project:${projectId}`;
  app.socket.join(room, (m) => {
    if (m.op !== "job" || !m.job) return;
    if (m.job.project_id && m.job.project_id !== projectId) return;
    lastLive = Date.now();
    jobsCard.dataset.liveUpdates = String(Number(jobsCard.dataset.liveUpdates || 0) + 1);
    if (m.job.model_id && !models.has(m.job.model_id)) reloadModels().catch(() => {});
    jobs.update(m.job);
    if (m.job.result && m.job.result.model_id && !models.has(m.job.result.model_id)) reloadModels().catch(() => {});
  });
  let lastRead = Date.now();
  const poll = setInterval(() => {
    if (!jobs.active) return;
    const quiet = Date.now() - Math.max(lastLive, lastRead);
    if (app.socket.online ? quiet > QUIET_MS : quiet > POLL_MS) { lastRead = Date.now(); reloadJobs(); }
  }, POLL_MS);
  const onSocketState = (e) => { if (e.detail.state === "online") reloadJobs(); }; // missed messages
  app.socket.addEventListener("state", onSocketState);
  page.dataset.loaded = "true";

  return () => {
    clearInterval(poll);
    app.socket.removeEventListener("state", onSocketState);
    app.socket.leave(room);
    window.removeEventListener("dragover", guard);
    window.removeEventListener("drop", guard);
    if (uploadAbort) uploadAbort.abort();
  };
}
