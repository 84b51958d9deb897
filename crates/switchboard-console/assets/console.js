// Switchboard console: polls /api for pools, connections and activity,
// and reads /api/events (Server-Sent Events) for the live stream.
//
// Everything shown comes from the server as data and is written with
// textContent, never as markup: SQL text and labels cannot become HTML.
// The stream is read with fetch rather than EventSource so that it can
// carry the bearer token; it resumes with Last-Event-ID after a drop.
"use strict";

const MAX_ROWS = 500;          // event rows kept on the page
const POLL_MS = 1000;          // pools and connections
const ACTIVITY_MS = 2000;      // charts, denials, slowest, leaks
const RETRY_MS = 2000;         // after a stream ends

const $ = (sel) => document.querySelector(sel);

const state = {
  token: null,
  pools: [],
  actions: false,
  lastId: "0",       // "0": ask for everything the ring holds
  paused: false,
  held: [],          // rows received while paused
  pending: [],       // rows to add at the next flush
  shown: 0,
  stream: null,      // AbortController of the current stream
  filter: "",
};

// ---- helpers ---------------------------------------------------------

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function row(cells, cls) {
  const tr = el("tr", null, cls);
  for (const c of cells) {
    if (c instanceof Node) tr.appendChild(c);
    else tr.appendChild(el("td", c));
  }
  return tr;
}

function td(text, cls) { return el("td", text, cls); }
function fill(tbody, rows) { tbody.replaceChildren(...rows); }

function duration(ns) {
  if (ns === undefined || ns === null) return "";
  if (ns < 1e3) return ns + " ns";
  if (ns < 1e6) return (ns / 1e3).toFixed(1) + " µs";
  if (ns < 1e9) return (ns / 1e6).toFixed(1) + " ms";
  if (ns < 60e9) return (ns / 1e9).toFixed(2) + " s";
  return (ns / 60e9).toFixed(1) + " min";
}

function clock(at) {
  if (!at) return "";
  const d = new Date(at);
  return isNaN(d) ? String(at) : d.toISOString().slice(11, 23);
}

function labels(l) {
  if (!l) return "";
  return Object.entries(l).map(([k, v]) => k + "=" + v).join(" ");
}

function headers(extra) {
  const h = Object.assign({}, extra || {});
  if (state.token) h["Authorization"] = "Bearer " + state.token;
  return h;
}

async function api(path, options) {
  const opts = Object.assign({}, options || {});
  opts.headers = headers(opts.headers);
  const res = await fetch(path, opts);
  if (res.status === 401) {
    askForToken();
    throw new Error("a bearer token is needed");
  }
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body.error || res.statusText);
  return body;
}

function askForToken() { $("#token-form").hidden = false; live(false, "token needed"); }

function live(up, text) {
  const b = $("#live");
  b.textContent = text;
  b.className = "badge " + (up ? "live" : "down");
}

// ---- pools and connections -------------------------------------------

async function pollPools() {
  try {
    const pools = await api("/api/pools");
    renderPools(pools);
    $("#updated").textContent = "updated " + new Date().toLocaleTimeString();
  } catch (e) {
    $("#updated").textContent = String(e.message || e);
  }
}

function renderPools(pools) {
  const poolRows = [];
  const connRows = [];
  for (const p of pools) {
    if (p.error) {
      poolRows.push(row([p.pool, td(p.error, "error")]));
      continue;
    }
    poolRows.push(row([td(p.pool), td(p.backend),
      ...[p.open, p.idle, p.busy, p.waiting, p.connecting, p.min, p.max].map((n) => td(n, "num"))],
      "pool-row"));
    for (const c of p.connections) {
      const cur = c.current;
      connRows.push(row([
        td(p.pool), td(c.id, "num"), td(c.state, "state-" + c.state),
        td(duration(c.age_ns), "num"), td(c.statements, "num"), td(c.failures, "num"),
        td(cur ? cur.sql : "", "sql"),
        td(cur ? duration(cur.running_for_ns) : (c.lent_for_ns ? "lent " + duration(c.lent_for_ns) : ""), "num"),
        td(labels(c.holder)),
        td(c.last_error ? c.last_error.kind + ": " + c.last_error.message : "", "error"),
      ], "conn-row"));
    }
  }
  fill($("#pools tbody"), poolRows);
  fill($("#connections tbody"), connRows);
}

// ---- activity: charts and lists --------------------------------------

async function pollActivity() {
  for (const name of state.pools) {
    try {
      const a = await api("/api/pools/" + encodeURIComponent(name) + "/activity");
      renderActivity(a);
    } catch (e) {
      // The next poll tries again; the pools table shows what is wrong.
    }
  }
}

