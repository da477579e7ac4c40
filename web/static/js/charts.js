// Small SVG charts for the project list and the dashboard. Colours come from CSS classes, the
// numbers from the API as they are (the charts draw; the tables beside them say the numbers).

import { h, svg, percent } from "./dom.js";

export const STATUSES = ["new", "in_progress", "submitted", "approved", "rejected"];
export const STATUS_NAMES = { new: "New", in_progress: "In progress", submitted: "Submitted",
                              approved: "Approved", rejected: "Rejected" };

/** One stacked bar of image counts by status. */
export function statusBar(counts, { label = "Progress by status", height = 12 } = {}) {
  const total = STATUSES.reduce((s, k) => s + (counts[k] || 0), 0);
  const el = svg("svg", { class: "status-bar", viewBox: `0 0 1000 ${height}`, preserveAspectRatio: "none",
                          role: "img", "aria-label": `${label}: ` + STATUSES.map((s) => `${counts[s] || 0} ${STATUS_NAMES[s].toLowerCase()}`).join(", ") });
  let x = 0;
  for (const s of STATUSES) {
    const n = counts[s] || 0;
    if (!n) continue;
    const w = (n / total) * 1000;
    el.append(svg("rect", { x, y: 0, width: w, height, class: `status-${s}` },
                  svg("title", {}, `${STATUS_NAMES[s]}: ${n}`)));
    x += w;
  }
  if (!total) el.append(svg("rect", { x: 0, y: 0, width: 1000, height, class: "status-empty" }));
  return el;
}

const OUTCOMES = [["accepted", "Accepted"], ["edited", "Corrected"], ["relabeled", "Relabeled"], ["rejected", "Rejected"], ["pending", "Not yet reviewed"]];

/** Horizontal stacked bars of pre-label outcomes per group, with the acceptance rate. */
export function outcomeBars(groups, keyName) {
  const rowH = 26, labelW = 170, rateW = 70, barW = 560;
  const height = Math.max(1, groups.length) * rowH + 8;
  const max = Math.max(1, ...groups.map((g) => g.proposed));
  const el = svg("svg", { class: "outcome-chart", viewBox: `0 0 ${labelW + barW + rateW} ${height}`,
                          width: labelW + barW + rateW, height,
                          role: "img", "aria-label": `Pre-label outcomes by ${keyName}` });
  groups.forEach((g, i) => {
    const y = i * rowH + 4;
    const name = groupName(g.key);
    el.append(svg("text", { x: labelW - 8, y: y + 15, class: "chart-label", "text-anchor": "end" }, clip(name, 24)));
    let x = labelW;
    const pending = Math.max(0, g.proposed - g.accepted - g.edited - (g.relabeled || 0) - g.rejected);
    for (const [k, title] of OUTCOMES) {
      const n = k === "pending" ? pending : g[k];
      if (!n) continue;
      const w = (n / max) * barW;
      el.append(svg("rect", { x, y, width: w, height: rowH - 8, class: `outcome-${k}` },
                    svg("title", {}, `${name}: ${title.toLowerCase()} ${n}`)));
      x += w;
    }
    el.append(svg("text", { x: labelW + barW + rateW - 4, y: y + 15, class: "chart-value", "text-anchor": "end" },
                  percent(g.acceptance_rate)));
  });
  return el;
}

export function outcomeLegend() {
  return h("ul", { class: "legend", role: "list" }, OUTCOMES.map(([k, title]) =>
    h("li", {}, h("span", { class: `swatch outcome-${k}`, "aria-hidden": "true" }), title)));
}

/**
 * Calibration: the acceptance rate of each score bucket against the bucket's score. A
 * well-calibrated model's points lie on the diagonal; points below it mean the model is more
 * confident than its pre-labels deserve.
 */
export function calibrationChart(groups) {
  const W = 420, H = 300, m = { l: 48, r: 16, t: 14, b: 40 };
  const iw = W - m.l - m.r, ih = H - m.t - m.b;
  const X = (v) => m.l + v * iw, Y = (v) => m.t + (1 - v) * ih;
  const el = svg("svg", { class: "calibration-chart", viewBox: `0 0 ${W} ${H}`, role: "img",
                          "aria-label": "Acceptance rate against model score" });
  for (let t = 0; t <= 1.0001; t += 0.2) {
    el.append(svg("line", { x1: X(0), x2: X(1), y1: Y(t), y2: Y(t), class: "grid" }));
    el.append(svg("text", { x: m.l - 6, y: Y(t) + 4, "text-anchor": "end", class: "axis" }, `${Math.round(t * 100)}%`));
    el.append(svg("text", { x: X(t), y: H - m.b + 16, "text-anchor": "middle", class: "axis" }, t.toFixed(1)));
  }
  el.append(svg("line", { x1: X(0), y1: Y(0), x2: X(1), y2: Y(1), class: "diagonal" }));
  el.append(svg("text", { x: X(0.5), y: H - 6, "text-anchor": "middle", class: "axis-title" }, "model score (bucket)"));
  el.append(svg("text", { x: 12, y: Y(0.5), "text-anchor": "middle", class: "axis-title",
                          transform: `rotate(-90 12 ${Y(0.5)})` }, "acceptance rate"));
  const pts = groups
    .filter((g) => g.acceptance_rate !== null && g.key.score_bucket !== null && g.key.score_bucket !== undefined)
    .map((g) => ({ g, x: Math.min(1, Number(g.key.score_bucket) + 0.05), y: g.acceptance_rate,
                   n: g.accepted + g.edited + g.rejected }))
    .sort((a, b) => a.x - b.x);
  if (pts.length > 1) {
    el.append(svg("polyline", { points: pts.map((p) => `${X(p.x)},${Y(p.y)}`).join(" "), class: "calibration-line" }));
  }
  for (const p of pts) {
    el.append(svg("circle", { cx: X(p.x), cy: Y(p.y), r: 4 + Math.min(8, Math.sqrt(p.n) * 1.5), class: "calibration-point" },
                  svg("title", {}, `score ${p.g.key.score_bucket}–${(Number(p.g.key.score_bucket) + 0.1).toFixed(1)}: `
                    + `${percent(p.y)} accepted of ${p.n} reviewed`)));
  }
  if (!pts.length) {
    el.append(svg("text", { x: X(0.5), y: Y(0.5), "text-anchor": "middle", class: "axis" }, "no reviewed pre-labels yet"));
  }
  return el;
}

