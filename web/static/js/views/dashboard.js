// The manager's dashboard: progress by status (live from the project room), pre-label
// acceptance by model version, class, annotator and score bucket, each model version against
// the labels (model_evaluation.js), the calibration view, AI assist by engine and mode, the
// annotator table, and exports (now, or as of a position of the log). Every number shown is
// the API's number as it came; rates are the API's rates, formatted.

import { api } from "../api.js";
import { h, clear, percent } from "../dom.js";
import { STATUSES, STATUS_NAMES, statusBar, outcomeBars, outcomeLegend, calibrationChart, groupName } from "../charts.js";
import { toast } from "../toast.js";
import { evaluationPanel } from "../model_evaluation.js";
import { blindSpotsPanel } from "./blind_spots.js";
import { queueOverviewPanel } from "./queue_overview.js";
import { exportFormats } from "../export_formats.js";
import { confusionPanel } from "../prelabel_confusion.js";

const DIMENSIONS = [["model", "Model version"], ["label", "Class"], ["annotator", "Annotator"], ["score_bucket", "Score bucket"]];
const ANNOTATOR_COLUMNS = [
  ["username", "Annotator"], ["created", "Created"], ["edited", "Edited"], ["deleted", "Deleted"],
  ["prelabels_accepted", "Pre-labels accepted"], ["prelabels_edited", "Pre-labels corrected"],
  ["prelabels_rejected", "Pre-labels rejected"], ["mean_iou_edited", "Mean IoU of corrections"],
  ["assists", "Assists"], ["images_submitted", "Images submitted"], ["review_approvals", "Approved"],
  ["review_rejections", "Rejected in review"], ["reviews_given", "Reviews given"], ["active_seconds", "Active time"],
];

function fmtIoU(v) { return v === null || v === undefined ? "–" : v.toFixed(3); }

function fmtDuration(s) {
  if (s === null || s === undefined) return "–";
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m} min ${Math.round(s % 60)} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

function cell(key, value) {
  if (key === "mean_iou_edited") return fmtIoU(value);
  if (key === "active_seconds") return fmtDuration(value);
  return value === null || value === undefined ? "–" : String(value);
}