const activities = new Map();

function renderActivity(a) {
  activities.set(a.pool, a);
  renderCharts(a);
  const all = [...activities.values()];
  const denials = all.flatMap((x) => x.denials.map((d) => Object.assign({ pool: x.pool }, d)))
    .sort((x, y) => (x.at < y.at ? 1 : -1)).slice(0, 50);
  fill($("#denials tbody"), denials.map((d) => row([
    td(clock(d.at)), td(d.pool), td(d.guard),
    td((d.shadow ? "(shadow) " : "") + d.reason), td(d.sql || "", "sql"),
  ], d.shadow ? "denial shadow" : "denial")));
  const slowest = all.flatMap((x) => x.slowest.map((s) => Object.assign({ pool: x.pool }, s)))
    .sort((x, y) => y.took_ns - x.took_ns).slice(0, 10);
  fill($("#slowest tbody"), slowest.map((s) => row([
    td(duration(s.took_ns), "num"), td(s.pool), td(s.connection, "num"),
    td((s.failed ? "(failed) " : "") + (s.sql || "q" + s.query_id), "sql"), td(labels(s.labels)),
  ])));
  const leaks = all.flatMap((x) => x.leaks.map((l) => Object.assign({ pool: x.pool }, l)))
    .sort((x, y) => (x.at < y.at ? 1 : -1)).slice(0, 20);
  fill($("#leaks tbody"), leaks.map((l) => row([
    td(clock(l.at)), td(l.pool), td(l.connection, "num"), td(duration(l.held_ns), "num"), td(labels(l.labels)),
  ])));
}

const SVG = "http://www.w3.org/2000/svg";

function svgEl(tag, attrs) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  return e;
}

