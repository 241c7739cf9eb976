/* The WebSocket page (/ws/) and the --ws-report file: theme, charts, and the live refresh.
 *
 * Runs after the vendored ECharts (window.echarts): served from ws/static/ by the web UI, inlined
 * by the report. Its input is the JSON block <script id="ws-spec">, written by loadtest.report:
 *   {live, refresh_ms, charts, series, columns, empty}
 * charts: [{id, title, lines: [[point field, label, colour]], digits, note}] (loadtest.report.charts);
 * series: the time-series points ({t, elapsed_s, sessions_connected, rtt_p50_ms, ...});
 * baseline_series (report only, optional): an earlier run's points, drawn dashed behind them.
 *
 * Theme, as Locust's own UI decides it (webui/src/constants/theme.ts): dark when
 * localStorage.theme is "dark", or when no theme is stored and the system prefers dark. The live
 * page shares Locust's origin, so it reads that key, writes it when its button is pressed, and
 * follows Locust's own toggle from another tab (the "storage" event). The report is a file: it
 * follows prefers-color-scheme, and its button holds only while the page is open.
 *
 * On the live page, every refresh_ms the script fetches "data" (relative: --web-base-path
 * works) and redraws the sections, the checks, the status line and the charts.
 */
(function () {
  "use strict";

  const SPEC = JSON.parse(document.getElementById("ws-spec").textContent);
  const root = document.documentElement;
  const $ = (id) => document.getElementById(id);
  const none = (v) => v === null || v === undefined;
  const ENT = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"};
  const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ENT[c]);

  // -- theme ------------------------------------------------------------------------------------
  const THEME_KEY = "theme"; // Locust's localStorage key
  // Locust's chart colours (webui/src/components/LineChart/LineChart.constants.ts).
  const CHART_THEME = {
    dark: {text: "#b3c3bc", axis: "#5b6f66", background: "#27272a", split: "#4c4c52"},
    light: {text: "#000", axis: "#000", background: "#fff", split: "#ddd"},
  };
  const systemDark = window.matchMedia("(prefers-color-scheme: dark)");
  let chosen = null; // the button's choice, when it cannot be (or is not) stored

  function locustTheme() {
    try {
      if (localStorage.getItem(THEME_KEY) === "dark") return "dark";
      if (localStorage.getItem(THEME_KEY) !== null) return "light";
    } catch (e) {
      // storage disabled: fall back to the system preference, as Locust cannot store it either
    }
    return systemDark.matches ? "dark" : "light";
  }

  const currentTheme = () =>
    chosen || (SPEC.live ? locustTheme() : systemDark.matches ? "dark" : "light");

  function applyTheme() {
    const theme = currentTheme();
    const other = theme === "dark" ? "light" : "dark";
    root.dataset.theme = theme;
    const button = $("ws-theme");
    button.hidden = false;
    button.querySelector("span").textContent = other === "dark" ? "Dark" : "Light";
    button.title = `Switch to the ${other} theme`;
    for (const chart of charts) chart.instance.setOption(themeOption(theme));
  }

  function toggleTheme() {
    const next = currentTheme() === "dark" ? "light" : "dark";
    chosen = next;
    if (SPEC.live) {
      try {
        localStorage.setItem(THEME_KEY, next); // Locust's page follows on its next load
        chosen = null;
      } catch (e) {
        // storage disabled: keep the choice for this page only
      }
    }
    applyTheme();
  }

  // -- charts -----------------------------------------------------------------------------------
  const charts = []; // [{def, instance}]

  const fixed = (v, digits) => (none(v) || Number.isNaN(Number(v)) ? "no data" : Number(v).toFixed(digits));

  function tooltip(def) {
    return (params) => {
      const list = Array.isArray(params) ? params : [params];
      if (!list.length) return "";
      const [x, , t] = list[0].value;
      const when = none(t) ? "" : ` (${new Date(t * 1000).toLocaleTimeString()})`;
      let text = `<b>${Number(x).toFixed(1)} s</b>${esc(when)}`;
      for (const p of list) {
        const dot = `<span style="color:${esc(p.color)}">\u25cf</span>`;
        text += `<br>${dot} ${esc(p.seriesName)}: <b>${esc(fixed(p.value[1], def.digits))}</b>`;
      }
      return text;
    };
  }

  // [elapsed_s, value or null, t]: a null value leaves a gap in the line, never a zero.
  const points = (series, field) =>
    series.map((p) => [Number(p.elapsed_s), none(p[field]) ? null : Number(p[field]), p.t]);

  function baseOption(def) {
    return {
      animation: false,
      color: def.lines.map((line) => line[2]),
      grid: {left: 64, right: 24, top: 36, bottom: 66},
      legend: {top: 4, left: 8, icon: "circle"},
      tooltip: {trigger: "axis", className: "ws-tooltip", formatter: tooltip(def), borderWidth: 0},
      toolbox: {
        right: 8,
        top: 0,
        feature: {dataZoom: {yAxisIndex: "none", title: {zoom: "Zoom select", back: "Zoom back"}}},
      },
      // one point alone would give an empty axis (min == max) labelled twice: widen it by 1 s
      xAxis: {
        type: "value",
        min: "dataMin",
        max: (extent) => (extent.max > extent.min ? extent.max : extent.min + 1),
        axisLabel: {formatter: (v) => `${+v.toFixed(1)} s`},
      },
      yAxis: {type: "value", min: 0, boundaryGap: [0, "5%"]},
      dataZoom: [
        {type: "inside", zoomOnMouseWheel: "ctrl", moveOnMouseWheel: false},
        {type: "slider", bottom: 8, height: 18},
      ],
      series: def.lines.map((line) => ({
        type: "line",
        name: line[1],
        symbolSize: 4,
        connectNulls: false,
        data: [],
      })).concat(baselineLines(def)),
    };
  }

  // The baseline's lines: the same fields, dashed and faded, named "... (baseline)".
  function baselineLines(def) {
    if (!SPEC.baseline_series || !SPEC.baseline_series.length) return [];
    return def.lines.map((line) => ({
      type: "line",
      name: `${line[1]} (baseline)`,
      symbol: "none",
      connectNulls: false,
      lineStyle: {type: "dashed", opacity: 0.55},
      itemStyle: {color: line[2], opacity: 0.55},
      data: points(SPEC.baseline_series, line[0]),
    }));
  }

  function themeOption(theme) {
    const c = CHART_THEME[theme];
    return {
      backgroundColor: c.background,
      textStyle: {color: c.text},
      legend: {textStyle: {color: c.text}, inactiveColor: c.axis},
      tooltip: {backgroundColor: c.background, textStyle: {color: c.text}},
      xAxis: {
        axisLine: {lineStyle: {color: c.axis}},
        axisLabel: {color: c.text},
        splitLine: {lineStyle: {color: c.split}},
      },
      yAxis: {
        axisLine: {lineStyle: {color: c.axis}},
        axisLabel: {color: c.text},
        splitLine: {lineStyle: {color: c.split}},
      },
      dataZoom: [{}, {textStyle: {color: c.text}, borderColor: c.split}],
    };
  }

  function drawCharts(series) {
    if (!window.echarts) {
      $("ws-charts-status").textContent = "The charting library did not load.";
      return;
    }
    if (!charts.length) {
      for (const def of SPEC.charts) {
        const box = document.querySelector(`figure[data-chart="${def.id}"] .plot`);
        const instance = window.echarts.init(box, null, {renderer: "svg"});
        instance.group = "ws-charts"; // one zoom and one hover position for all of them
        instance.setOption(baseOption(def));
        instance.setOption(themeOption(currentTheme()));
        charts.push({def, instance});
      }
      window.echarts.connect("ws-charts");
      window.addEventListener("resize", () => charts.forEach((c) => c.instance.resize()));
    }
    for (const {def, instance} of charts) {
      instance.setOption({series: def.lines.map((line) => ({data: points(series, line[0])}))});
    }
    if (series.length) $("ws-charts-status").textContent = "";
  }

  function resetZoom() {
    for (const {instance} of charts) instance.dispatchAction({type: "dataZoom", start: 0, end: 100});
  }

  // -- live page: sections, checks and status, redrawn from "data" ----------------------------
  function fmt(v, kind) {
    if (kind === "back_s") return none(v) ? "never" : Number(v).toFixed(2);
    if (kind === "pairs") return Object.entries(v || {}).map(([k, n]) => `${k}=${n}`).join(", ") || "none";
    if (none(v) || (v === "" && kind !== "text")) return "\u2014";
    if (kind === "ms") return Number(v).toFixed(3);
    if (kind === "share") return (Number(v) * 100).toFixed(1) + "%";
    if (kind === "num" && typeof v === "number" && !Number.isInteger(v)) return v.toFixed(3);
    return String(v);
  }

  function cell(row, key) {
    let value = row;
    for (const part of key.split(".")) value = value !== null && typeof value === "object" ? value[part] : undefined;
    return value;
  }

  function table(name, rows) {
    const cols = SPEC.columns[name];
    const head = cols.map((c) => `<th>${esc(c[1])}</th>`).join("");
    let body = rows.map((row) => "<tr>" + cols.map(([key, , kind]) => {
      const css = kind === "text" || kind === "pairs" ? "" : " class=n";
      return `<td${css}>${esc(fmt(cell(row, key), kind))}</td>`;
    }).join("") + "</tr>").join("");
    if (!rows.length) body = `<tr><td class=empty colspan="${cols.length}">${esc(SPEC.empty[name])}</td></tr>`;
    return `<table id="t-${name}"><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
  }

  // Mirrors loadtest.report.sections.section_rows (and fmt, cell); every field read defensively.
  function sectionRows(d) {
    const rows = {};
    for (const name of Object.keys(SPEC.columns)) rows[name] = (d.tables || {})[name] || [];
    rows.sessions = [d.sessions || {}];
    rows.storms = (d.summary || {}).storms || [];
    return rows;
  }

  function checks(list) {
    if (!list.length) return '<p class="meta">No --ws-check conditions were given.</p>';
    const rows = list.map((c) => {
      const [word, css] = none(c.passed) ? ["pending", "pending"] : c.passed ? ["PASS", "pass"] : ["FAIL", "fail"];
      const value = none(c.value) ? "" : fmt(c.value, "num");
      return `<tr><td class="${css}">${word}</td><td>${esc(c.name)}</td><td class=n>${esc(value)}</td></tr>`;
    });
    const head = "<tr><th>Result</th><th>Check</th><th>Value</th></tr>";
    return `<table id=t-checks><thead>${head}</thead><tbody>${rows.join("")}</tbody></table>`;
  }

  function render(d) {
    const rows = sectionRows(d);
    for (const name of Object.keys(SPEC.columns)) $(`ws-box-${name}`).innerHTML = table(name, rows[name]);
    $("ws-checks").innerHTML = checks(d.checks || []);
    const summary = d.summary || {};
    const state = d.state || (d.finished ? "finished" : "running");
    const parts = [
      `Target ${summary.target || "(none)"}`,
      `${Number(summary.duration_s || 0).toFixed(1)} s`,
      state,
      `updated ${new Date().toLocaleTimeString()}`,
    ];
    $("ws-status").textContent = parts.join(" \u00b7 ");
    drawCharts(d.series || []);
    document.body.dataset.refreshes = String(Number(document.body.dataset.refreshes || "0") + 1);
  }

  async function refresh() {
    try {
      const response = await fetch("data", {cache: "no-store", credentials: "same-origin"});
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      render(await response.json());
    } catch (e) {
      $("ws-status").textContent = `Update failed (${e.message}); retrying every ${SPEC.refresh_ms / 1000} s`;
    } finally {
      setTimeout(refresh, SPEC.refresh_ms);
    }
  }

  // -- start ------------------------------------------------------------------------------------
  $("ws-theme").addEventListener("click", toggleTheme);
  $("ws-zoom-reset").addEventListener("click", resetZoom);
  systemDark.addEventListener("change", applyTheme);
  if (SPEC.live) {
    window.addEventListener("storage", (event) => {
      if (event.key === THEME_KEY || event.key === null) {
        chosen = null;
        applyTheme();
      }
    });
  }
  applyTheme();
  drawCharts(SPEC.series);
  if (SPEC.live) setTimeout(refresh, SPEC.refresh_ms);
})();
