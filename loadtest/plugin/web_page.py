"""The ``/ws/`` page of the web UI: the WebSocket tables and charts over time, refreshed every 2 s.

The page is rendered once on the server with the same pieces as the HTML report, then a small
inline script fetches ``data`` (relative to the page, so ``--web-base-path`` works) every 2 s and
redraws the tables and the SVG charts. Nothing is loaded from anywhere else.
"""

from __future__ import annotations

from typing import Any

import orjson

from loadtest.report import page
from loadtest.report.csv_files import TABLE_FIELDS
from loadtest.report.page import esc

#: Milliseconds between two fetches of ``data``.
REFRESH_MS = 2000

_SCRIPT = r"""
"use strict";
const SPEC = JSON.parse(document.getElementById("ws-spec").textContent);
const ENT = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"};
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ENT[c]);
const $ = (id) => document.getElementById(id);
const none = (v) => v === null || v === undefined;

function fmt(v, kind) {
  if (none(v) || (v === "" && kind !== "text")) return "\u2014";
  if (kind === "ms") return Number(v).toFixed(3);
  if (kind === "share") return (Number(v) * 100).toFixed(1) + "%";
  if (kind === "num" && typeof v === "number" && !Number.isInteger(v)) return v.toFixed(3);
  return String(v);
}

function table(name, rows) {
  const cols = SPEC.columns[name];
  const head = cols.map((c) => `<th>${esc(c[1])}</th>`).join("");
  let body = rows.map((r) => "<tr>" + cols.map((c) => {
    const css = c[2] === "text" ? "" : " class=n";
    return `<td${css}>${esc(fmt(r[c[0]], c[2]))}</td>`;
  }).join("") + "</tr>").join("");
  if (!rows.length) body = `<tr><td class=empty colspan="${cols.length}">${esc(SPEC.empty[name])}</td></tr>`;
  return `<table id="t-${name}"><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
}

function niceMax(v) {
  if (v <= 0) return 1;
  const m = Math.pow(10, Math.floor(Math.log10(v)));
  for (const f of [1, 2, 2.5, 5, 10]) if (f * m >= v) return f * m;
  return v;
}

const axisLabel = (v) => (v >= 10 || v === 0 ? v.toFixed(0) : String(Number(v.toPrecision(3))));
const text = (x, y, size, anchor, body) =>
  `<text x="${x}" y="${y}" font-size="${size}" text-anchor="${anchor}">${body}</text>`;

function chart(points, c) {
  const [W, H, L, R, T, B] = SPEC.geometry;
  const pw = W - L - R, ph = H - T - B;
  const xs = points.map((p) => Number(p.elapsed_s));
  const vals = [];
  for (const p of points) for (const [f] of c.lines) if (!none(p[f])) vals.push(Number(p[f]));
  const x0 = xs.length ? Math.min(...xs) : 0;
  let x1 = xs.length ? Math.max(...xs) : 1;
  if (x1 <= x0) x1 = x0 + 1;
  const top = niceMax(vals.length ? Math.max(...vals) : 0);
  const X = (x) => L + ((x - x0) / (x1 - x0)) * pw;
  let s = `<svg width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img"`;
  s += ` aria-label="${esc(c.title)}" data-chart="${esc(c.id)}">`;
  s += `<rect x="${L}" y="${T}" width="${pw}" height="${ph}" fill="#fff" stroke="#ccd"/>`;
  for (const frac of [0, 0.5, 1]) {
    const y = T + ph * (1 - frac);
    s += `<line x1="${L}" x2="${W - R}" y1="${y.toFixed(1)}" y2="${y.toFixed(1)}" stroke="#eee"/>`;
    s += text(L - 4, (y + 4).toFixed(1), 10, "end", axisLabel(top * frac));
  }
  s += text(X(x0).toFixed(1), H - 8, 10, "start", `${x0.toFixed(0)} s`);
  s += text(X(x1).toFixed(1), H - 8, 10, "end", `${x1.toFixed(0)} s`);
  let lx = L;
  for (const [field, label, colour] of c.lines) {
    const segs = [[]];
    points.forEach((p, i) => {
      if (none(p[field])) return void segs.push([]);
      const y = T + ph * (1 - Math.min(Number(p[field]), top) / top);
      segs[segs.length - 1].push(`${X(xs[i]).toFixed(1)},${y.toFixed(1)}`);
    });
    for (const seg of segs.filter((g) => g.length)) {
      const pts = (seg.length > 1 ? seg : [seg[0], seg[0]]).join(" ");
      s += `<polyline fill="none" stroke="${colour}" stroke-width="1.6" points="${pts}"/>`;
    }
    s += `<rect x="${lx}" y="6" width="10" height="10" fill="${colour}"/>`;
    s += `<text x="${lx + 14}" y="15" font-size="11">${esc(label)}</text>`;
    lx += 20 + 7 * label.length;
  }
  return s + "</svg>";
}

function checks(list) {
  if (!list.length) return '<p class="meta">No --ws-check conditions were given.</p>';
  const rows = list.map((c) => {
    const [word, css] = none(c.passed) ? ["pending", "pending"]
      : c.passed ? ["PASS", "pass"] : ["FAIL", "fail"];
    const value = none(c.value) ? "" : fmt(c.value, "num");
    return `<tr><td class="${css}">${word}</td><td>${esc(c.name)}</td><td class=n>${esc(value)}</td></tr>`;
  });
  const head = "<tr><th>Result</th><th>Check</th><th>Value</th></tr>";
  return `<table id=t-checks><thead>${head}</thead><tbody>${rows.join("")}</tbody></table>`;
}

function render(d) {
  const keys = ["connected", "peak", "opened", "ended"];
  const line = keys.map((k) => `${k} <b data-key="${k}">${esc(d.sessions[k])}</b>`).join(" \u00b7 ");
  $("ws-sessions").innerHTML = `<p class="sessions" id="sessions">Sessions: ${line}</p>`;
  for (const name of Object.keys(SPEC.columns)) {
    $(`ws-box-${name}`).innerHTML = table(name, d.tables[name] || []);
  }
  const box = (c) => `<div class="chart"><h3>${esc(c.title)}</h3>${chart(d.series, c)}</div>`;
  const boxes = SPEC.charts.map(box);
  $("ws-charts").innerHTML = `<div class="charts">${boxes.join("")}</div>`;
  $("ws-checks").innerHTML = checks(d.checks || []);
  const duration = Number(d.summary.duration_s).toFixed(1);
  const state = d.finished ? "finished" : "running";
  const when = new Date().toLocaleTimeString();
  const parts = [`Target ${d.summary.target}`, `${duration} s`, state, `updated ${when}`];
  $("ws-status").textContent = parts.join(" \u00b7 ");
  document.body.dataset.refreshes = String(Number(document.body.dataset.refreshes || "0") + 1);
}

async function refresh() {
  try {
    const r = await fetch("data", {cache: "no-store", credentials: "same-origin"});
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    render(await r.json());
  } catch (e) {
    const every = SPEC.refresh_ms / 1000;
    $("ws-status").textContent = `Update failed (${e.message}); retrying every ${every} s`;
  } finally {
    setTimeout(refresh, SPEC.refresh_ms);
  }
}
setTimeout(refresh, SPEC.refresh_ms);
"""


