// The jobs table of the Models page: one row per job of the project, newest first, with a
// progress bar (images done and failed of the total), its state, what went wrong, and Cancel.
// Rows change in place when a job's state arrives (the project room's {"op":"job"} messages,
// or a reload), so a long job is watched without the table jumping.

import { api } from "./api.js";
import { h, clear, formatTime } from "./dom.js";
import { toast } from "./toast.js";
import { trainingProgress } from "./model_training.js";

export const ACTIVE_STATES = ["queued", "running"];
const STATE_NAMES = { queued: "Queued", running: "Running", done: "Done", failed: "Failed", cancelled: "Cancelled" };

function duration(job) {
  if (!job.started_at) return "";
  const end = job.finished_at ? new Date(job.finished_at) : new Date();
  const s = Math.max(0, (end - new Date(job.started_at)) / 1000);
  return s < 60 ? `${s.toFixed(s < 10 ? 1 : 0)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

function plural(n, one, many = `${one}s`) { return `${n} ${n === 1 ? one : many}`; }

/** A job-level or per-image error in words (the API's message when it gave one). */
export function errorText(e) {
  if (e === null || e === undefined) return "";
  if (typeof e === "string") return e;
  return e.message || e.error || e.reason || JSON.stringify(e);
}

export class JobTable {
  /** ``modelName(id)``: how to name a job's model; ``onFinished(job)``: a job just ended. */
  constructor(projectId, { modelName, onFinished = () => {} }) {
    this.projectId = projectId;
    this.modelName = modelName;
    this.onFinished = onFinished;
    this.jobs = new Map();
    this.rows = new Map();
    this.tbody = h("tbody");
    this.empty = h("p", { class: "empty", id: "jobs-empty" }, "No jobs yet: pick a model above and run it on the project.");
    this.table = h("table", { class: "num-table job-table", id: "job-table" },
      h("thead", {}, h("tr", {},
        h("th", { scope: "col" }, "Model"), h("th", { scope: "col" }, "State"),
        h("th", { scope: "col", class: "job-progress-col" }, "Progress"),
        h("th", { scope: "col", class: "num" }, "Failed"), h("th", { scope: "col", class: "num" }, "Pre-labels"),
        h("th", { scope: "col" }, "Queued"), h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Actions")))),
      this.tbody);
    this.element = h("div", { class: "table-wrap jobs-wrap" }, this.table, this.empty);
    this.render();
  }

  get active() { return [...this.jobs.values()].some((j) => ACTIVE_STATES.includes(j.state)); }

  /** Replace every job (a reload); jobs that ended since are announced. */
  setAll(jobs) {
    for (const job of jobs) this.update(job, { quiet: !this.jobs.has(job.id) });
  }

  /** One job's new state (from the room, a reload or an answer). Older news is ignored: a
   * message can overtake a reload. */
  update(job, { quiet = false } = {}) {
    const before = this.jobs.get(job.id);
    if (before && isOlder(job, before)) return;
    this.jobs.set(job.id, job);
    const ended = before && ACTIVE_STATES.includes(before.state) && !ACTIVE_STATES.includes(job.state);
    if (this.rows.has(job.id)) this.fillRow(job);
    else this.render();
    if (ended && !quiet) this.onFinished(job);
  }

  render() {
    const jobs = [...this.jobs.values()].sort((a, b) => (b.created_at || "").localeCompare(a.created_at || ""));
    clear(this.tbody);
    this.rows.clear();
    for (const job of jobs) {
      const row = { main: h("tr", { class: "job-row", dataset: { job: job.id } }),
                    errors: h("tr", { class: "job-errors-row", dataset: { jobErrors: job.id } }),
                    training: h("tr", { class: "job-training-row", dataset: { jobTraining: job.id }, hidden: true }) };
      this.rows.set(job.id, row);
      this.tbody.append(row.main, row.training, row.errors);
      this.fillRow(job);
    }
    this.table.hidden = jobs.length === 0;
    this.empty.hidden = jobs.length > 0;
  }

  fillRow(job) {
    const row = this.rows.get(job.id);
    if (job.type === "train") { this.fillTrainingRow(job, row); return; }
    const total = job.total || 0;
    const done = job.done || 0;
    const failed = job.failed || 0;
    const ok = Math.max(0, done - failed);
    const pct = (n) => (total ? Math.min(100, (n / total) * 100) : 0);
    row.main.dataset.state = job.state;
    const params = job.params || {};
    const cancel = ACTIVE_STATES.includes(job.state)
      ? h("button", { type: "button", class: "btn btn-small btn-danger job-cancel",
                      "aria-label": `Cancel the job of ${this.modelName(job.model_id)}`,
                      onclick: (e) => this.cancel(job, e.currentTarget) }, "Cancel")
      : null;
    clear(row.main).append(
      h("th", { scope: "row" }, h("span", { class: "job-model" }, this.modelName(job.model_id)),
        h("span", { class: "muted small job-params" }, jobParams(job.type, params))),
      h("td", {}, h("span", { class: `job-state job-state-${job.state}` }, STATE_NAMES[job.state] || job.state)),
      h("td", { class: "job-progress-col" },
        h("div", { class: "job-bar", role: "progressbar", "aria-valuemin": "0", "aria-valuemax": String(total),
                   "aria-valuenow": String(done), "aria-valuetext": `${done} of ${total} images done`,
                   "aria-label": "Images done" },
          h("span", { class: "job-bar-ok", style: { width: `${pct(ok)}%` } }),
          h("span", { class: "job-bar-failed", style: { width: `${pct(failed)}%` } })),
        h("span", { class: "job-count small" }, `${done} / ${total} images`,
          job.started_at ? ` · ${duration(job)}` : "")),
      h("td", { class: `num job-failed${failed ? " has-failed" : ""}` }, String(failed)),
      h("td", { class: "num job-recorded" }, job.type === "score" ? scoreResult(job)
        : job.recorded === undefined || job.recorded === null ? "–" : String(job.recorded)),
      h("td", { class: "small" }, h("time", { datetime: job.created_at }, formatTime(job.created_at)),
        job.created_by ? h("span", { class: "muted" }, ` by ${job.created_by}`) : null),
      h("td", { class: "job-actions" }, cancel));
    const problems = [];
    if (job.error) problems.push(h("li", { class: "job-error" }, h("strong", {}, "The job failed: "), errorText(job.error)));
    for (const e of job.errors || []) {
      const image = e && typeof e === "object" ? e.image_id : null;
      problems.push(h("li", { class: "image-error" },
        image ? [h("a", { href: `#/images/${image}` }, e.file_name || `image ${image.slice(0, 8)}`), ": "] : null,
        errorText(e)));
    }
    if (failed > (job.errors || []).length && (job.errors || []).length) {
      problems.push(h("li", { class: "muted" }, `… and ${plural(failed - job.errors.length, "more image")}.`));
    }
    row.errors.hidden = problems.length === 0;
    clear(row.errors).append(problems.length
      ? h("td", { colspan: "7" }, h("ul", { class: "job-problems", role: "list" }, problems)) : null);
  }

  /** A train job: epochs instead of images, and its loss curve in the row below. */
  fillTrainingRow(job, row) {
    const params = job.params || {};
    const epochs = Number(params.epochs) || 1;
    const run = (job.progress || []).length;
    const name = `Training ${params.name || ""}`.trim();
    row.main.dataset.state = job.state;
    row.main.dataset.type = "train";
    const cancel = ACTIVE_STATES.includes(job.state)
      ? h("button", { type: "button", class: "btn btn-small btn-danger job-cancel", "aria-label": `Cancel ${name}`,
                      onclick: (e) => this.cancel(job, e.currentTarget) }, "Cancel")
      : null;
    clear(row.main).append(
      h("th", { scope: "row" }, h("span", { class: "job-model" }, name),
        h("span", { class: "muted small job-params" }, jobParams(job.type, params))),
      h("td", {}, h("span", { class: `job-state job-state-${job.state}` }, STATE_NAMES[job.state] || job.state)),
      h("td", { class: "job-progress-col" },
        h("div", { class: "job-bar", role: "progressbar", "aria-valuemin": "0", "aria-valuemax": String(epochs),
                   "aria-valuenow": String(run), "aria-valuetext": `${run} of at most ${epochs} epochs`,
                   "aria-label": "Epochs trained" },
          h("span", { class: "job-bar-ok", style: { width: `${job.state === "done" ? 100 : Math.min(100, (run / epochs) * 100)}%` } })),
        h("span", { class: "job-count small" }, `${run} / ${epochs} epochs`, job.started_at ? ` · ${duration(job)}` : "")),
      h("td", { class: "num job-failed" }, "–"),
      h("td", { class: "num job-recorded" }, "–"),
      h("td", { class: "small" }, h("time", { datetime: job.created_at }, formatTime(job.created_at)),
        job.created_by ? h("span", { class: "muted" }, ` by ${job.created_by}`) : null),
      h("td", { class: "job-actions" }, cancel));
    row.training.hidden = false;
    clear(row.training).append(h("td", { colspan: "7" }, trainingProgress(job)));
    row.errors.hidden = !job.error;
    clear(row.errors).append(job.error
      ? h("td", { colspan: "7" }, h("ul", { class: "job-problems", role: "list" },
        h("li", { class: "job-error" }, h("strong", {}, "The job failed: "), errorText(job.error)))) : null);
  }

  async cancel(job, button) {
    button.disabled = true;
    try {
      const answer = await api.cancelJob(job.id);
      if (answer && answer.job) this.update(answer.job, { quiet: true });
      toast(job.type === "train" ? "Training cancelled; no model was registered."
        : job.type === "score" ? "Scoring cancelled; the scores it already recorded stay."
        : "Job cancelled; the pre-labels it already recorded stay.", { kind: "warn" });
    } catch (e) {
      button.disabled = false;
      toast(`The job could not be cancelled: ${e.message}`, { kind: "error", ms: 8000 });
    }
  }
}

