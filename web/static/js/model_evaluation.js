// The dashboard's model section, next to the pre-label acceptance rates: each registered model
// version against the team's labels (GET /projects/{id}/evaluation, docs/api.md "Evaluation").
// One row per model version with the predictions judged, the images evaluated and the mAPs;
// "Details" shows its per-class figures and its confusions. The labels are taken now or as of
// a position of the log. Every number shown is the API's number, formatted.

import { request } from "./api.js";
import { h, clear } from "./dom.js";

const NONE = "\u2013";
const CLASS_COLUMNS = [["ap50", "AP@0.5"], ["ap50_95", "AP@0.5:0.95"], ["precision", "Precision"],
  ["recall", "Recall"], ["tp", "TP"], ["fp", "FP"], ["fn", "FN"]];

function figure(v) { return v === null || v === undefined ? NONE : v.toFixed(3); }
function count(v) { return v === null || v === undefined ? NONE : String(v); }

/** Fills ``section`` (a dashboard card); ``load()`` lists the models and evaluates each. */
export function evaluationPanel(section, projectId) {
  let models = [];
  const results = new Map(); // model id -> evaluation, or {error}
  let shown = null; // the model whose details are open
  let position = null; // null: now (the head)
  let run = 0; // a newer load supersedes an older one still answering

  const asOfNow = h("input", { type: "radio", name: "eval-asof", id: "eval-asof-now", checked: true });
  const asOfPos = h("input", { type: "radio", name: "eval-asof", id: "eval-asof-pos" });
  const positionInput = h("input", { type: "number", id: "eval-position", min: "0", disabled: true,
                                     "aria-label": "Position in the event log for the labels" });
  const runBtn = h("button", { type: "button", class: "btn btn-small", id: "eval-run", onclick: () => load() }, "Evaluate");
  for (const el of [asOfNow, asOfPos]) el.addEventListener("input", () => { positionInput.disabled = !asOfPos.checked; });
  const body = h("div", { id: "evaluation-body" });
  section.append(
    h("h2", { id: "evaluation-title" }, "Models against the labels"),
    h("p", { class: "muted" }, "Each model version's predictions (from its last pre-label job, else its imported pre-labels) "
      + "against the accepted, corrected and manual labels, on the images someone has worked on (not new, not rejected in review). "
      + "mAP by COCOeval; precision, recall, TP, FP and FN at IoU 0.5 and the job's score threshold."),
    h("div", { class: "radio-row" }, h("span", { class: "label-like" }, "Labels as of"),
      h("label", {}, asOfNow, " now"), h("label", {}, asOfPos, " position "), positionInput, runBtn),
    body);

  function row(model) {
    const r = results.get(model.id);
    const error = r && r.error;
    const open = shown === model.id;
    return h("tr", { dataset: { model: model.id }, class: open ? "selected" : "" },
      h("th", { scope: "row" }, `${model.name} ${model.version}`, model.retired ? h("span", { class: "muted small" }, " (retired)") : null),
      h("td", {}, model.task),
      h("td", { class: "m-source" }, !r ? "…" : error ? NONE : r.job ? "last job" : "imported pre-labels"),
      h("td", { class: "num m-images" }, !r || error ? NONE : String(r.images)),
      h("td", { class: "num m-map50" }, !r || error ? NONE : figure(r.map50)),
      h("td", { class: "num m-map50_95" }, !r || error ? NONE : figure(r.map50_95)),
      h("td", {}, error ? h("span", { class: "m-error" }, error)
        : h("button", { type: "button", class: "btn btn-small", disabled: !r, "aria-expanded": String(open),
                        "aria-controls": "evaluation-detail", onclick: () => { shown = open ? null : model.id; render(); } },
            open ? "Hide" : "Details")));
  }

  function details(model, r) {
    const mistakes = r.confusion.filter((c) => c.label !== c.predicted);
    return h("div", { id: "evaluation-detail", dataset: { model: model.id } },
      h("h3", {}, `${model.name} ${model.version}: ${r.images} images as of position ${r.position}`
        + (r.images_excluded ? ` (${r.images_excluded} left out)` : "")),
      r.per_class.length ? h("div", { class: "table-wrap" }, h("table", { class: "num-table", id: "evaluation-classes" },
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Class"),
          CLASS_COLUMNS.map(([, t]) => h("th", { scope: "col", class: "num" }, t)))),
        h("tbody", {}, r.per_class.map((c) => h("tr", { dataset: { label: c.label } },
          h("th", { scope: "row" }, c.label),
          CLASS_COLUMNS.map(([k]) => h("td", { class: `num m-${k}` },
            ["tp", "fp", "fn"].includes(k) ? count(c[k]) : figure(c[k]))))))))
        : h("p", { class: "empty" }, "No labels and no predictions on the evaluated images."),
      mistakes.length ? h("table", { class: "num-table", id: "evaluation-confusion" },
        h("thead", {}, h("tr", {}, ["True class", "Predicted", "Count"].map((t, i) => h("th", { scope: "col", class: i === 2 ? "num" : "" }, t)))),
        h("tbody", {}, mistakes.map((c) => h("tr", {},
          h("td", {}, c.label ?? "(background)"), h("td", {}, c.predicted ?? "(missed)"),
          h("td", { class: "num m-count" }, String(c.count))))))
        : h("p", { class: "muted small" }, "No confusions."));
  }

  function render() {
    if (!models.length) {
      clear(body).append(h("p", { class: "empty" }, "No registered models in this project yet."));
      return;
    }
    const open = models.find((m) => m.id === shown);
    const r = open && results.get(open.id);
    clear(body).append(
      h("div", { class: "table-wrap" }, h("table", { class: "num-table", id: "evaluation-table" },
        h("thead", {}, h("tr", {}, ["Model version", "Task", "Predictions", "Images", "mAP@0.5", "mAP@0.5:0.95", ""]
          .map((t, i) => h("th", { scope: "col", class: i >= 3 && i <= 5 ? "num" : "" }, t)))),
        h("tbody", {}, models.map(row)))),
      r && !r.error ? details(open, r) : ""); // Element.append writes a null as "null"
  }

  async function load() {
    const mine = ++run;
    position = asOfPos.checked && positionInput.value !== "" ? positionInput.value : null;
    runBtn.disabled = true;
    section.dataset.loaded = "false";
    try {
      try {
        models = (await request("GET", `/projects/${projectId}/models`)).models || [];
      } catch (e) {
        if (mine !== run) return;
        models = [];
        clear(body).append(h("p", { class: "empty" }, `The models could not be listed: ${e.message}`));
        return;
      }
      results.clear();
      render();
      // One at a time: each evaluation replays the labels and runs COCOeval on the server.
      for (const model of models) {
        const q = new URLSearchParams({ model_id: model.id });
        if (position !== null) q.set("position", position);
        let r;
        try { r = await request("GET", `/projects/${projectId}/evaluation?${q}`); }
        catch (e) { r = { error: e.message }; }
        if (mine !== run) return;
        results.set(model.id, r);
        render();
      }
    } finally {
      if (mine === run) { runBtn.disabled = false; section.dataset.loaded = "true"; }
    }
  }

  return { load };
}
