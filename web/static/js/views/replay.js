// History and QA replay of one image: the timeline of its events (who, when, what), a scrubber
// that shows the labels at any version (GET /images/{id}/annotations?version=N), and the diff
// between two versions.

import { api, allHistory } from "../api.js";
import { h, clear, formatTime } from "../dom.js";
import { AnnotationEditor } from "../editor.js";
import { EventNarrator } from "../history_text.js";
import { diffLabels } from "../label_diff.js";
import { summary } from "../attribute_panel.js";
import { textOn } from "../renderer.js";
import { loadPicture } from "../picture.js";

const BATCH_GAP_MS = 50; // events of one batch are recorded within milliseconds of each other
const MIN_BATCH = 5;
const BATCHABLE = new Set(["PrelabelProposed", "AnnotationCreated", "AnnotationEdited",
  "AnnotationDeleted", "PrelabelAccepted", "PrelabelEdited", "PrelabelRejected"]);

function batchText(r) {
  const n = r.count;
  switch (r.type) {
    case "PrelabelProposed":
      return `${r.model ? `${r.model.name}@${r.model.version}` : "a model"} proposed ${n} pre-labels`;
    case "AnnotationCreated": return `created ${n} labels`;
    case "AnnotationEdited": return `made ${n} edits`;
    case "AnnotationDeleted": return `deleted ${n} labels`;
    case "PrelabelAccepted": return `accepted ${n} pre-labels`;
    case "PrelabelEdited": return `corrected ${n} pre-labels`;
    case "PrelabelRejected": return `rejected ${n} pre-labels`;
    default: return `${r.text} (×${n})`;
  }
}

const DIFF_STYLE = {
  added: { color: "#22c55e", dashed: false },
  removed: { color: "#ef4444", dashed: true },
  changed: { color: "#f59e0b", dashed: false },
  before: { color: "#e5e7eb", dashed: true, faint: true },
  same: { color: "#94a3b8", dashed: false, faint: true },
};

