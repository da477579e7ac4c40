// Active learning on the Models page: "Score for active learning" queues a score job of a model
// (POST /projects/{id}/jobs {"type": "score"}: per image, the model's class probabilities,
// uncertainty and an embedding), and "Pick next images" ranks the scored images by a selection
// strategy (GET /projects/{id}/selection), shows them as thumbnails in the API's order and puts
// them first in the annotators' queue (POST /projects/{id}/queue/priority). Every refusal is
// shown in the API's own words.

import { api, request } from "./api.js";
import { h, clear } from "./dom.js";
import { toast } from "./toast.js";
import { imageThumb } from "./views/blind_spots.js";

/** The selection strategies (service_layer.selection.STRATEGIES), margin first (the default). */
export const STRATEGIES = [
  ["margin", "Margin", "the smallest gap between the two likeliest classes first"],
  ["least_confidence", "Least confidence", "the lowest top probability first"],
  ["entropy", "Entropy", "the most spread-out class probabilities first"],
  ["coreset", "Core-set", "images far from what is labeled (by embedding): diverse picks"],
  ["badge", "BADGE", "uncertain and diverse at once (gradient embeddings)"],
  ["random", "Random", "a random order: the baseline to compare with"]];
export const STRATEGY_NAMES = Object.fromEntries(STRATEGIES.map(([v, t]) => [v, t]));
const AGGREGATES = [["max", "max"], ["mean", "mean"], ["sum", "sum"]];
const AGGREGATE_HELP = "How a detector's box uncertainties become the image's: max, the least sure box decides; "
  + "mean, the average over its boxes; sum, more uncertain boxes mean more to learn (favours crowded images).";
const DEFAULT_K = 24;

function plural(n, one, many = `${one}s`) { return `${n} ${n === 1 ? one : many}`; }

/** Whether a model can be scored: detectors, instance segmentation and classifiers. */
export function scorable(m) {
  return ["detect", "classify", "segment"].includes(m.task) && m.layout !== "semantic";
}

/** The form that queues a score job of ``m``; ``onQueued(job)`` after the API accepted it. */
export function scoreForm(projectId, m, { onQueued }) {
  if (!scorable(m)) {
    return h("p", { class: "muted", id: "score-unavailable" }, m.layout === "semantic"
      ? "A semantic segmentation model gives no per-image class probabilities to score."
      : "Only detection, instance segmentation and classification models are scored.");
  }
  const boxes = m.task !== "classify";
  const tta = h("input", { type: "checkbox", id: "score-tta", checked: true });
  const aggregate = h("select", { id: "score-aggregate", title: AGGREGATE_HELP, "aria-describedby": "score-aggregate-help" },
    AGGREGATES.map(([v, t]) => h("option", { value: v }, t)));
  const error = h("p", { class: "form-error", id: "score-error", role: "alert" });
  const start = h("button", { type: "submit", class: "btn", id: "score-start" }, "Score for active learning");
  const f = h("form", { id: "score-form", class: "run-form" },
    h("p", { class: "muted small" }, "Scores every image of the project: how unsure the model is and an embedding of each, "
      + "so that the next images to label can be picked (and the annotators' queue can put the most informative first)."),
    boxes ? h("div", { class: "form-grid" },
      h("label", { for: "score-aggregate" }, "Aggregate"),
      h("div", { class: "field" }, aggregate,
        h("span", { class: "field-hint small", id: "score-aggregate-help", title: AGGREGATE_HELP },
          "max: the least sure box decides; mean: over its boxes; sum: favours crowded images")),
      h("span", { class: "label-like" }, "Stability"),
      h("label", { class: "inline-check", title: "Flipped and zoomed-out copies measure how stable the boxes are (3 passes instead of 1)" },
        tta, " test-time augmentation (slower, better)")) : null,
    error, start);
  f.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.textContent = "";
    start.disabled = true;
    const body = { type: "score", model_id: m.id, images: "all" };
    if (boxes) Object.assign(body, { aggregate: aggregate.value, tta: tta.checked });
    try {
      const answer = await api.startJob(projectId, body);
      onQueued(answer.job);
    } catch (err) {
      error.textContent = `The score job was not started: ${err.message}`;
    } finally {
      start.disabled = false;
    }
  });
  return f;
}

/** "Pick next images" for a scored model ``m``: a strategy and k, the ranked thumbnails, and
 * "Queue these". ``load()`` asks the API (also the "Show" button). ``waiting``: the project's
 * new images (k starts at most there; a k above the scored ones waiting is lowered to them). */
