/**
 * The status page served at `/`: one HTML document with its style and script
 * inline, kept here as strings so `deno compile` ships it inside the binary.
 * It holds no data: its script reads `GET /api/v1/status` every few seconds
 * and draws it, so the page and scripts share one source of truth.
 *
 * When the HTTP endpoints need a token, the page asks for it, keeps it in the
 * tab's session storage and sends it as an `Authorization: Bearer` header: it
 * never travels in a URL, where access logs and browser history keep it.
 *
 * Every value is written with `textContent`, never as HTML, and the Content
 * Security Policy admits only this script and style (by hash) and requests to
 * the page's own origin.
 *
 * @module
 */
import { STATUS_API_PATH } from "./status.ts";

/** How often the page asks for a new report. */
export const PAGE_REFRESH_MS = 2000;

const STYLE = `
:root {
  color-scheme: light dark;
  --bg: #f6f7f9; --card: #fff; --text: #1b1f24; --muted: #57606a; --line: #d0d7de;
  --ok: #1a7f37; --info: #0b5cad; --degraded: #8a5a00; --failing: #c0142b;
  --ok-bg: #dafbe1; --info-bg: #ddf4ff; --degraded-bg: #fff1c5; --failing-bg: #ffe1e4;
  --focus: #0b5cad;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #0d1117; --card: #161b22; --text: #e6edf3; --muted: #9da7b3; --line: #30363d;
    --ok: #3fb950; --info: #58a6ff; --degraded: #d29922; --failing: #ff6b6b;
    --ok-bg: #12261a; --info-bg: #0c2138; --degraded-bg: #2e2207; --failing-bg: #3a1115;
    --focus: #58a6ff;
  }
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--text);
  font: 16px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
header, main { max-width: 72rem; margin: 0 auto; padding: 0.75rem 1rem; }
header { display: flex; flex-wrap: wrap; gap: 0.5rem 1rem; align-items: baseline; }
h1 { font-size: 1.3rem; margin: 0; }
h2 { font-size: 1.1rem; margin: 1.25rem 0 0.5rem; }
h3 { font-size: 1.05rem; margin: 0; overflow-wrap: anywhere; }
.muted { color: var(--muted); }
.grid { display: grid; gap: 0.75rem; grid-template-columns: repeat(auto-fill, minmax(min(100%, 21rem), 1fr)); }
.card { background: var(--card); border: 1px solid var(--line); border-left: 0.4rem solid var(--line);
  border-radius: 0.4rem; padding: 0.75rem; min-width: 0; }
.card[data-severity="ok"] { border-left-color: var(--ok); }
.card[data-severity="info"] { border-left-color: var(--info); }
.card[data-severity="degraded"] { border-left-color: var(--degraded); border-left-style: dashed; }
.card[data-severity="failing"] { border-left-color: var(--failing); border-left-style: double; border-left-width: 0.5rem; }
.card-head { display: flex; flex-wrap: wrap; gap: 0.25rem 0.75rem; align-items: center; justify-content: space-between; }
.badge { display: inline-block; border-radius: 1rem; padding: 0.05rem 0.6rem; font-weight: 600;
  border: 1px solid currentColor; white-space: nowrap; }
.badge[data-severity="ok"] { color: var(--ok); background: var(--ok-bg); }
.badge[data-severity="info"] { color: var(--info); background: var(--info-bg); }
.badge[data-severity="degraded"] { color: var(--degraded); background: var(--degraded-bg); }
.badge[data-severity="failing"] { color: var(--failing); background: var(--failing-bg); }
.badge[data-severity="unknown"] { color: var(--muted); }
#overall { margin: 0; padding: 0.6rem 0.75rem; border-radius: 0.4rem; font-weight: 600;
  border: 1px solid var(--line); background: var(--card); }
#overall[data-severity="ok"] { border-color: var(--ok); }
#overall[data-severity="degraded"] { border-color: var(--degraded); background: var(--degraded-bg); }
#overall[data-severity="failing"], #overall[data-severity="unknown"] { border-color: var(--failing); background: var(--failing-bg); }
.reason { margin: 0.4rem 0 0; overflow-wrap: anywhere; }
dl { display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: 0.15rem 0.75rem; margin: 0.6rem 0 0; }
dt { color: var(--muted); }
dd { margin: 0; font-variant-numeric: tabular-nums; overflow-wrap: anywhere; }
.chart { margin-top: 0.6rem; }
.chart svg { display: block; width: 100%; height: 3rem; border-bottom: 1px solid var(--line); }
.chart polyline { fill: none; stroke: var(--info); stroke-width: 1.5; vector-effect: non-scaling-stroke; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; background: var(--card); border: 1px solid var(--line); }
th, td { padding: 0.35rem 0.6rem; border-bottom: 1px solid var(--line); text-align: right; white-space: nowrap; }
th:first-child, td:first-child { text-align: left; }
td { font-variant-numeric: tabular-nums; }
ul#problems { margin: 0.5rem 0 0; padding-left: 1.25rem; }
ul#problems:empty { display: none; }
button, input { font: inherit; }
button { padding: 0.3rem 0.8rem; border-radius: 0.3rem; border: 1px solid var(--line);
  background: var(--card); color: var(--text); cursor: pointer; min-height: 2.25rem; }
input { padding: 0.3rem 0.5rem; border: 1px solid var(--muted); border-radius: 0.3rem;
  background: var(--card); color: var(--text); width: min(100%, 24rem); min-height: 2.25rem; }
:focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; }
.controls { display: flex; gap: 0.5rem; flex-wrap: wrap; margin-left: auto; }
/* Stale figures are grey: the last known state must not pass for the present one. */
body[data-stale] .grid .card, body[data-stale] table { opacity: 0.6; }
body[data-stale] .card { border-left-color: var(--line); border-left-style: dotted; }
body[data-stale] .badge { color: var(--muted); background: none; }
@media (max-width: 30rem) {
  th, td { padding: 0.35rem 0.4rem; }
  thead th { white-space: normal; }
}
[hidden] { display: none !important; }
`;