// One line chart of several series, drawn by hand: W×H user units
// (stretched to the box), scaled to the largest value; the top line is
// that value, written beside the title (text in a stretched SVG would be
// distorted).
function lineChart(series) {
  const W = 600, H = 120, PAD = 14;
  const svg = svgEl("svg", { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none" });
  let max = 0;
  for (const s of series) for (const v of s.values) if (v !== null && v > max) max = v;
  const top = max > 0 ? max : 1;
  svg.appendChild(svgEl("line", { x1: 0, y1: H - 1, x2: W, y2: H - 1, class: "grid" }));
  svg.appendChild(svgEl("line", { x1: 0, y1: PAD, x2: W, y2: PAD, class: "grid" }));
  for (const s of series) {
    const n = s.values.length;
    if (n < 2) continue;
    let d = "";
    let pen = false;
    s.values.forEach((v, i) => {
      if (v === null) { pen = false; return; }
      const x = (i / (n - 1)) * W;
      const y = H - 1 - (v / top) * (H - 1 - PAD);
      d += (pen ? "L" : "M") + x.toFixed(1) + " " + y.toFixed(1) + " ";
      pen = true;
    });
    if (d) svg.appendChild(svgEl("path", { d, class: s.cls }));
  }
  return svg;
}

function chartBox(id, title, legend) {
  let box = document.getElementById(id);
  if (!box) {
    box = el("div", null, "chart");
    box.id = id;
    const h = el("h3", title);
    h.appendChild(el("span", "", "top"));
    box.appendChild(h);
    const lg = el("div", null, "legend");
    for (const [cls, text] of legend) lg.appendChild(el("span", "— " + text, cls));
    box.appendChild(lg);
    box.appendChild(svgEl("svg", {}));
    $("#charts").appendChild(box);
  }
  return box;
}

function maxOf(seriesList) {
  let max = 0;
  for (const values of seriesList) for (const v of values) if (v !== null && v > max) max = v;
  return max;
}

function draw(box, series, top) {
  box.querySelector(".top").textContent = "top line " + top;
  box.replaceChild(lineChart(series), box.lastChild);
}

function renderCharts(a) {
  const s = a.series;
  const key = a.pool.replace(/[^A-Za-z0-9_-]/g, "_");
  const minutes = Math.round(s.ok.length / 60);
  const rate = chartBox("chart-rate-" + key, a.pool + ": statements/s by outcome, last " + minutes + " min",
    [["ok", "ok"], ["error", "error"], ["denied", "denied"]]);
  draw(rate, [
    { values: s.ok, cls: "ok" }, { values: s.error, cls: "error" }, { values: s.denied, cls: "denied" },
  ], maxOf([s.ok, s.error, s.denied]) + "/s");
  const wait = chartBox("chart-wait-" + key, a.pool + ": checkout wait p99, last " + minutes + " min",
    [["wait", "p99"]]);
  draw(wait, [{ values: s.checkout_wait_p99_s, cls: "wait" }],
    duration(maxOf([s.checkout_wait_p99_s]) * 1e9));
}

// ---- rules engines and actions ---------------------------------------

function renderRules(rules) {
  fill($("#rules tbody"), rules.map((r) => {
    const cell = el("td");
    if (state.actions) {
      const toggle = el("button", r.read_only ? "read-only off" : "read-only on");
      toggle.type = "button";
      toggle.addEventListener("click", () => act(r.name, "read-only", { on: !r.read_only }));
      cell.appendChild(toggle);
      if (r.reloadable) {
        const reload = el("button", "reload file");
        reload.type = "button";
        reload.addEventListener("click", () => act(r.name, "reload", null));
        cell.appendChild(reload);
      }
    } else {
      cell.textContent = "off";
      cell.className = "muted";
    }
    return row([td(r.name), td(r.rules, "num"), td(r.read_only ? "on" : "off"), cell]);
  }));
}

async function act(name, action, body) {
  const out = $("#action-result");
  try {
    const res = await api("/api/rules/" + encodeURIComponent(name) + "/" + action, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: body ? JSON.stringify(body) : "",
    });
    out.textContent = name + ": " + action + " " + (res.outcome || "done");
  } catch (e) {
    out.textContent = name + ": " + action + " failed: " + (e.message || e);
  }
  loadConsole();
}

async function loadConsole() {
  try {
    const c = await api("/api/console");
    state.pools = c.pools;
    state.actions = c.actions;
    const select = $("#filters select[name=pool]");
    if (select.options.length === 1) {
      for (const p of c.pools) select.appendChild(el("option", p));
    }
    renderRules(c.rules);
    return true;
  } catch (e) {
    return false;
  }
}

// ---- the event stream --------------------------------------------------

function detail(e) {
  switch (e.kind) {
    case "Connecting": return e.target + " attempt " + e.attempt;
    case "Connected": return e.server_version + " in " + duration(e.took_ns);
    case "ConnectFailed": return "attempt " + e.attempt + " " + e.error.kind + ": " + e.error.message;
    case "CheckedOut": return "waited " + duration(e.waited_ns);
    case "CheckedIn": return "held " + duration(e.held_ns);
    case "Executing": return "q" + e.query_id + " [" + e.class + "] " + e.sql +
      (e.params && e.params.length ? " (" + e.params.length + " params)" : "");
    case "Executed": return "q" + e.query_id + " took " + duration(e.took_ns) +
      (e.rows !== null && e.rows !== undefined ? " rows=" + e.rows : "");
    case "ExecuteFailed": return "q" + e.query_id + " " + e.error.kind + ": " + e.error.message;
    case "Denied": return "by " + e.guard + ": " + e.reason;
    case "ShadowDenied": return "(shadow) by " + e.guard + ": " + e.reason;
    case "Rewritten": return "q" + e.query_id + " by " + e.guard + " to: " + e.sql;
    case "TxBegin": case "TxCommit": case "TxRollback": return "depth " + e.depth;
    case "Invalidated": return e.error.kind + ": " + e.error.message;
    case "Closing": return "reason " + e.reason;
    case "Closed": return "after " + duration(e.lifetime_ns) + ", " + e.statements + " statements";
    case "Lagged": return e.dropped + " events dropped before the console saw them";
    case "LeakSuspected": return "lent out for " + duration(e.held_ns);
    default: return JSON.stringify(e);
  }
}

function eventRow(id, e) {
  return row([td(id, "num"), td(clock(e.at)), td(e.pool), td(e.connection ?? "", "num"),
    td(e.kind), td(detail(e), e.kind === "Executing" || e.kind === "Rewritten" ? "sql" : ""),
    td(labels(e.labels))], "event kind-" + e.kind);
}

function noticeRow(text, cls) {
  return row([td(""), td(clock(new Date().toISOString())), td(""), td(""), td("notice"), td(text), td("")],
    "notice " + (cls || ""));
}

function onFrame(type, id, data) {
  let tr;
  if (type === "message") {
    const e = JSON.parse(data);
    tr = eventRow(id, e);
  } else if (type === "action") {
    const a = JSON.parse(data);
    const error = a.error || (a.verify && a.verify.error);
    tr = row([td(id, "num"), td(clock(a.at)), td(a.pool || ""), td(""), td("Action"),
      td(a.action + " on " + (a.audit || a.pool || a.rules) + ": " + a.outcome + (error ? " (" + error + ")" : "") +
        (a.read_only !== undefined ? " read_only=" + a.read_only : "")), td("")], "kind-Action");
    loadConsole();
  } else if (type === "skipped") {
    const s = JSON.parse(data);
    tr = noticeRow(s.skipped + " frequent events of " + s.pool + " not streamed (over the stream rate)");
  } else if (type === "gap") {
    const g = JSON.parse(data);
    tr = noticeRow(g.missed + " events were forgotten while disconnected (" + g.from + "–" + g.to + ")");
  } else if (type === "reset") tr = noticeRow("the console restarted");
  else if (type === "dropped") tr = noticeRow("this page fell behind and was dropped; resuming");
  else return;
  if (id) state.lastId = id;
  (state.paused ? state.held : state.pending).push(tr);
  if (state.held.length > MAX_ROWS) state.held.splice(0, state.held.length - MAX_ROWS);
}

function flush() {
  if (state.pending.length === 0) return;
  const body = $("#events tbody");
  const rows = state.pending.splice(0).reverse();
  body.prepend(...rows.slice(0, MAX_ROWS));
  state.shown += rows.length;
  while (body.rows.length > MAX_ROWS) body.deleteRow(-1);
  $("#event-count").textContent = "(" + state.shown + " received" + (state.paused ? ", paused" : "") + ")";
}

// Parses one SSE block ("field: value" lines) and hands it to onFrame.
function parseBlock(block) {
  let type = "message", id = null, data = [];
  for (const line of block.split("\n")) {
    if (line === "" || line.startsWith(":")) continue;
    const i = line.indexOf(":");
    const field = i < 0 ? line : line.slice(0, i);
    let value = i < 0 ? "" : line.slice(i + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") type = value;
    else if (field === "id") id = value;
    else if (field === "data") data.push(value);
  }
  if (data.length) onFrame(type, id, data.join("\n"));
}

async function stream() {
  const controller = new AbortController();
  state.stream = controller;
  try {
    const res = await fetch("/api/events" + state.filter, {
      headers: headers({ "Last-Event-ID": state.lastId, "Accept": "text/event-stream" }),
      signal: controller.signal,
    });
    if (res.status === 401) { askForToken(); return; }
    if (res.status === 400) {
      const body = await res.json().catch(() => ({}));
      $("#filter-error").textContent = body.error || "bad filter";
      return;
    }
    if (!res.ok) throw new Error("status " + res.status);
    $("#filter-error").textContent = "";
    live(true, "live");
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buf.indexOf("\n\n")) >= 0) {
        parseBlock(buf.slice(0, cut));
        buf = buf.slice(cut + 2);
      }
    }
  } catch (e) {
    if (controller.signal.aborted) return;
  }
  if (state.stream !== controller) return;
  live(false, "reconnecting…");
  setTimeout(() => { if (state.stream === controller) stream(); }, RETRY_MS);
}

