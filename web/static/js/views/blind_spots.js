// The dashboard's "Blind spots" section: for one model version, the images where its
// predictions and the team's labels disagree most (GET /projects/{id}/blind_spots, worst
// first) as thumbnails with their missed / false positive / confused counts, each opening in
// the annotator; "More like this" lists the nearest images by the model's embeddings
// (GET /projects/{id}/similar, needs a score job of that model); "Queue these" puts the
// selected images (or all shown) first in the annotators' queue (POST .../queue/priority).
// Below, the labels the model disagrees with most confidently (GET .../label_suspects).
// Every number shown is the API's number; every refusal is shown in the API's words.

import { api, request } from "../api.js";
import { h, clear } from "../dom.js";
import { toast } from "../toast.js";

const SHOWN = 24;
const SIMILAR = 12;
const REASONS = {
  other_class: (s) => `the model sees a ${s.predicted} here (${s.confidence.toFixed(2)}; its usual confidence for ${s.predicted}: ${s.threshold.toFixed(2)})`,
  nothing_found: (s) => `the model finds nothing here, though it finds ${Math.round(s.confidence * 100)} % of the other ${s.label} labels`,
};

function plural(n, one, many = `${one}s`) { return `${n} ${n === 1 ? one : many}`; }

/** An image's thumbnail that opens it in the annotator (also the Models page's picks). */
export function imageThumb(imageId, { label, alt = "", src = null }) {
  return h("a", { href: `#/images/${imageId}`, class: "thumb", "aria-label": label },
    h("img", { src: src || api.imageUrl(imageId), alt, loading: "lazy", decoding: "async" }));
}
function short(id) { return id.slice(0, 8); }
function describe(row) {
  return `${plural(row.missed, "missed label")}, ${plural(row.false_positives, "false positive")}, ${plural(row.confused, "confusion")}`;
}