export async function show(main, [imageId], app, query) {
  const image = await api.image(imageId);
  const [project, events] = await Promise.all([api.project(image.project_id), allHistory(imageId)]);
  app.setCrumbs([["Projects", "#/projects"], [project.name, `#/projects/${project.id}`],
                 [image.file_name, `#/images/${imageId}`], ["History"]]);
  const last = events.length ? events[events.length - 1].version : 1;

  const stage = h("div", { class: "stage", id: "stage", tabindex: "0", "aria-label": "Labels at the chosen version" });
  const scrub = h("input", { type: "range", id: "scrubber", min: "1", max: String(last), step: "1", value: String(last) });
  const scrubLabel = h("output", { for: "scrubber", id: "scrub-label", class: "scrub-label" });
  const play = h("button", { type: "button", class: "btn btn-small", "aria-label": "Play the history" }, "▶ Play");
  const timeline = h("ol", { class: "timeline", id: "timeline" });
  const fromInput = h("input", { type: "number", id: "diff-from", min: "1", max: String(last) });
  const toInput = h("input", { type: "number", id: "diff-to", min: "1", max: String(last), value: String(last) });
  const diffOut = h("div", { class: "diff-out", id: "diff-out", "aria-live": "polite" });
  const legend = h("ul", { class: "legend", role: "list", hidden: true }, Object.entries(DIFF_STYLE).map(([k, s]) => {
    const sw = h("span", { class: "swatch", "aria-hidden": "true" });
    sw.style.background = s.color;
    return h("li", {}, sw, k === "before" ? "earlier shape" : k === "same" ? "unchanged" : k);
  }));

  main.append(h("div", { class: "replay" },
    h("div", { class: "replay-stage" }, stage,
      h("div", { class: "scrubber" }, h("label", { for: "scrubber" }, "Version"), scrub, play, scrubLabel), legend),
    h("aside", { class: "side replay-side" },
      h("section", { class: "panel" },
        h("h2", { class: "file-title" }, image.file_name),
        h("p", { class: "muted" }, `${events.length} events · `, h("a", { href: `#/images/${imageId}` }, "open in the editor"))),
      h("section", { class: "panel" }, h("h3", {}, "Compare two versions"),
        h("div", { class: "row" }, h("label", { for: "diff-from" }, "From"), fromInput,
          h("label", { for: "diff-to" }, "to"), toInput,
          h("button", { type: "button", class: "btn btn-small", id: "diff-run", onclick: () => runDiff() }, "Compare")),
        diffOut),
      h("section", { class: "panel grow" }, h("h3", {}, "Timeline"), timeline))));

  const editor = new AnnotationEditor(stage, { image, project, outbox: app.outbox, username: app.session.username, readOnly: true });
  app.editor = editor;
  loadPicture(api.imageUrl(imageId))
    .then((pic) => editor.renderer.setImage(pic, image.width, image.height)).catch(() => {});

  // -- timeline: a burst of one kind of event by one person (a batch, a model's pre-labels,
  // "accept all") is one row, so an image with thousands of events stays readable ------------
  const narrator = new EventNarrator();
  const rows = [];
  for (const ev of events) {
    const text = narrator.describe(ev);
    const prev = rows[rows.length - 1];
    if (prev && prev.actor === ev.actor && prev.type === ev.type && BATCHABLE.has(ev.type)
        && Date.parse(ev.at) - Date.parse(prev.lastAt) < BATCH_GAP_MS) {
      prev.to = ev.version; prev.count += 1; prev.lastAt = ev.at;
      prev.items.push({ ev, text });
      continue;
    }
    rows.push({ from: ev.version, to: ev.version, actor: ev.actor, type: ev.type, at: ev.at,
                lastAt: ev.at, text, model: ev.data && ev.data.model, count: 1, items: [] });
    rows[rows.length - 1].items.push({ ev, text });
  }
  // Only real bursts are folded; a few quick actions stay one row each.
  for (let i = rows.length - 1; i >= 0; i--) {
    const r = rows[i];
    if (r.count > 1 && r.count < MIN_BATCH) {
      rows.splice(i, 1, ...r.items.map(({ ev, text }) => ({
        from: ev.version, to: ev.version, actor: ev.actor, type: ev.type, at: ev.at, text, count: 1 })));
    }
  }
  const rowText = (r) => (r.count > 1 ? batchText(r) : r.text);
  const rowEls = [];
  for (const r of rows) {
    const btn = h("button", { type: "button", class: "tl-row", dataset: { from: r.from, to: r.to },
                              onclick: () => setVersion(r.to) },
      h("span", { class: "tl-version" }, r.count > 1 ? `v${r.from}–${r.to}` : `v${r.to}`),
      h("span", { class: "tl-main" }, h("strong", {}, r.actor || "system"), " ", rowText(r)),
      h("time", { class: "tl-time muted", datetime: r.at }, formatTime(r.at)));
    rowEls.push([r, btn]);
    timeline.append(h("li", { class: `tl-item tl-${r.type}` }, btn));
  }

  // -- scrubber -------------------------------------------------------------------------------
  const cache = new Map();
  let inflight = null;
  let timer = null;
  let shownVersion = null;

  async function snapshotAt(version) {
    if (cache.has(version)) return cache.get(version);
    const snap = await api.annotations(imageId, { version });
    cache.set(version, snap);
    return snap;
  }

  function describeVersion(v) {
    const ev = events.find((e) => e.version === v);
    const row = rowEls.find(([r]) => r.from <= v && v <= r.to);
    return `Version ${v} of ${last}` + (ev ? ` · ${ev.actor || "system"} · ${formatTime(ev.at)}` : "")
      + (row ? ` — ${rowText(row[0])}` : "");
  }

  // The scrubber, its label and the timeline at version v (clamped); loads nothing.
  function markVersion(v) {
    v = Math.max(1, Math.min(last, v));
    scrub.value = String(v);
    scrubLabel.textContent = describeVersion(v);
    for (const [r, btn] of rowEls) btn.setAttribute("aria-current", String(r.from <= v && v <= r.to));
    return v;
  }

  function setVersion(v) {
    v = markVersion(v);
    clearTimeout(timer);
    timer = setTimeout(() => showVersion(v), 60);
  }

  async function showVersion(v) {
    if (inflight) inflight.abort();
    const controller = new AbortController();
    inflight = controller;
    try {
      const snap = cache.get(v) || await api.annotations(imageId, { version: v, signal: controller.signal });
      cache.set(v, snap);
      if (controller.signal.aborted) return;
      editor.renderer.options.styleOf = null;
      legend.hidden = true;
      editor.labels.reset(snap);
      shownVersion = v;
      stage.dataset.version = String(v);
      stage.dataset.count = String(snap.annotations.length);
      stage.dispatchEvent(new CustomEvent("version-shown", { detail: { version: v } }));
    } catch (e) {
      if (e.name !== "AbortError") scrubLabel.textContent = `Could not load version ${v}: ${e.message}`;
    }
  }

  scrub.addEventListener("input", () => setVersion(Number(scrub.value)));
  let playing = null;
  play.addEventListener("click", () => {
    if (playing) { clearInterval(playing); playing = null; play.textContent = "▶ Play"; return; }
    if (Number(scrub.value) >= last) setVersion(1);
    play.textContent = "❚❚ Pause";
    playing = setInterval(() => {
      const v = Number(scrub.value);
      if (v >= last) { clearInterval(playing); playing = null; play.textContent = "▶ Play"; return; }
      setVersion(v + 1);
    }, 500);
  });

  // -- diff -----------------------------------------------------------------------------------
  // Default "from": the last version before any person acted (the image with its pre-labels).
  const firstHuman = events.find((e) => !["ImageAdded", "PrelabelProposed"].includes(e.type));
  fromInput.value = String(firstHuman ? Math.max(1, firstHuman.version - 1) : 1);

  async function runDiff() {
    const from = Number(fromInput.value), to = Number(toInput.value);
    if (!(from >= 1 && to >= 1 && from <= last && to <= last)) {
      clear(diffOut).append(h("p", { class: "form-error" }, `Versions go from 1 to ${last}.`));
      return;
    }
    const [a, b] = await Promise.all([snapshotAt(from), snapshotAt(to)]);
    const d = diffLabels(a.annotations, b.annotations, editor.masks);
    renderDiff(d, from, to);
    // On the canvas: the later version, coloured by what happened, plus removed shapes and the
    // earlier outline of changed ones.
    const shown = [
      ...d.same.map((x) => ({ ...x, diff: "same" })),
      ...d.added.map((x) => ({ ...x, diff: "added" })),
      ...d.changed.map((c) => ({ ...c.after, diff: "changed" })),
      ...d.changed.filter((c) => c.shapeChanged).map((c) => ({ ...c.before, id: `before:${c.before.id}`, diff: "before" })),
      ...d.removed.map((x) => ({ ...x, id: `removed:${x.id}`, diff: "removed" })),
    ];
    editor.renderer.options.styleOf = (ann) => {
      const s = DIFF_STYLE[ann.diff] || DIFF_STYLE.same;
      return { ...s, textColor: textOn(s.color) };
    };
    legend.hidden = false;
    editor.labels.reset({ version: b.version, position: b.position, annotations: shown });
    stage.dataset.version = `${from}-${to}`;
  }

  function renderDiff(d, from, to) {
    clear(diffOut);
    const row = (kind, ann, extra) => h("tr", { class: `diff-${kind}`, dataset: { id: ann.id } },
      h("td", {}, h("span", { class: `diff-tag diff-tag-${kind}` }, kind)),
      h("td", {}, ann.label), h("td", {}, ann.type), h("td", {}, extra || ""));
    const body = h("tbody", {},
      d.added.map((a) => row("added", a, a.status)),
      d.removed.map((a) => row("removed", a, a.status)),
      d.changed.map((c) => row("changed", c.after, [
        c.labelChanged ? `class ${c.before.label} → ${c.after.label}` : null,
        c.shapeChanged ? `IoU ${c.iou.toFixed(3)}` : null,
        c.statusChanged ? `${c.before.status} → ${c.after.status}` : null,
        c.attributesChanged ? `attributes ${summary(c.before.attributes) || "none"} → ${summary(c.after.attributes) || "none"}` : null,
      ].filter(Boolean).join(" · "))));
    diffOut.append(
      h("p", { class: "diff-summary", id: "diff-summary" },
        `v${from} → v${to}: `, h("strong", { class: "diff-added-n" }, String(d.added.length)), " added, ",
        h("strong", { class: "diff-removed-n" }, String(d.removed.length)), " removed, ",
        h("strong", { class: "diff-changed-n" }, String(d.changed.length)), " changed, ",
        `${d.same.length} unchanged`),
      d.added.length + d.removed.length + d.changed.length
        ? h("div", { class: "table-wrap" }, h("table", { class: "diff-table" },
            h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "What"), h("th", { scope: "col" }, "Class"),
              h("th", { scope: "col" }, "Type"), h("th", { scope: "col" }, "Detail"))), body))
        : null);
  }

  // The first snapshot is loaded once: marked, then shown (setVersion would also schedule a
  // second load, which aborted a slow first one and asked again).
  const initial = markVersion(Number(query.get("version")) || last);
  await showVersion(initial);
  return () => {
    clearTimeout(timer);
    if (playing) clearInterval(playing);
    editor.destroy();
    if (app.editor === editor) app.editor = null;
  };
}
