// Dashboard panel: which class a model proposed against the class people left (issue 12).
// One row per proposed class, one column per final class plus "Rejected"; the diagonal is the
// model's class kept (accepted, or only the shape corrected), off it the relabels. Data:
// GET /projects/{id}/metrics/prelabels/confusion?model= (pending pre-labels are not counted).

import { request } from "./api.js";
import { h, clear } from "./dom.js";

const REJECTED = "Rejected";

export function prelabelConfusion(projectId, model) {
  const q = model ? `?model=${encodeURIComponent(model)}` : "";
  return request("GET", `/projects/${projectId}/metrics/prelabels/confusion${q}`);
}

/** Fill ``section``; ``load(models)`` (the models' ``name@version`` keys) refreshes it. */
export function confusionPanel(section, projectId) {
  let models = [];
  let chosen = "";
  const select = h("select", { id: "confusion-model", "aria-label": "Model" });
  select.addEventListener("change", () => { chosen = select.value; refresh(); });
  const body = h("div", { id: "confusion-body" });
  clear(section).append(
    h("h2", { id: "confusion-title" }, "Pre-label classes: proposed → final"),
    h("p", { class: "muted" }, "Per class the model proposed, the class people left on its decided pre-labels "
      + "(accepted, corrected, relabeled) or rejected. Off the diagonal: relabels. Undecided pre-labels are not counted."),
    h("div", { class: "row" }, h("label", { for: "confusion-model" }, "Model"), select),
    body);

  async function refresh() {
    let data;
    try {
      data = await prelabelConfusion(projectId, chosen || null);
    } catch (e) {
      clear(body).append(h("p", { class: "notice notice-error", role: "alert" }, `Could not load: ${e.message}`));
      return;
    }
    render(data.confusion);
  }

  function render(cells) {
    if (!cells.length) {
      clear(body).append(h("p", { class: "empty" }, "No decided pre-labels yet."));
      return;
    }
    const proposed = [...new Set(cells.map((c) => c.proposed))].sort();
    const finals = [...new Set(cells.filter((c) => c.final !== null).map((c) => c.final))].sort();
    const columns = [...finals, ...(cells.some((c) => c.final === null) ? [null] : [])];
    const count = new Map(cells.map((c) => [`${c.proposed}\u0000${c.final}`, c.count]));
    const table = h("table", { class: "num-table confusion-table", id: "confusion-table" },
      h("caption", { class: "muted small" }, "Rows: proposed class. Columns: final class."),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Proposed ↓ / final →"),
        columns.map((f) => h("th", { scope: "col", class: "num" }, f === null ? REJECTED : f)))),
      h("tbody", {}, proposed.map((p) => h("tr", { dataset: { proposed: p } },
        h("th", { scope: "row" }, p),
        columns.map((f) => {
          const n = count.get(`${p}\u0000${f}`) || 0;
          const kind = f === null ? "rejected" : f === p ? "kept" : "relabeled";
          return h("td", { class: `num confusion-${kind}${n ? "" : " zero"}`,
                           dataset: { final: f === null ? "" : f } }, String(n));
        })))));
    clear(body).append(h("div", { class: "table-wrap" }, table));
  }

  return {
    load(modelKeys) {
      const keys = modelKeys.filter(Boolean);
      if (keys.join("\n") !== models.join("\n")) {
        models = keys;
        if (chosen && !models.includes(chosen)) chosen = "";
        clear(select).append(h("option", { value: "" }, "All models"),
          ...models.map((m) => h("option", { value: m, selected: m === chosen }, m)));
      }
      return refresh();
    },
  };
}