/** Fills ``section`` (a dashboard card); ``load()`` lists the models and shows the first. */
export function blindSpotsPanel(section, projectId) {
  let models = [];
  let modelId = null;
  let rows = [];
  let run = 0; // a newer load supersedes an older one still answering
  const selected = new Set();

  const picker = h("select", { id: "bs-model", onchange: () => { modelId = picker.value; show(); } });
  const queueBtn = h("button", { type: "button", class: "btn btn-primary btn-small", id: "bs-queue", disabled: true,
                                 onclick: () => queue([...(selected.size ? selected : rows.map((r) => r.image_id))], queueBtn) }, "Queue these");
  const summary = h("p", { class: "muted small", id: "bs-summary", role: "status" });
  const grid = h("ul", { class: "image-grid bs-grid", id: "bs-grid", role: "list", "aria-label": "Images where the model and the labels disagree, worst first" });
  const similar = h("div", { id: "bs-similar", "aria-live": "polite" });
  const suspects = h("div", { id: "bs-suspects" });
  section.append(
    h("h2", { id: "blind-spots-title" }, "Blind spots"),
    h("p", { class: "muted" }, "Where a model version's predictions (its last pre-label job's) and the team's labels disagree most, worst first: "
      + "labels it missed, objects it made up (false positives) and objects it called another class. Select images, or none for all shown, "
      + "and queue them first for the annotators."),
    h("div", { class: "radio-row" }, h("label", { for: "bs-model", class: "label-like" }, "Model"), picker, queueBtn),
    summary, grid, similar,
    h("h3", { id: "bs-suspects-title" }, "Label suspects"),
    h("p", { class: "muted small" }, "Labels the model disagrees with most confidently: it sees another class there with more confidence than it usually has for that class, "
      + "or finds nothing where it finds almost every other label of that class. Worth a reviewer's look."),
    suspects);

  function queueLabel() {
    const n = selected.size || rows.length;
    queueBtn.textContent = selected.size ? `Queue selected (${n})` : `Queue all shown (${n})`;
    queueBtn.disabled = n === 0;
  }

  async function queue(imageIds, button) {
    button.disabled = true;
    try {
      const r = await request("POST", `/projects/${projectId}/queue/priority`, { image_ids: imageIds });
      toast(`${plural(imageIds.length, "image")} queued first for the annotators (${plural(r.priority.length, "image")} in the priority list).`, { kind: "success" });
      section.dataset.queued = String(imageIds.length);
    } catch (e) {
      toast(`Could not queue the images: ${e.message}`, { kind: "error", ms: 8000 });
      section.dataset.queued = "error";
    } finally {
      button.disabled = false;
      queueLabel();
    }
  }

  function card(row, n) {
    const box = h("input", { type: "checkbox", class: "bs-select", "aria-label": `Select image ${n + 1} (${short(row.image_id)})`,
                             checked: selected.has(row.image_id),
                             onchange: () => { if (box.checked) selected.add(row.image_id); else selected.delete(row.image_id); queueLabel(); } });
    return h("li", { class: "image-card bs-card", dataset: { image: row.image_id } },
      imageThumb(row.image_id, { label: `Open image ${n + 1} in the annotator: ${describe(row)}`,
                                 alt: `Image ${n + 1}: ${describe(row)}`, src: row.thumbnail }),
      h("div", { class: "image-meta" },
        h("label", { class: "bs-pick" }, box, ` #${n + 1}`),
        h("span", { class: "bs-score muted small", title: "missed + scores of the false positives and confusions" }, `score ${row.score.toFixed(2)}`)),
      h("div", { class: "image-sub bs-counts" },
        h("span", { class: "bs-missed" }, plural(row.missed, "missed", "missed")), " · ",
        h("span", { class: "bs-fp" }, plural(row.false_positives, "false positive")), " · ",
        h("span", { class: "bs-confused" }, plural(row.confused, "confused", "confused")),
        row.suspects ? h("span", { class: "bs-suspect-count" }, ` · ${plural(row.suspects, "suspect label")}`) : null),
      h("div", { class: "image-sub" },
        h("button", { type: "button", class: "btn btn-small bs-more", "aria-controls": "bs-similar",
                      onclick: () => moreLike(row, n) }, "More like this")));
  }

  async function moreLike(row, n) {
    const q = new URLSearchParams({ model_id: modelId, image_id: row.image_id, k: String(SIMILAR) });
    clear(similar).append(h("p", { class: "muted" }, `Looking for images like #${n + 1}…`));
    similar.dataset.loaded = "false";
    let r;
    try { r = await request("GET", `/projects/${projectId}/similar?${q}`); }
    catch (e) {
      clear(similar).append(h("p", { class: "m-error bs-similar-error", role: "alert" }, `More like #${n + 1}: ${e.message}`));
      similar.dataset.loaded = "true";
      return;
    }
    const ids = r.images.map((x) => x.image_id);
    const queueSimilar = h("button", { type: "button", class: "btn btn-small", id: "bs-similar-queue", disabled: !ids.length,
                                       onclick: () => queue(ids, queueSimilar) }, `Queue these ${ids.length}`);
    clear(similar).append(
      h("h3", {}, `More like #${n + 1}`, " ", queueSimilar),
      ids.length ? h("ul", { class: "image-grid bs-similar-grid", role: "list" }, r.images.map((x) => h("li", { class: "image-card", dataset: { image: x.image_id } },
        h("a", { href: `#/images/${x.image_id}`, class: "thumb", "aria-label": `Open similar image ${x.rank} in the annotator` },
          h("img", { src: api.imageUrl(x.image_id), alt: `Similar image ${x.rank}, similarity ${x.similarity === null ? "unknown" : x.similarity.toFixed(2)}`, loading: "lazy" })),
        h("div", { class: "image-sub muted small bs-similarity" }, `#${x.rank} · similarity ${x.similarity === null ? "–" : x.similarity.toFixed(2)}`))))
        : h("p", { class: "empty" }, "No other scored images."));
    similar.dataset.loaded = "true";
  }

  function renderSuspects(r) {
    if (r.error) { clear(suspects).append(h("p", { class: "m-error" }, r.error)); return; }
    if (!r.suspects.length) { clear(suspects).append(h("p", { class: "empty" }, "No suspect labels.")); return; }
    clear(suspects).append(h("div", { class: "table-wrap" }, h("table", { class: "num-table", id: "bs-suspect-table" },
      h("thead", {}, h("tr", {}, ["Image", "Label", "Model sees", "Confidence", "Why"].map((t, i) => h("th", { scope: "col", class: i === 3 ? "num" : "" }, t)))),
      h("tbody", {}, r.suspects.map((s) => h("tr", { dataset: { annotation: s.annotation_id || "", image: s.image_id } },
        h("td", {}, h("a", { href: `#/images/${s.image_id}` }, `image ${short(s.image_id)}`)),
        h("td", { class: "bs-label" }, s.label),
        h("td", { class: "bs-predicted" }, s.predicted ?? "(nothing)"),
        h("td", { class: "num bs-confidence" }, s.confidence.toFixed(2)),
        h("td", {}, (REASONS[s.reason] || (() => s.reason))(s))))))));
  }

  async function show() {
    const mine = ++run;
    selected.clear();
    rows = [];
    section.dataset.loaded = "false";
    clear(grid);
    clear(similar);
    clear(suspects);
    queueLabel();
    summary.textContent = "Loading…";
    const q = new URLSearchParams({ model_id: modelId, limit: String(SHOWN) });
    const [spots, odd] = await Promise.all([
      request("GET", `/projects/${projectId}/blind_spots?${q}`).catch((e) => ({ error: e.message })),
      request("GET", `/projects/${projectId}/label_suspects?${q}`).catch((e) => ({ error: e.message }))]);
    if (mine !== run) return;
    if (spots.error) {
      summary.textContent = "";
      grid.append(h("li", { class: "m-error bs-error", role: "alert" }, spots.error));
    } else {
      rows = spots.images;
      summary.textContent = `${plural(spots.disagreeing, "image")} of ${spots.images_judged} judged disagree with the labels as of position ${spots.position}`
        + (spots.disagreeing > rows.length ? `; the worst ${rows.length} shown.` : ".");
      if (rows.length) rows.forEach((row, n) => grid.append(card(row, n)));
      else grid.append(h("li", { class: "empty" }, "The model agrees with every label on the images judged."));
    }
    renderSuspects(odd);
    queueLabel();
    section.dataset.loaded = "true";
  }

  async function load() {
    section.dataset.loaded = "false";
    try {
      models = ((await request("GET", `/projects/${projectId}/models`)).models || []).filter((m) => m.task !== "interactive");
    } catch (e) {
      summary.textContent = `The models could not be listed: ${e.message}`;
      section.dataset.loaded = "true";
      return;
    }
    clear(picker).append(...models.map((m) => h("option", { value: m.id }, `${m.name} ${m.version}${m.retired ? " (retired)" : ""}`)));
    if (!models.length) {
      summary.textContent = "No registered models in this project yet.";
      section.dataset.loaded = "true";
      return;
    }
    modelId = models[models.length - 1].id; // the newest
    picker.value = modelId;
    await show();
  }

  return { load };
}