export async function show(main, [projectId], app) {
  const project = await api.project(projectId);
  app.setCrumbs([["Projects", "#/projects"], [project.name, `#/projects/${projectId}`], ["Dashboard"]]);
  if (!app.session.canManage(projectId)) { // opened by URL: say so, and ask the API for nothing more
    main.append(h("div", { class: "page" }, h("div", { class: "notice notice-error", role: "alert", id: "dashboard-refused" },
      h("h1", {}, "Managers only"),
      h("p", {}, `The dashboard of ${project.name} is for the project's managers and admins; you are `
        + `${app.session.roleIn(projectId) || "not a member"} here. `),
      h("a", { class: "btn", href: `#/projects/${projectId}` }, "Back to the work queue"))));
    return null;
  }
  const counts = { ...project.counts };
  const progress = h("section", { class: "card", id: "progress", "aria-labelledby": "progress-title" });
  const acceptance = h("section", { class: "card wide", id: "acceptance", "aria-labelledby": "acceptance-title" });
  const evaluation = h("section", { class: "card wide", id: "evaluation", "aria-labelledby": "evaluation-title" });
  const blindSpots = h("section", { class: "card wide", id: "blind-spots", "aria-labelledby": "blind-spots-title" });
  const queueOverview = h("section", { class: "card wide", id: "queue-overview", "aria-labelledby": "queue-overview-title" });
  const calibration = h("section", { class: "card wide", id: "calibration", "aria-labelledby": "calibration-title" });
  const confusionSection = h("section", { class: "card wide", id: "confusion", "aria-labelledby": "confusion-title" });
  const confusion = confusionPanel(confusionSection, projectId);
  const annotators = h("section", { class: "card wide", id: "annotators", "aria-labelledby": "annotators-title" });
  const assists = h("section", { class: "card wide", id: "assist-metrics", "aria-labelledby": "assist-title" });
  const exporter = h("section", { class: "card", id: "export", "aria-labelledby": "export-title" });
  const updated = h("span", { class: "muted", id: "dash-updated" });
  const refreshBtn = h("button", { type: "button", class: "btn", id: "dash-refresh", onclick: () => loadMetrics() }, "Refresh");
  main.append(h("div", { class: "page dashboard" },
    h("div", { class: "page-head" }, h("h1", {}, `${project.name}: dashboard`),
      h("div", { class: "page-actions" }, updated, refreshBtn, h("a", { class: "btn", href: `#/projects/${projectId}` }, "Work queue"))),
    h("div", { class: "dash-grid" }, progress, exporter, acceptance, confusionSection, evaluation, blindSpots, calibration, assists, annotators, queueOverview)));

  function renderProgress() {
    const total = STATUSES.reduce((s, k) => s + (counts[k] || 0), 0);
    clear(progress).append(
      h("h2", { id: "progress-title" }, "Progress by status"),
      h("p", { class: "big-number" }, h("strong", { id: "progress-total" }, String(total)), " images"),
      statusBar(counts, { label: "Images by status", height: 18 }),
      h("table", { class: "num-table", id: "status-table" },
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Status"), h("th", { scope: "col", class: "num" }, "Images"),
                         h("th", { scope: "col", class: "num" }, "Share"))),
        h("tbody", {}, STATUSES.map((s) => h("tr", { dataset: { status: s } },
          h("th", { scope: "row" }, h("span", { class: `swatch status-${s}`, "aria-hidden": "true" }), STATUS_NAMES[s]),
          h("td", { class: "num count" }, String(counts[s] || 0)),
          h("td", { class: "num" }, total ? percent((counts[s] || 0) / total, 0) : "–"))))));
  }

  let dimension = "model";
  let metrics = {};

  function renderAcceptance() {
    const groups = (metrics[dimension] || { groups: [] }).groups;
    const tabs = h("div", { class: "tabs", role: "tablist", "aria-label": "Group pre-label outcomes by" },
      DIMENSIONS.map(([key, title]) => h("button", {
        type: "button", role: "tab", class: "tab", id: `tab-${key}`, "aria-selected": String(key === dimension),
        "aria-controls": "acceptance-panel", tabindex: key === dimension ? "0" : "-1", dataset: { dim: key },
        onclick: () => { dimension = key; renderAcceptance(); document.getElementById(`tab-${key}`)?.focus(); },
        onkeydown: (e) => {
          const i = DIMENSIONS.findIndex(([k]) => k === dimension);
          const step = e.key === "ArrowRight" ? 1 : e.key === "ArrowLeft" ? -1 : 0;
          if (step) { dimension = DIMENSIONS[(i + step + DIMENSIONS.length) % DIMENSIONS.length][0]; renderAcceptance(); document.getElementById(`tab-${dimension}`)?.focus(); }
        },
      }, title)));
    const table = h("table", { class: "num-table", id: "prelabel-table", dataset: { dim: dimension } },
      h("thead", {}, h("tr", {}, [DIMENSIONS.find(([k]) => k === dimension)[1], "Proposed", "Accepted", "Corrected (shape)", "Relabeled (class only)", "Rejected",
        "Acceptance rate", "Mean IoU of corrections"].map((t, i) => h("th", { scope: "col", class: i ? "num" : "" }, t)))),
      h("tbody", {}, groups.map((g) => h("tr", { dataset: { key: JSON.stringify(g.key) } },
        h("th", { scope: "row" }, groupName(g.key)),
        ...["proposed", "accepted", "edited", "relabeled", "rejected"].map((k) => h("td", { class: `num m-${k}` }, String(g[k] ?? 0))),
        h("td", { class: "num m-acceptance_rate" }, percent(g.acceptance_rate)),
        h("td", { class: "num m-mean_iou_edited" }, fmtIoU(g.mean_iou_edited))))));
    clear(acceptance).append(
      h("h2", { id: "acceptance-title" }, "Pre-label acceptance"),
      h("p", { class: "muted" }, "Acceptance rate = accepted ÷ (accepted + corrected + relabeled + rejected). Mean IoU counts shape corrections only; a class-only change is a relabel."),
      tabs,
      h("div", { id: "acceptance-panel", role: "tabpanel", "aria-labelledby": `tab-${dimension}` },
        groups.length ? [outcomeBars(groups, dimension), outcomeLegend(), h("div", { class: "table-wrap" }, table)]
                      : h("p", { class: "empty" }, "No pre-labels in this project yet.")));
  }

  function renderCalibration() {
    const groups = (metrics.score_bucket || { groups: [] }).groups;
    clear(calibration).append(h("div", { class: "split" },
      h("div", {},
        h("h2", { id: "calibration-title" }, "Calibration"),
        h("p", { class: "muted" }, "Acceptance rate per score bucket. On the diagonal, a score of 0.8 means that 80% of such pre-labels are accepted as they are; below it, the model is over-confident, and a higher threshold for “accept all” is safer."),
        h("p", { class: "muted small" }, "Point size grows with the number of reviewed pre-labels in the bucket.")),
      calibrationChart(groups)));
  }

  function renderAnnotators(rows) {
    clear(annotators).append(
      h("h2", { id: "annotators-title" }, "Annotators"),
      h("p", { class: "muted" }, "Corrections: pre-labels a person changed (mean IoU of the result to the proposal; lower = bigger corrections) or rejected."),
      rows.length ? h("div", { class: "table-wrap" }, h("table", { class: "num-table", id: "annotator-table" },
        h("thead", {}, h("tr", {}, ANNOTATOR_COLUMNS.map(([k, t], i) => h("th", { scope: "col", class: i ? "num" : "" }, t)))),
        h("tbody", {}, rows.map((r) => h("tr", { dataset: { user: r.username } },
          ANNOTATOR_COLUMNS.map(([k], i) => i ? h("td", { class: `num m-${k}` }, cell(k, r[k]))
                                              : h("th", { scope: "row" }, r.username)))))))
        : h("p", { class: "empty" }, "Nobody has worked on this project yet."));
  }

  function renderAssists(groups) {
    const engineName = (g) => g.engine === "built-in" ? "built-in" : `model ${g.engine.slice(0, 8)}`;
    clear(assists).append(
      h("h2", { id: "assist-title" }, "AI assist"),
      h("p", { class: "muted" }, "Assist proposals by engine and first mode. Accepted: kept as proposed; corrected: changed by hand (mean IoU of the result to the proposal); rejected: deleted. Clicks include refinements."),
      groups.length ? h("div", { class: "table-wrap" }, h("table", { class: "num-table", id: "assist-table" },
        h("thead", {}, h("tr", {}, ["Engine", "Mode", "Proposals", "Accepted", "Corrected", "Rejected", "Acceptance rate",
          "Clicks per accepted", "Mean IoU of corrections"].map((t, i) => h("th", { scope: "col", class: i > 1 ? "num" : "" }, t)))),
        h("tbody", {}, groups.map((g) => h("tr", { dataset: { engine: g.engine, mode: g.mode } },
          h("th", { scope: "row", title: g.engine }, engineName(g)), h("td", {}, g.mode),
          ...["proposals", "accepted", "edited", "rejected"].map((k) => h("td", { class: `num m-${k}` }, String(g[k]))),
          h("td", { class: "num m-acceptance_rate" }, percent(g.acceptance_rate)),
          h("td", { class: "num m-clicks_per_accepted" }, g.clicks_per_accepted === null ? "–" : g.clicks_per_accepted.toFixed(1)),
          h("td", { class: "num m-mean_iou_edited" }, fmtIoU(g.mean_iou_edited)))))))
        : h("p", { class: "empty" }, "Nobody has used AI assist in this project yet."));
  }

  async function renderExport() {
    let status;
    try { status = await api.projections(); } catch { status = { head: null, projections: [] }; }
    const maxLag = Math.max(0, ...status.projections.map((p) => p.lag));
    const problem = h("p", { class: "notice notice-error", id: "export-error", role: "alert", hidden: true });
    const showProblem = (message) => { problem.textContent = message; problem.hidden = !message; };
    let offered;
    try {
      offered = await exportFormats(); // what the server says it supports (export_formats.js)
    } catch (e) {
      clear(exporter).append(h("h2", { id: "export-title" }, "Export"), problem);
      showProblem(`Export is not available: ${e.message}`);
      return;
    }
    const format = h("select", { id: "export-format" },
      offered.formats.map((f) => h("option", { value: f.name, title: f.summary || "",
                                               selected: f.name === offered.default }, f.title)));
    const asOfNow = h("input", { type: "radio", name: "asof", id: "asof-now", value: "now", checked: true });
    const asOfPos = h("input", { type: "radio", name: "asof", id: "asof-pos", value: "pos" });
    const position = h("input", { type: "number", id: "export-position", min: "0", step: "1", max: String(status.head ?? ""),
                                  value: String(status.head ?? ""), "aria-label": "Position in the event log",
                                  "aria-describedby": "export-position-hint" });
    const hint = h("span", { class: "field-hint small", id: "export-position-hint", "aria-live": "polite" });
    const proposed = h("input", { type: "checkbox", id: "export-proposed" });
    // Folder formats can carry the image files, and split the images (export_formats.js says
    // which formats take each); the server checks both and its refusal is shown like any other.
    const images = h("input", { type: "checkbox", id: "export-images" });
    const split = h("input", { type: "text", id: "export-split", placeholder: "train:0.8,val:0.1,test:0.1",
                               "aria-label": "Split (name:fraction, comma separated)", spellcheck: "false" });
    const seed = h("input", { type: "number", id: "export-seed", min: "0", step: "1", placeholder: "0",
                              "aria-label": "Seed of the split" });
    const link = h("a", { class: "btn btn-primary", id: "export-link", download: "" }, "Download export");
    // Client-side check of the position: a whole number from 0. Past the head known here it
    // only warns (the log may have grown since); the server's answer is always shown.
    const positionProblem = () => {
      if (!asOfPos.checked) return null;
      const raw = position.value.trim();
      if (!/^\d+$/.test(raw)) return "The position must be a whole number, 0 or more.";
      return null;
    };
    const update = () => {
      const pos = asOfPos.checked ? position.value.trim() : undefined;
      const chosen = offered.formats.find((f) => f.name === format.value) || {};
      images.disabled = !chosen.images;
      split.disabled = seed.disabled = !chosen.split;
      link.href = api.exportUrl(projectId, {
        format: format.value, position: pos, includeProposed: proposed.checked,
        images: chosen.images && images.checked,
        split: chosen.split ? split.value.trim() : undefined,
        seed: chosen.split ? seed.value.trim() : undefined });
      position.disabled = !asOfPos.checked;
      const bad = positionProblem();
      position.setAttribute("aria-invalid", String(Boolean(bad)));
      const beyond = !bad && asOfPos.checked && status.head !== null && Number(position.value) > status.head;
      hint.textContent = bad || (beyond ? `The log was at position ${status.head} when this page loaded.` : "");
      showProblem("");
    };
    for (const el of [format, asOfNow, asOfPos, position, proposed, images, split, seed]) el.addEventListener("input", update);
    // The download goes through fetch, so that a refusal is shown (its message from the API's
    // error body) instead of the browser saving an error document or doing nothing.
    link.addEventListener("click", async (e) => {
      e.preventDefault();
      const bad = positionProblem();
      if (bad) { showProblem(bad); position.focus(); return; }
      if (link.getAttribute("aria-busy") === "true") return;
      link.setAttribute("aria-busy", "true");
      showProblem("");
      const href = link.href;
      try {
        const response = await fetch(href, { credentials: "same-origin" });
        if (!response.ok) {
          const body = await response.json().catch(() => null);
          const message = body?.error?.message || response.statusText || `HTTP ${response.status}`;
          showProblem(`The export failed (${response.status}): ${message}`);
          toast(`Export failed: ${message}`, { kind: "error" });
          return;
        }
        const name = /filename="([^"]+)"/.exec(response.headers.get("content-disposition") || "")?.[1] || "export";
        const url = URL.createObjectURL(await response.blob());
        const save = h("a", { href: url, download: name, hidden: true });
        document.body.append(save);
        save.click();
        save.remove();
        setTimeout(() => URL.revokeObjectURL(url), 60000);
        toast(`Export saved as ${name}.`);
      } catch (err) {
        const message = `The export failed: ${err.message || "the server cannot be reached"}`;
        showProblem(message);
        toast(message, { kind: "error" });
      } finally {
        link.removeAttribute("aria-busy");
      }
    });
    update();
    clear(exporter).append(
      h("h2", { id: "export-title" }, "Export"),
      h("div", { class: "form-grid" },
        h("label", { for: "export-format" }, "Format"), format,
        h("span", { class: "label-like" }, "Labels as of"),
        h("div", { class: "radio-row" },
          h("label", {}, asOfNow, " now"),
          h("label", {}, asOfPos, " position "), position),
        h("span", {}), hint,
        h("span", {}), h("label", {}, proposed, " include pending pre-labels"),
        h("span", {}), h("label", {}, images, " include the image files (zip)"),
        h("label", { for: "export-split" }, "Split"),
        h("div", { class: "radio-row" }, split, h("label", { for: "export-seed" }, " seed "), seed)),
      h("p", { class: "muted small" }, `The log is at position ${status.head ?? "?"}`
        + (maxLag ? `; read models are ${maxLag} events behind.` : "; read models are up to date.")
        + " An export as of a position is the same file every time."),
      link, problem);
  }

  async function loadMetrics() {
    refreshBtn.disabled = true;
    try {
      const [people, assisted, ...groups] = await Promise.all([
        api.annotatorMetrics(projectId), api.assistMetrics(projectId),
        ...DIMENSIONS.map(([k]) => api.prelabelMetrics(projectId, k))]);
      metrics = Object.fromEntries(DIMENSIONS.map(([k], i) => [k, groups[i]]));
      renderAcceptance();
      renderCalibration();
      confusion.load(metrics.model.groups.map((g) => g.key.model)); // prelabel_confusion.js
      renderAssists(assisted.groups);
      renderAnnotators(people.annotators);
      updated.textContent = `Updated ${new Date().toLocaleTimeString()}`;
      main.querySelector(".dashboard").dataset.loaded = "true";
    } finally {
      refreshBtn.disabled = false;
    }
  }

  renderProgress();
  evaluationPanel(evaluation, projectId).load(); // on its own: evaluations take longer than metrics
  blindSpotsPanel(blindSpots, projectId).load(); // views/blind_spots.js, on its own too
  queueOverviewPanel(queueOverview, project).load(); // views/queue_overview.js
  await Promise.all([loadMetrics(), renderExport()]);

  // Live progress from the project room; metrics refresh a moment after work happens.
  let metricsTimer = null;
  const room = `project:${projectId}`;
  app.socket.join(room, (m) => {
    if (m.op === "joined" && m.counts) { Object.assign(counts, m.counts); renderProgress(); }
    if (m.op !== "image_changed") return;
    if (m.previous_status !== m.status) {
      if (m.previous_status) counts[m.previous_status] = Math.max(0, (counts[m.previous_status] || 0) - 1);
      counts[m.status] = (counts[m.status] || 0) + 1;
      renderProgress();
    }
    clearTimeout(metricsTimer);
    metricsTimer = setTimeout(() => loadMetrics(), 1500);
  });
  return () => { clearTimeout(metricsTimer); app.socket.leave(room); };
}
