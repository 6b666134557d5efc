// The rtprelay dashboard: polls the native JSON API (docs/protocol.md,
// part 3.1) every second and draws the streams, their subscribers, the
// totals and one bitrate chart per stream. Data reaches the DOM only as
// text (textContent, setAttribute), never as markup.
"use strict";

(() => {
  const POLL_MS = 1000;
  const WINDOW_MS = 5 * 60 * 1000;
  const TOKEN_KEY = "rtprelay.adminToken";
  const DASH = "\u2013";
  const SVG_NS = "http://www.w3.org/2000/svg";
  const CHART_W = 240;
  const CHART_H = 48;

  // Stream table columns: field name and the label shown on narrow screens.
  const COLUMNS = [
    ["liveId", "Stream"],
    ["live", "Live"],
    ["publisher", "Publisher"],
    ["bitrate", "Bitrate 1/3/10 s"],
    ["chart", "Bitrate history"],
    ["packetsIn", "Packets in"],
    ["lost", "Lost"],
    ["recovered", "Recovered"],
    ["delay", "Delay"],
    ["subscribers", "Subscribers"],
    ["actions", ""],
  ];
  const SUBSCRIBER_COLUMNS = [
    ["address", "Address"],
    ["acked", "Acked"],
    ["packetsSent", "Packets sent"],
    ["retransmitted", "Retransmitted"],
    ["reportedLoss", "Reported loss"],
    ["reportedJitter", "Jitter"],
  ];

  const state = {
    paused: false,
    waitingForToken: false,
    inFlight: false,
    timer: null,
    rows: new Map(), // liveId -> DOM of its rows
    history: new Map(), // liveId -> [{t, v}] of the 1 s bitrate
  };

  const byId = (id) => document.getElementById(id);

  // ---- formatting: every figure is a number or the dash, never "null" ----

  const isNum = (v) => typeof v === "number" && Number.isFinite(v);
  const fmtInt = (v) => (isNum(v) ? Math.round(v).toLocaleString("en-US") : DASH);
  const fmtText = (v) => (typeof v === "string" && v !== "" ? v : DASH);
  const fmtMs = (v) => (isNum(v) ? `${v < 10 ? v.toFixed(1) : Math.round(v)} ms` : DASH);
  const fmtPct = (v) => (isNum(v) ? `${(v * 100).toFixed(1)} %` : DASH);

  function fmtBits(v) {
    if (!isNum(v)) return DASH;
    const units = ["b/s", "kb/s", "Mb/s", "Gb/s"];
    let x = v;
    let i = 0;
    while (x >= 1000 && i < units.length - 1) {
      x /= 1000;
      i += 1;
    }
    const digits = i === 0 ? 0 : x < 10 ? 2 : x < 100 ? 1 : 0;
    return `${x.toFixed(digits)} ${units[i]}`;
  }

  // The smallest 1, 2 or 5 times a power of ten at or above v.
  function niceCeil(v) {
    const p = 10 ** Math.floor(Math.log10(v));
    for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }

  // ---- DOM helpers ----

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    for (const c of children) node.append(c);
    return node;
  }

  function svg(tag, attrs) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    return node;
  }

  function setStatus(text, kind) {
    const s = byId("status");
    s.textContent = text;
    s.className = `status ${kind || ""}`;
  }

  function showMessage(text, isError) {
    const m = byId("action-message");
    m.textContent = text;
    m.className = `message ${isError ? "error" : "ok"}`;
    m.hidden = false;
  }

  // ---- the API, with the admin token when one was given ----

  class ApiFailure extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  function storedToken() {
    try {
      return sessionStorage.getItem(TOKEN_KEY);
    } catch {
      return null;
    }
  }

  async function api(method, path, body) {
    const headers = {};
    const token = storedToken();
    if (token) headers.Authorization = `Bearer ${token}`;
    const init = { method, headers, cache: "no-store", credentials: "omit" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (e) {
      throw new ApiFailure(0, "network", "the relay does not answer");
    }
    let data = null;
    if ((response.headers.get("Content-Type") || "").includes("application/json")) {
      try {
        data = await response.json();
      } catch {
        data = null;
      }
    }
    if (response.ok) return data;
    const error = data && typeof data.error === "object" && data.error !== null ? data.error : {};
    const code = typeof error.code === "string" ? error.code : `http_${response.status}`;
    const message = typeof error.message === "string" ? error.message : `HTTP ${response.status}`;
    if (response.status === 401) askToken("This relay has an admin token. It is kept in this tab only.");
    if (response.status === 403 && code === "forbidden") askToken("That token was refused: try again.");
    throw new ApiFailure(response.status, code, message);
  }

  function askToken(why) {
    try {
      sessionStorage.removeItem(TOKEN_KEY);
    } catch {
      // Storage refused: the token is asked again on the next 401.
    }
    if (state.waitingForToken) return;
    state.waitingForToken = true;
    byId("token-message").textContent = why;
    byId("token-panel").hidden = false;
    byId("token-input").focus();
    setStatus("waiting for the admin token", "warn");
  }

  function tokenGiven(event) {
    event.preventDefault();
    const input = byId("token-input");
    const token = input.value.trim();
    if (token === "") return;
    try {
      sessionStorage.setItem(TOKEN_KEY, token);
    } catch {
      showMessage("This browser refused to keep the token.", true);
      return;
    }
    input.value = "";
    byId("token-panel").hidden = true;
    state.waitingForToken = false;
    refreshSoon();
  }

  // ---- polling ----

  function schedule(delay) {
    if (state.timer !== null || state.inFlight || state.paused || state.waitingForToken) return;
    state.timer = setTimeout(tick, delay);
  }

  function refreshSoon() {
    if (state.timer !== null) clearTimeout(state.timer);
    state.timer = null;
    schedule(0);
  }

  async function tick() {
    state.timer = null;
    if (state.paused || state.waitingForToken) return;
    state.inFlight = true;
    try {
      await refresh();
      if (!state.paused) setStatus(`live \u00b7 updated ${new Date().toLocaleTimeString()}`, "ok");
    } catch (e) {
      if (!state.waitingForToken) setStatus(`${e.message}; retrying`, "error");
    } finally {
      state.inFlight = false;
    }
    schedule(POLL_MS);
  }

  function togglePause() {
    state.paused = !state.paused;
    const button = byId("pause");
    button.textContent = state.paused ? "Resume" : "Pause";
    button.setAttribute("aria-pressed", String(state.paused));
    if (state.paused) {
      if (state.timer !== null) clearTimeout(state.timer);
      state.timer = null;
      setStatus("paused", "warn");
    } else {
      refreshSoon();
    }
  }

  async function refresh() {
    const [list, clientList] = await Promise.all([api("GET", "/api/streams"), api("GET", "/api/clients")]);
    const streams = list && Array.isArray(list.streams) ? list.streams : [];
    const clients = clientList && Array.isArray(clientList.clients) ? clientList.clients : [];
    const details = new Map();
    const withSubscribers = streams.filter((s) => isNum(s.subscribers) && s.subscribers > 0);
    await Promise.all(
      withSubscribers.map(async (s) => {
        try {
          const d = await api("GET", `/api/streams/${encodeURIComponent(s.liveId)}`);
          details.set(s.liveId, d && Array.isArray(d.subscribers) ? d.subscribers : []);
        } catch (e) {
          if (e.status !== 404) throw e; // revoked between the two calls
        }
      }),
    );
    render(streams, clients, details, Date.now());
  }

  // ---- rendering ----

  function render(streams, clients, details, now) {
    // Each client's subscriptions, by stream and address.
    const subscriptions = new Map();
    for (const c of clients) {
      for (const sub of Array.isArray(c.subscriptions) ? c.subscriptions : []) {
        if (!subscriptions.has(sub.liveId)) subscriptions.set(sub.liveId, new Map());
        subscriptions.get(sub.liveId).set(c.address, sub);
      }
    }
    const tbody = byId("stream-rows");
    let at = 0;
    const place = (node) => {
      const current = tbody.children[at] || null;
      if (current !== node) tbody.insertBefore(node, current);
      at += 1;
    };
    const seen = new Set();
    for (const s of streams) {
      if (typeof s.liveId !== "string") continue;
      seen.add(s.liveId);
      const row = rowFor(s.liveId);
      record(s.liveId, now, s.bitrateBps ? s.bitrateBps["1s"] : null);
      updateStream(row, s, now);
      updateSubscribers(row, details.get(s.liveId) || [], subscriptions.get(s.liveId) || new Map());
      place(row.main);
      place(row.subs);
    }
    for (const [liveId, row] of state.rows) {
      if (seen.has(liveId)) continue;
      row.main.remove();
      row.subs.remove();
      state.rows.delete(liveId);
      state.history.delete(liveId);
    }
    byId("no-streams").hidden = seen.size > 0;
    updateTotals(streams, clients);
  }

  function updateTotals(streams, clients) {
    const sum = (f) => streams.reduce((acc, s) => acc + (isNum(f(s)) ? f(s) : 0), 0);
    const live = streams.filter((s) => s.live === true).length;
    const totals = {
      live: `${live} of ${streams.length}`,
      bitrate: fmtBits(sum((s) => (s.bitrateBps ? s.bitrateBps["1s"] : 0))),
      packetsIn: fmtInt(sum((s) => s.packetsIn)),
      lost: fmtInt(sum((s) => s.lost)),
      recovered: fmtInt(sum((s) => s.recovered)),
      subscribers: fmtInt(sum((s) => s.subscribers)),
      clients: fmtInt(clients.length),
    };
    for (const node of document.querySelectorAll("[data-total]")) {
      node.textContent = totals[node.dataset.total] || DASH;
    }
  }

  function rowFor(liveId) {
    const existing = state.rows.get(liveId);
    if (existing) return existing;
    const main = el("tr", { class: "stream", "data-live-id": liveId });
    const cells = {};
    for (const [field, label] of COLUMNS) {
      cells[field] = el("td", { "data-field": field, "data-label": label });
      main.append(cells[field]);
    }
    cells.liveId.append(el("strong", {}, liveId));
    const chart = makeChart(liveId);
    cells.chart.append(chart.box);
    const stop = el("button", { type: "button", class: "stop" }, "Stop");
    stop.addEventListener("click", () => stopStream(liveId));
    const revoke = el("button", { type: "button", class: "revoke danger" }, "Revoke");
    revoke.addEventListener("click", () => revokeStream(liveId));
    cells.actions.append(stop, revoke);

    const subsBody = el("tbody", {});
    const head = el("tr", {}, ...SUBSCRIBER_COLUMNS.map(([, label]) => el("th", { scope: "col" }, label)));
    const table = el("table", { class: "subscribers" }, el("thead", {}, head), subsBody);
    const caption = el("p", { class: "subs-title" }, `Subscribers of ${liveId}`);
    const subs = el(
      "tr",
      { class: "subs", "data-subscribers-of": liveId, hidden: "" },
      el("td", { colspan: String(COLUMNS.length) }, caption, table),
    );
    const row = { main, cells, chart, stop, subs, subsBody };
    state.rows.set(liveId, row);
    return row;
  }

  function updateStream(row, s, now) {
    const c = row.cells;
    const live = s.live === true;
    row.main.classList.toggle("off", !live);
    c.live.replaceChildren(el("span", { class: `badge ${live ? "on" : ""}` }, live ? "live" : "off"));
    c.publisher.textContent = fmtText(s.publisher);
    const b = s.bitrateBps || {};
    c.bitrate.textContent = `${fmtBits(b["1s"])} / ${fmtBits(b["3s"])} / ${fmtBits(b["10s"])}`;
    c.packetsIn.textContent = fmtInt(s.packetsIn);
    c.lost.textContent = fmtInt(s.lost);
    c.recovered.textContent = fmtInt(s.recovered);
    // The measured round trip, else the delay a legacy publisher posts.
    c.delay.textContent = fmtMs(isNum(s.delayMs) ? s.delayMs : s.reportedDelayMs);
    c.subscribers.textContent = fmtInt(s.subscribers);
    row.stop.disabled = !live;
    drawChart(row.chart, state.history.get(s.liveId) || [], now);
  }

  // One line per subscriber: those the stream lists (acknowledged, with
  // packet counts), then clients that asked but have not acknowledged yet.
  function updateSubscribers(row, listed, subscriptions) {
    const lines = [];
    const shown = new Set();
    for (const sub of listed) {
      shown.add(sub.address);
      lines.push({ address: sub.address, sent: sub.packetsSent, again: sub.retransmitted, sub: subscriptions.get(sub.address) });
    }
    for (const [address, sub] of subscriptions) {
      if (!shown.has(address)) lines.push({ address, sent: 0, again: 0, sub });
    }
    row.subs.hidden = lines.length === 0;
    row.subsBody.replaceChildren(
      ...lines.map((line) => {
        const sub = line.sub || {};
        const acked = line.sub ? sub.acked === true : true;
        // Receiver reports first, else what a legacy client posts to
        // packageLoss (its 10 s loss ratio and total lost).
        const posted = sub.packageLoss || {};
        const rr = isNum(sub.reportedLoss);
        const ratio = rr ? sub.reportedLoss : posted.lossScale10;
        const total = rr ? sub.reportedLostTotal : posted.lossTotal;
        const lossTotal = isNum(total) ? ` (${fmtInt(total)})` : "";
        const loss = isNum(ratio) ? `${fmtPct(ratio)}${lossTotal}` : DASH;
        const values = {
          address: fmtText(line.address),
          acked: acked ? "yes" : "not yet",
          packetsSent: fmtInt(line.sent),
          retransmitted: fmtInt(line.again),
          reportedLoss: loss,
          reportedJitter: fmtMs(sub.reportedJitter),
        };
        const tr = el("tr", { "data-address": fmtText(line.address) });
        for (const [field, label] of SUBSCRIBER_COLUMNS) {
          tr.append(el("td", { "data-field": field, "data-label": label }, values[field]));
        }
        return tr;
      }),
    );
  }

  // ---- charts: the 1 s bitrate over the last minutes, hand-drawn ----

  function record(liveId, now, bps) {
    if (!state.history.has(liveId)) state.history.set(liveId, []);
    const samples = state.history.get(liveId);
    samples.push({ t: now, v: isNum(bps) ? bps : 0 });
    while (samples.length > 0 && samples[0].t < now - WINDOW_MS) samples.shift();
  }

  function makeChart(liveId) {
    const root = svg("svg", {
      viewBox: `0 0 ${CHART_W} ${CHART_H}`,
      preserveAspectRatio: "none",
      class: "chart",
      role: "img",
      "aria-label": `bitrate of ${liveId} over the last minutes`,
    });
    const mid = svg("line", { x1: 0, y1: CHART_H / 2, x2: CHART_W, y2: CHART_H / 2, class: "grid" });
    const area = svg("path", { d: "", class: "area" });
    const line = svg("path", { d: "", class: "line" });
    root.append(mid, area, line);
    const peak = el("span", { class: "peak" }, DASH);
    const span = el("span", { class: "span" }, DASH);
    const box = el("div", { class: "chart-box" }, root, el("div", { class: "chart-legend" }, peak, span));
    return { box, area, line, peak, span };
  }

  // The x axis spans the samples kept (from 10 s up to five minutes), so a
  // page opened a moment ago already draws a full-width line.
  function drawChart(chart, samples, now) {
    const top = niceCeil(Math.max(1000, ...samples.map((p) => p.v)));
    const oldest = samples.length > 0 ? samples[0].t : now;
    const span = Math.min(WINDOW_MS, Math.max(10 * 1000, now - oldest));
    const xy = (p) => {
      const x = CHART_W - ((now - p.t) / span) * CHART_W;
      const y = CHART_H - 1 - (p.v / top) * (CHART_H - 2);
      return [x.toFixed(1), y.toFixed(1)];
    };
    // A gap in the samples (paused, relay silent) breaks the line.
    const segments = [];
    let previous = null;
    for (const p of samples) {
      if (previous === null || p.t - previous > 3 * POLL_MS + 1000) segments.push([]);
      segments[segments.length - 1].push(xy(p));
      previous = p.t;
    }
    let line = "";
    let area = "";
    for (const points of segments) {
      if (points.length === 1) points.unshift([(Number(points[0][0]) - 2).toFixed(1), points[0][1]]);
      line += `M${points.map(([x, y]) => `${x} ${y}`).join(" L")} `;
      const first = points[0][0];
      const last = points[points.length - 1][0];
      area += `M${first} ${CHART_H} L${points.map(([x, y]) => `${x} ${y}`).join(" L")} L${last} ${CHART_H} Z `;
    }
    chart.line.setAttribute("d", line.trim());
    chart.area.setAttribute("d", area.trim());
    chart.peak.textContent = `scale ${fmtBits(top).replace(/\.0+ /, " ")}`;
    const seconds = Math.round(span / 1000);
    chart.span.textContent = seconds < 120 ? `last ${seconds} s` : `last ${Math.round(seconds / 60)} min`;
  }

  // ---- operator actions ----

  async function stopStream(liveId) {
    if (!window.confirm(`Stop stream ${liveId}? Its subscribers are told it stopped; the publisher may start again.`)) {
      return;
    }
    try {
      await api("POST", `/api/streams/${encodeURIComponent(liveId)}/stop`);
      showMessage(`Stopped ${liveId}.`, false);
    } catch (e) {
      showMessage(`Could not stop ${liveId}: ${e.message}.`, true);
    }
    refreshSoon();
  }

  async function revokeStream(liveId) {
    const question = `Revoke ${liveId}? Its code stops working for good and a live stream stops.`;
    if (!window.confirm(question)) return;
    try {
      await api("DELETE", `/api/streams/${encodeURIComponent(liveId)}`);
      showMessage(`Revoked ${liveId}.`, false);
    } catch (e) {
      showMessage(`Could not revoke ${liveId}: ${e.message}.`, true);
    }
    refreshSoon();
  }

  async function createStream(event) {
    event.preventDefault();
    const input = byId("create-id");
    const liveId = input.value.trim();
    try {
      const created = await api("POST", "/api/streams", liveId === "" ? {} : { liveId });
      byId("created-id").textContent = fmtText(created && created.liveId);
      byId("created-code").textContent = fmtText(created && created.liveCode);
      byId("created").hidden = false;
      byId("action-message").hidden = true;
      input.value = "";
    } catch (e) {
      showMessage(`Could not create credentials: ${e.message}.`, true);
    }
    refreshSoon();
  }

  function createdDone() {
    byId("created-id").textContent = "";
    byId("created-code").textContent = "";
    byId("created").hidden = true;
  }

  document.addEventListener("DOMContentLoaded", () => {
    byId("pause").addEventListener("click", togglePause);
    byId("token-form").addEventListener("submit", tokenGiven);
    byId("create-form").addEventListener("submit", createStream);
    byId("created-done").addEventListener("click", createdDone);
    schedule(0);
  });
})();