function isOlder(job, before) {
  const rank = (j) => [j.finished_at ? 1 : 0, j.done || 0, (j.progress || []).length, j.started_at ? 1 : 0];
  const a = rank(job);
  const b = rank(before);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] < b[i];
  return false;
}

/** A score job's result (images scored, embedding size) where the pre-label count would be. */
function scoreResult(job) {
  const r = job.result;
  if (!r) return "–";
  return h("span", { class: "job-score-result small", title: `${r.images} images scored, ${r.failed} failed` },
    `${r.images} scored`, r.embedding_dims ? ` · ${r.embedding_dims}-d embeddings` : "");
}

function jobParams(type, p) {
  if (type === "train") {
    return [p.architecture, `at most ${plural(Number(p.epochs) || 0, "epoch")}`,
            p.position !== undefined ? `labels as of position ${p.position}` : null].filter(Boolean).join(", ");
  }
  if (type === "score") {
    return [`scoring ${Array.isArray(p.images) || p.images === "list" ? "chosen" : p.images || "all"} images`,
            p.aggregate ? `${p.aggregate} over boxes` : null, p.tta ? "with TTA" : null].filter(Boolean).join(", ");
  }
  if (type !== "prelabel") return type;
  const bits = [Array.isArray(p.images) ? plural(p.images.length, "chosen image") : `${p.images || "all"} images`];
  if (p.threshold !== undefined) bits.push(`score ≥ ${p.threshold}`);
  if (p.iou !== undefined) bits.push(`IoU ${p.iou}`);
  return bits.join(", ");
}
