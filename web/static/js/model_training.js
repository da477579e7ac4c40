// Training inside the tool, on the Models page: the "Train a model" form (a train job on the
// project's labels as they are now) and, for a train job, its progress: epochs so far, the
// latest losses and held-out metric, and the loss curve (charts.lossCurve). The job's state
// comes from the jobs table (project room messages or a reload); this module only draws it.

import { api } from "./api.js";
import { h, clear } from "./dom.js";
import { lossCurve, lossLegend } from "./charts.js";

// The built-in architectures a train job trains (service_layer.training_set.TRAINABLE).
export const TRAINABLE = [
  ["centernet", "CenterNet detector (learns the boxes)", "mAP@0.5"],
  ["classifier", "Classifier (learns one tag per image)", "accuracy"],
];

export function metricName(architecture) {
  const found = TRAINABLE.find(([a]) => a === architecture);
  return found ? found[2] : "metric";
}

/** The form; ``onQueued(job)`` once the server queued it. ``models()``: the project's models
 * now (offered as the starting point when their architecture fits). */
export function trainForm(projectId, { models, onQueued }) {
  const arch = h("select", { id: "train-architecture" },
    TRAINABLE.map(([v, t]) => h("option", { value: v }, t)));
  const name = h("input", { id: "train-name", required: true, maxlength: "100", autocomplete: "off",
                            placeholder: "e.g. shapes-detector" });
  const epochs = h("input", { type: "number", id: "train-epochs", min: "1", max: "500", step: "1", value: "30",
                              required: true, "aria-describedby": "train-epochs-hint" });
  const base = h("select", { id: "train-base" });
  const error = h("p", { class: "form-error", id: "train-error", role: "alert" });
  const start = h("button", { type: "submit", class: "btn btn-primary", id: "train-start" }, "Train");
  const bases = { centernet: ["centernet"], classifier: ["classifier", "centernet"] };
  function fillBases() {
    const fits = models().filter((m) => !m.retired && m.format === "state_dict"
                                         && (bases[arch.value] || []).includes(m.architecture));
    clear(base).append(h("option", { value: "" }, "None (from scratch)"),
      fits.map((m) => h("option", { value: m.id }, `${m.name} ${m.version}`)));
  }
  arch.addEventListener("change", fillBases);
  fillBases();
  const form = h("form", { id: "train-form", class: "train-form" },
    h("div", { class: "form-grid" },
      h("label", { for: "train-architecture" }, "Model"), arch,
      h("label", { for: "train-name" }, "Name"), name,
      h("label", { for: "train-epochs" }, "Epochs"),
      h("div", { class: "field" }, epochs, h("span", { class: "field-hint small", id: "train-epochs-hint" },
        "at most; it stops early once the held-out figures stop improving")),
      h("label", { for: "train-base" }, "Start from"), base),
    h("p", { class: "muted small" }, "Trains on the labels as they are now (accepted, edited or drawn by hand, on images "
      + "someone worked on), holds a fifth of them out to measure it, and registers the result as the next version of the name."),
    error, start);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.textContent = "";
    if (!form.reportValidity()) return;
    start.disabled = true;
    try {
      const body = { type: "train", architecture: arch.value, name: name.value.trim(), epochs: Number(epochs.value) };
      if (base.value) body.base_model_id = base.value;
      const answer = await api.startJob(projectId, body);
      onQueued(answer.job);
    } catch (err) {
      error.textContent = `Training was not started: ${err.message}`;
      const field = err.details && err.details.field;
      const el = { architecture: arch, name, epochs, base_model_id: base }[field];
      if (el) el.focus();
    } finally {
      start.disabled = false;
    }
  });
  return { element: form, refresh: fillBases };
}

function figure(v, digits = 3) {
  return v === null || v === undefined || !Number.isFinite(v) || v < 0 ? "–" : Number(v).toFixed(digits);
}

/** A train job's progress: the latest epoch in words and the curve (null before epoch 1). */
export function trainingProgress(job) {
  const progress = job.progress || [];
  const params = job.params || {};
  const metric = metricName(params.architecture);
  const lastEpoch = progress.length ? progress[progress.length - 1] : null;
  const best = progress.reduce((b, p) => (Number.isFinite(p.val_metric) && (!b || p.val_metric > b.val_metric) ? p : b), null);
  const summary = lastEpoch
    ? h("p", { class: "small training-summary" },
      `Epoch ${lastEpoch.epoch} of at most ${params.epochs}: training loss ${figure(lastEpoch.train_loss)}, `
      + `held-out loss ${figure(lastEpoch.val_loss)}, held-out ${metric} ${figure(lastEpoch.val_metric)}`
      + (best ? ` (best ${figure(best.val_metric)} at epoch ${best.epoch})` : "") + ".")
    : h("p", { class: "small muted training-summary" }, job.state === "queued" ? "Waiting for a worker…" : "Preparing the images…");
  const result = job.result && job.result.model_id
    ? h("p", { class: "small training-result" }, "Registered as ",
      h("strong", { class: "training-model" }, `${job.result.name} ${job.result.version}`), ".")
    : null;
  return h("div", { class: "training-progress", dataset: { epochs: String(progress.length) } },
    summary, result,
    progress.length ? h("div", { class: "training-chart" }, lossCurve(progress, { metricName: metric }), lossLegend(metric)) : null);
}