export function groupName(key) {
  const [dim, value] = Object.entries(key)[0] || ["", null];
  if (value === null || value === undefined) return dim === "annotator" ? "(not acted on)" : "(none)";
  if (dim === "score_bucket") return `${value}–${(Number(value) + 0.1).toFixed(1)}`;
  return String(value);
}

function clip(s, n) { return s.length > n ? `${s.slice(0, n - 1)}…` : s; }

/**
 * A train job's curve: the training and held-out loss per epoch (left axis, from 0 to the
 * largest loss) and the held-out metric (right axis, 0 to 1: mAP@0.5 or accuracy). ``progress``
 * is the job's ``progress`` list, as the API gives it.
 */
export function lossCurve(progress, { metricName = "metric" } = {}) {
  const W = 520, H = 220, m = { l: 48, r: 48, t: 14, b: 36 };
  const iw = W - m.l - m.r, ih = H - m.t - m.b;
  const epochs = progress.map((p) => p.epoch);
  const last = Math.max(1, ...epochs);
  const losses = progress.flatMap((p) => [p.train_loss, p.val_loss]).filter((v) => Number.isFinite(v));
  const top = Math.max(1e-6, ...losses) * 1.05;
  const X = (e) => m.l + (last === 1 ? iw / 2 : ((e - 1) / (last - 1)) * iw);
  const Y = (v) => m.t + (1 - v / top) * ih;
  const M = (v) => m.t + (1 - v) * ih;
  const el = svg("svg", { class: "loss-curve", viewBox: `0 0 ${W} ${H}`, role: "img",
                          "aria-label": `Training loss, held-out loss and held-out ${metricName} over ${progress.length} epochs` });
  for (let i = 0; i <= 4; i++) {
    const v = (top * i) / 4;
    el.append(svg("line", { x1: m.l, x2: W - m.r, y1: Y(v), y2: Y(v), class: "grid" }));
    el.append(svg("text", { x: m.l - 6, y: Y(v) + 4, "text-anchor": "end", class: "axis" }, v.toPrecision(2)));
    el.append(svg("text", { x: W - m.r + 6, y: M(i / 4) + 4, class: "axis" }, (i / 4).toFixed(2)));
  }
  const step = Math.max(1, Math.ceil(last / 10));
  for (let e = 1; e <= last; e += step) {
    el.append(svg("text", { x: X(e), y: H - m.b + 16, "text-anchor": "middle", class: "axis" }, String(e)));
  }
  el.append(svg("text", { x: m.l + iw / 2, y: H - 4, "text-anchor": "middle", class: "axis-title" }, "epoch"));
  const series = [["train_loss", Y, "train-loss", "training loss"], ["val_loss", Y, "val-loss", "held-out loss"],
                  ["val_metric", M, "val-metric", `held-out ${metricName}`]];
  for (const [key, scale, cls, title] of series) {
    const pts = progress.filter((p) => Number.isFinite(p[key]) && p[key] >= 0);
    if (!pts.length) continue;
    el.append(svg("polyline", { class: `curve ${cls}`, "data-series": key,
                                points: pts.map((p) => `${X(p.epoch)},${scale(p[key])}`).join(" ") }));
    for (const p of pts) {
      el.append(svg("circle", { cx: X(p.epoch), cy: scale(p[key]), r: 2.5, class: `curve-point ${cls}` },
                    svg("title", {}, `epoch ${p.epoch}: ${title} ${Number(p[key]).toFixed(4)}`)));
    }
  }
  return el;
}

export function lossLegend(metricName) {
  return h("ul", { class: "legend", role: "list" },
    [["train-loss", "training loss"], ["val-loss", "held-out loss"], ["val-metric", `held-out ${metricName} (right axis)`]]
      .map(([k, t]) => h("li", {}, h("span", { class: `swatch ${k}`, "aria-hidden": "true" }), t)));
}