const SCRIPT = `
(function () {
  "use strict";
  var API = ${JSON.stringify(STATUS_API_PATH)};
  var REFRESH_MS = ${PAGE_REFRESH_MS};
  var TOKEN_KEY = "pg2kafka.token";
  var SYMBOL = { ok: "\\u2713", info: "\\u25cb", degraded: "!", failing: "\\u2715", unknown: "?" };
  var STATE_WORD = { ok: "OK", info: "Waiting", degraded: "Degraded", failing: "Failing", unknown: "Unknown" };
  var numbers = new Intl.NumberFormat("en");
  // Keeps a figure and its unit on one line.
  var NBSP = "\u00a0";
  var token = sessionStorage.getItem(TOKEN_KEY);
  var timer = null;
  var paused = false;
  var lastReport = null;

  function $(id) { return document.getElementById(id); }

  function el(tag, attributes, children) {
    var node = document.createElement(tag);
    for (var name in attributes || {}) node.setAttribute(name, attributes[name]);
    (children || []).forEach(function (child) {
      node.append(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function badge(severity, text) {
    return el("span", { class: "badge", "data-severity": severity, "data-field": "state" },
      [SYMBOL[severity] + " " + text]);
  }

  function bytes(value) {
    if (value === null || value === undefined) return "unknown";
    var units = ["B", "KiB", "MiB", "GiB", "TiB"];
    var unit = 0;
    while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit++; }
    return (unit === 0 ? String(value) : value.toFixed(1)) + NBSP + units[unit];
  }

  function seconds(value) {
    if (value === null || value === undefined) return "unknown";
    if (value < 60) return value.toFixed(value < 10 ? 1 : 0) + NBSP + "s";
    if (value < 3600) return (value / 60).toFixed(1) + NBSP + "min";
    return (value / 3600).toFixed(1) + NBSP + "h";
  }

  function count(value) { return numbers.format(value); }

  function rate(value) { return (value < 10 ? value.toFixed(1) : numbers.format(Math.round(value))) + "/s"; }

  function row(list, name, value, field) {
    list.append(el("dt", {}, [name]), el("dd", field ? { "data-field": field } : {}, [value]));
  }

  function chart(series) {
    var values = series.perSecond;
    var minutes = Math.round(values.length * series.intervalSeconds / 60);
    var now = values.length ? values[values.length - 1] : 0;
    var peak = values.reduce(function (a, b) { return Math.max(a, b); }, 0);
    var summary = values.length < 2
      ? "Changes per second: not enough samples yet"
      : "Changes per second over the last " + Math.max(1, minutes) + " min: now " + rate(now) +
        ", peak " + rate(peak);
    var svgNs = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(svgNs, "svg");
    svg.setAttribute("viewBox", "0 0 100 40");
    svg.setAttribute("preserveAspectRatio", "none");
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", summary);
    if (values.length >= 2) {
      var top = peak > 0 ? peak : 1;
      var points = values.map(function (value, i) {
        return (i * 100 / (values.length - 1)).toFixed(2) + "," + (38 - value * 36 / top).toFixed(2);
      });
      var line = document.createElementNS(svgNs, "polyline");
      line.setAttribute("points", points.join(" "));
      svg.append(line);
    }
    return el("div", { class: "chart" }, [svg, el("div", { class: "muted", "data-field": "rate" }, [summary])]);
  }

  function sourceCard(source, limits) {
    var details = el("dl");
    row(details, "Slot", source.slot + (source.slotActive === false ? " (inactive)" : ""), "slot");
    row(details, "Confirmed LSN", source.confirmedLsn, "lsn");
    row(details, "Retained WAL", bytes(source.retainedWalBytes), "retained");
    row(details, "Lag", bytes(source.lagBytes) + ", " + seconds(source.lagSeconds), "lag");
    row(details, "In flight", count(source.inflight.messages) + " of " + count(limits.maxMessages) +
      " messages, " + bytes(source.inflight.bytes) + " of " + bytes(limits.maxBytes), "inflight");
    var children = [
      el("div", { class: "card-head" }, [el("h3", {}, [source.name]), badge(source.severity, source.state)]),
    ];
    if (source.reason) children.push(el("p", { class: "reason", "data-field": "reason" }, [source.reason]));
    children.push(details, chart(source.changesPerSecond));
    return el("article", { class: "card", "data-source": source.name, "data-severity": source.severity,
      "aria-label": "Source " + source.name + ": " + source.state }, children);
  }

  function kafkaCard(kafka, inflight) {
    var details = el("dl");
    row(details, "Reachable", kafka.reachable ? "yes" : "no: " + (kafka.error || "no answer yet"), "reachable");
    row(details, "Circuit", kafka.circuit.replace("_", "-"), "circuit");
    row(details, "Produce errors", count(kafka.produceErrors.transient) + " transient, " +
      count(kafka.produceErrors.poison) + " poison", "errors");
    row(details, "In flight", count(inflight.messages) + " of " + count(inflight.maxMessages) +
      " messages, " + bytes(inflight.bytes) + " of " + bytes(inflight.maxBytes), "inflight");
    var word = kafka.severity === "ok" ? "ok" : !kafka.reachable ? "unreachable" : "circuit " + kafka.circuit.replace("_", "-");
    return el("article", { class: "card", id: "kafka", "data-severity": kafka.severity, "aria-label": "Kafka: " + word }, [
      el("div", { class: "card-head" }, [el("h3", {}, ["Kafka"]), badge(kafka.severity, word)]),
      details,
    ]);
  }

  function targetRows(targets) {
    return targets.map(function (target) {
      return el("tr", { "data-target": target.name }, [
        el("th", { scope: "row" }, [target.name]),
        el("td", { "data-field": "delivered" }, [count(target.delivered)]),
        el("td", { "data-field": "filtered" }, [count(target.filtered)]),
        el("td", { "data-field": "deadLettered" }, [count(target.deadLettered)]),
      ]);
    });
  }

  function setOverall(severity, text) {
    var overall = $("overall");
    var line = SYMBOL[severity] + " " + STATE_WORD[severity] + ": " + text;
    overall.setAttribute("data-severity", severity);
    // Only a change is announced to screen readers, not every refresh.
    if (overall.textContent !== line) overall.textContent = line;
  }

  function render(report) {
    lastReport = report;
    document.body.removeAttribute("data-stale");
    $("version").textContent = "version " + report.version;
    var healthy = report.severity === "ok";
    setOverall(report.severity, healthy
      ? "every source streams and Kafka answers"
      : report.problems.length + " problem" + (report.problems.length === 1 ? "" : "s"));
    $("problems").replaceChildren.apply($("problems"), report.problems.map(function (text) { return el("li", {}, [text]); }));
    var limits = { maxMessages: report.inflight.maxMessages, maxBytes: report.inflight.maxBytes };
    $("sources").replaceChildren.apply($("sources"), report.sources.map(function (s) { return sourceCard(s, limits); }));
    $("kafka-area").replaceChildren(kafkaCard(report.kafka, report.inflight));
    $("targets").replaceChildren.apply($("targets"), targetRows(report.targets));
    $("updated").textContent = "updated " + new Date(report.generatedAt).toLocaleTimeString();
    document.title = SYMBOL[report.severity] + " pg2kafka: " + STATE_WORD[report.severity];
  }

  function showStale(why) {
    document.body.setAttribute("data-stale", "");
    setOverall("unknown", why + (lastReport ? "; the figures below are the last known ones" : ""));
    document.title = "? pg2kafka: unknown";
  }

  function askForToken(message) {
    $("content").hidden = true;
    $("pause").hidden = true;
    $("login").hidden = false;
    $("login-message").textContent = message;
    setOverall("unknown", "a token is needed to read the status");
    $("token").focus();
  }

  async function refresh() {
    clearTimeout(timer);
    var headers = { accept: "application/json" };
    if (token) headers.authorization = "Bearer " + token;
    try {
      var response = await fetch(API, { headers: headers, cache: "no-store", credentials: "omit" });
      if (response.status === 401) {
        await response.body.cancel();
        if (token) sessionStorage.removeItem(TOKEN_KEY);
        askForToken(token ? "That token was refused. Enter the token of [http] token." : "");
        token = null;
        return;
      }
      if (!response.ok) throw new Error("the status endpoint answered " + response.status);
      $("login").hidden = true;
      $("content").hidden = false;
      $("pause").hidden = false;
      $("forget").hidden = !token;
      render(await response.json());
    } catch (error) {
      showStale("cannot read the status (" + (error && error.message || error) + ")");
    }
    if (!paused) timer = setTimeout(refresh, REFRESH_MS);
  }

  $("login").addEventListener("submit", function (event) {
    event.preventDefault();
    token = $("token").value.trim();
    $("token").value = "";
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    refresh();
  });
  $("forget").addEventListener("click", function () {
    sessionStorage.removeItem(TOKEN_KEY);
    token = null;
    refresh();
  });
  $("pause").addEventListener("click", function () {
    paused = !paused;
    this.setAttribute("aria-pressed", String(paused));
    this.textContent = paused ? "Resume updates" : "Pause updates";
    if (!paused) refresh(); else clearTimeout(timer);
  });
  refresh();
})();
`;