function restartStream() {
  if (state.stream) state.stream.abort();
  state.stream = null;
  state.lastId = "0";
  state.pending = [];
  state.held = [];
  state.shown = 0;
  $("#events tbody").replaceChildren();
  stream();
}

function applyFilters(ev) {
  ev.preventDefault();
  const form = new FormData($("#filters"));
  const q = new URLSearchParams();
  for (const [k, v] of form.entries()) if (String(v).trim() !== "") q.append(k, String(v).trim());
  state.filter = q.toString() ? "?" + q.toString() : "";
  restartStream();
}

function togglePause() {
  state.paused = !state.paused;
  $("#pause").textContent = state.paused ? "Resume" : "Pause";
  if (!state.paused) {
    state.pending.push(...state.held.splice(0));
    flush();
  }
}

// ---- start ---------------------------------------------------------------

function start() {
  const hash = new URLSearchParams(location.hash.slice(1));
  if (hash.get("token")) {
    sessionStorage.setItem("switchboard-console-token", hash.get("token"));
    history.replaceState(null, "", location.pathname + location.search);
  }
  state.token = sessionStorage.getItem("switchboard-console-token");
  $("#token-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    state.token = $("#token").value.trim() || null;
    if (state.token) sessionStorage.setItem("switchboard-console-token", state.token);
    $("#token-form").hidden = true;
    boot();
  });
  $("#filters").addEventListener("submit", applyFilters);
  $("#pause").addEventListener("click", togglePause);
  setInterval(flush, 200);
  setInterval(pollPools, POLL_MS);
  setInterval(pollActivity, ACTIVITY_MS);
  boot();
}

async function boot() {
  if (!(await loadConsole())) return;
  pollPools();
  pollActivity();
  restartStream();
}

start();