def _spec() -> str:
    spec = {
        "columns": page.COLUMNS,
        "empty": page.EMPTY,
        "charts": page.CHARTS,
        "geometry": [page.CHART_WIDTH, page.CHART_HEIGHT, *page.CHART_PADDING],
        "refresh_ms": REFRESH_MS,
    }
    return orjson.dumps(spec).decode().replace("</", "<\\/")


def render_page(snapshot: dict[str, Any]) -> str:
    """Return the ``/ws/`` page, filled with ``snapshot`` (from :func:`loadtest.plugin.live.snapshot`)."""
    summary = snapshot["summary"]
    state = "finished" if snapshot["finished"] else "running"
    duration = f"{float(summary['duration_s']):.1f} s"
    csv_links = " ".join(
        f'<a href="csv/{esc(name)}" download>{esc(page.TITLES[name].split(" (")[0].lower())}</a>'
        for name in TABLE_FIELDS
    )
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>WebSocket · Locust</title>",
        f"<style>{page.CSS}</style></head><body>",
        "<h1>WebSocket</h1>",
        f'<p class="meta"><a href="../">&larr; Locust</a> CSV: {csv_links}',
        ' <a href="csv/history" download>history</a> · <a href="data">JSON</a></p>',
        f'<p class="meta" id="ws-status">Target {esc(summary["target"])} · {duration} · {state}</p>',
        f'<div id="ws-sessions">{page.sessions_html(snapshot["sessions"])}</div>',
        "<h2>Over time</h2>",
        f'<div id="ws-charts">{page.charts_html(snapshot["series"])}</div>',
    ]
    for name in page.COLUMNS:
        table = page.table_html(name, snapshot["tables"][name])
        parts += [f"<h2>{esc(page.TITLES[name])}</h2>", f'<div id="ws-box-{esc(name)}">{table}</div>']
    parts += [
        "<h2>Checks</h2>",
        f'<div id="ws-checks">{page.checks_html(snapshot["checks"])}</div>',
        f'<script type="application/json" id="ws-spec">{_spec()}</script>',
        f"<script>{_SCRIPT}</script>",
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"