const BODY = `
<header>
  <h1>pg2kafka</h1>
  <span id="version" class="muted"></span>
  <span id="updated" class="muted"></span>
  <div class="controls">
    <button id="pause" type="button" aria-pressed="false">Pause updates</button>
    <button id="forget" type="button" hidden>Forget token</button>
  </div>
</header>
<main>
  <p id="overall" role="status" aria-live="polite" data-severity="unknown">? Unknown: loading the status</p>
  <noscript><p>This page needs JavaScript. The same report is at <code>${STATUS_API_PATH}</code>.</p></noscript>
  <form id="login" hidden>
    <h2>Token</h2>
    <p>The HTTP endpoints of this connector need a token (<code>[http] token</code>). It is kept
    for this tab only and sent as an <code>Authorization</code> header, never in the address.</p>
    <p id="login-message" role="alert"></p>
    <label for="token">Token</label><br>
    <input id="token" type="password" autocomplete="current-password" spellcheck="false" required>
    <button type="submit">Show status</button>
  </form>
  <div id="content">
    <ul id="problems" aria-label="Problems"></ul>
    <section aria-labelledby="sources-title">
      <h2 id="sources-title">Sources</h2>
      <div id="sources" class="grid"></div>
    </section>
    <section aria-labelledby="kafka-title">
      <h2 id="kafka-title">Kafka</h2>
      <div id="kafka-area" class="grid"></div>
    </section>
    <section aria-labelledby="targets-title">
      <h2 id="targets-title">Targets</h2>
      <div class="table-wrap">
        <table>
          <thead><tr><th scope="col">Target</th><th scope="col">Delivered</th>
          <th scope="col">Filtered</th><th scope="col">Dead-lettered</th></tr></thead>
          <tbody id="targets"></tbody>
        </table>
      </div>
    </section>
  </div>
</main>
`;

/** The whole document. */
export const STATUS_PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>pg2kafka</title>
<style>${STYLE}</style>
</head>
<body>${BODY}<script>${SCRIPT}</script>
</body>
</html>
`;

let headers: Promise<Record<string, string>> | null = null;

/**
 * The headers the page is served with: a Content Security Policy that admits
 * exactly the inline style and script above, and no framing, sniffing,
 * caching or referrer.
 */
export function statusPageHeaders(): Promise<Record<string, string>> {
  headers ??= (async () => {
    const csp = [
      "default-src 'none'",
      `script-src '${await sha256(SCRIPT)}'`,
      `style-src '${await sha256(STYLE)}'`,
      "connect-src 'self'",
      "form-action 'none'",
      "frame-ancestors 'none'",
      "base-uri 'none'",
    ].join("; ");
    return {
      "content-type": "text/html; charset=utf-8",
      "content-security-policy": csp,
      "x-content-type-options": "nosniff",
      "referrer-policy": "no-referrer",
      "cache-control": "no-store",
    };
  })();
  return headers;
}

async function sha256(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return `sha256-${btoa(String.fromCharCode(...new Uint8Array(digest)))}`;
}