export function pickPanel(projectId, m, { waiting = DEFAULT_K } = {}) {
  let ids = [];
  let run = 0;
  const strategy = h("select", { id: "pick-strategy" },
    STRATEGIES.map(([v, t, why]) => h("option", { value: v, title: why }, t)));
  const why = h("span", { class: "field-hint small", id: "pick-strategy-help" });
  const k = h("input", { type: "number", id: "pick-k", min: "1", max: "1000", step: "1", value: String(Math.max(1, Math.min(DEFAULT_K, waiting || DEFAULT_K))), required: true });
  const showBtn = h("button", { type: "submit", class: "btn", id: "pick-show" }, "Show");
  const queueBtn = h("button", { type: "button", class: "btn btn-primary", id: "pick-queue", disabled: true, onclick: () => queue() }, "Queue these");
  const summary = h("p", { class: "muted small", id: "pick-summary", role: "status" });
  const grid = h("ul", { class: "image-grid pick-grid", id: "pick-grid", role: "list", "aria-label": "The next images to label, best first" });
  const explain = () => { why.textContent = STRATEGIES.find(([v]) => v === strategy.value)[2]; };
  strategy.addEventListener("change", () => { explain(); load(); });
  explain();
  const form = h("form", { class: "form-grid", id: "pick-form" },
    h("label", { for: "pick-strategy" }, "Strategy"), h("div", { class: "field" }, strategy, why),
    h("label", { for: "pick-k" }, "How many"), h("div", { class: "field" }, k),
    h("span", {}), h("div", { class: "page-actions" }, showBtn, queueBtn));
  form.addEventListener("submit", (e) => { e.preventDefault(); if (form.reportValidity()) load(); });
  const element = h("section", { class: "pick-panel", id: "pick-panel", "aria-labelledby": "pick-title" },
    h("h3", { id: "pick-title", tabindex: "-1" }, "Pick next images"),
    h("p", { class: "muted small" }, `The images nobody has worked on yet, ranked by ${m.name} ${m.version}'s newest scores: `
      + "queue them first for the annotators."),
    form, summary, grid);

  async function load() {
    const mine = ++run;
    element.dataset.loaded = "false";
    ids = [];
    queueBtn.disabled = true;
    clear(grid);
    summary.textContent = "Ranking…";
    const q = new URLSearchParams({ model_id: m.id, strategy: strategy.value, k: k.value || String(DEFAULT_K) });
    let r;
    try {
      r = await request("GET", `/projects/${projectId}/selection?${q}`);
    } catch (e) {
      if (mine !== run) return;
      const pool = e.details && e.details.field === "k" ? e.details.pool : null;
      if (typeof pool === "number" && pool >= 1 && Number(k.value) > pool) {
        k.value = String(pool); // fewer scored images wait than asked for: show them all
        load();
        return;
      }
      summary.textContent = "";
      grid.append(h("li", { class: "m-error pick-error", role: "alert" }, `No ranking: ${e.message}`));
      element.dataset.loaded = "true";
      return;
    }
    if (mine !== run) return;
    ids = r.images.map((x) => x.image_id);
    summary.textContent = ids.length
      ? `${plural(ids.length, "image")} by ${STRATEGY_NAMES[r.strategy] || r.strategy}, most informative first.`
      : "No scored image is waiting to be labeled.";
    for (const x of r.images) {
      const score = typeof x.score === "number" ? x.score.toFixed(3) : "–";
      grid.append(h("li", { class: "image-card pick-card", dataset: { image: x.image_id } },
        imageThumb(x.image_id, { label: `Open pick ${x.rank} in the annotator`, alt: `Pick ${x.rank}, score ${score}` }),
        h("div", { class: "image-sub muted small pick-rank" }, `#${x.rank} · score ${score}`)));
    }
    queueBtn.textContent = `Queue these ${ids.length}`;
    queueBtn.disabled = !ids.length;
    element.dataset.loaded = "true";
  }

  async function queue() {
    if (!ids.length) return;
    queueBtn.disabled = true;
    try {
      const r = await request("POST", `/projects/${projectId}/queue/priority`, { image_ids: ids });
      toast(`${plural(ids.length, "image")} queued first for the annotators (${plural(r.priority.length, "image")} in the priority list).`,
        { kind: "success" });
      element.dataset.queued = String(ids.length);
    } catch (e) {
      toast(`Could not queue the images: ${e.message}`, { kind: "error", ms: 8000 });
      element.dataset.queued = "error";
    } finally {
      queueBtn.disabled = !ids.length;
    }
  }

  return { element, load, focus: () => element.querySelector("#pick-title").focus({ preventScroll: true }) };
}
