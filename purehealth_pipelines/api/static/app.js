// PureHealth dashboard: a map of Maharashtra's stations, a station panel, an alert feed, live over WebSocket.
// No framework and nothing fetched from outside: uPlot and the district boundaries are bundled at setup time.
// Live messages only change state; the DOM is updated at most every FLUSH_MS for the stations that changed,
// so 1,000 readings/s cost a few DOM writes per frame, not one per reading.
"use strict";

const FLUSH_MS = 250;
const CACHE_KEY = "purehealth.dashboard.v1";
const SAVE_MS = 5000;
const SEEN_MAX = 50000;
const FEED_MAX = 200;
const REPLAY_MARGIN_MS = 10000;
const PARAM_ORDER = ["do_mg_l", "ph", "temp_c", "ec_us_cm", "turbidity_ntu", "bod_mg_l", "fc_mpn_100ml"];
const RANGES = { "24h": ["raw", 1], "7d": ["hourly", 7], "1y": ["daily", 366] };
const WQI_CLASS = { A: "cA", B: "cB", C: "cC", "D/E": "cD", D: "cD", E: "cD" };

const state = {
  stations: new Map(), // id -> GeoJSON feature (properties.latest updated live)
  alerts: new Map(), // alert_id -> alert
  markers: new Map(), // id -> <circle>
  dirty: new Set(),
  feedDirty: false,
  selected: null,
  range: "24h",
  charts: [],
  seen: new Set(), // de-duplication keys of live/replayed messages
  seenRing: new Array(SEEN_MAX), // the keys in arrival order, overwritten in a ring: bounded memory
  seenNext: 0,
  ws: null,
  wsConfig: null,
  connected: false,
  everConnected: false,
  clockOffset: 0, // server clock - browser clock (ms), from the hello message
  lastServerTime: null, // server time (ms) up to which we have everything
  lastDataAt: null, // browser time of the newest data we hold
  retry: 500,
  stats: { readings: 0, duplicates: 0, domFlushes: 0, markerUpdates: 0, frames: 0, replays: 0, stationHealth: 0 },
};
window.__dashboard = state; // for the browser tests and the bench

const $ = (sel) => document.querySelector(sel);
const fmtTime = (t) => (t ? new Date(t).toLocaleString([], { dateStyle: "short", timeStyle: "short" }) : "—");
const fmtNum = (v) => (v === null || v === undefined ? "—" : Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(2));
const esc = (s) => String(s ?? "").replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);

// --- map ----------------------------------------------------------------------------------------------------
let projection = null;

function makeProjection(bbox) {
  const [minLon, minLat, maxLon, maxLat] = bbox;
  const k = Math.cos(((minLat + maxLat) / 2) * Math.PI / 180);
  const scale = 100;
  projection = {
    xy: (lon, lat) => [(lon - minLon) * k * scale, (maxLat - lat) * scale],
    viewBox: `-10 -10 ${(maxLon - minLon) * k * scale + 20} ${(maxLat - minLat) * scale + 20}`,
  };
}

function ringsPath(rings) {
  return rings.map((ring) => "M" + ring.map(([lon, lat]) => projection.xy(lon, lat).map((v) => v.toFixed(1)).join(",")).join("L") + "Z").join("");
}

function drawDistricts(collection) {
  const group = $("#districts");
  const parts = [];
  for (const f of collection.features) {
    const g = f.geometry;
    const polys = g.type === "Polygon" ? [g.coordinates] : g.coordinates;
    parts.push(`<path d="${polys.map(ringsPath).join("")}"><title>${esc(f.properties.district)}</title></path>`);
  }
  group.innerHTML = parts.join("");
}

function bboxOf(collection) {
  let b = [180, 90, -180, -90];
  const visit = (c) => {
    if (typeof c[0] === "number") { b = [Math.min(b[0], c[0]), Math.min(b[1], c[1]), Math.max(b[2], c[0]), Math.max(b[3], c[1])]; }
    else c.forEach(visit);
  };
  collection.features.forEach((f) => f.geometry && visit(f.geometry.coordinates));
  return b;
}

function markerClass(p) {
  const cls = [WQI_CLASS[p.wqi_class] || "cN", p.status === "live" ? "live" : p.status === "offline" ? "offline" : "lab"];
  if (p.location_approximate) cls.push("approx");
  if (state.selected === p.station_id) cls.push("sel");
  return cls.join(" ");
}

function drawStations() {
  const group = $("#stations");
  const ns = "http://www.w3.org/2000/svg";
  const fragment = document.createDocumentFragment();
  state.markers.clear();
  let unplaced = 0;
  // Drawing order (later = on top, clickable where markers overlap): approximate locations, then exact
  // lab-only ones, then live sensors.
  const rank = (p) => (p.location_approximate ? 0 : p.network === "IOT" ? 2 : 1);
  const features = [...state.stations.values()].sort((a, b) => rank(a.properties) - rank(b.properties));
  for (const f of features) {
    if (!f.geometry) { unplaced += 1; continue; }
    const [x, y] = projection.xy(...f.geometry.coordinates);
    const c = document.createElementNS(ns, "circle");
    c.setAttribute("cx", x.toFixed(1));
    c.setAttribute("cy", y.toFixed(1));
    c.setAttribute("r", f.properties.network === "IOT" ? 5 : 4);
    c.dataset.station = f.id;
    c.setAttribute("class", markerClass(f.properties));
    const title = document.createElementNS(ns, "title");
    c.appendChild(title);
    updateTitle(c, f.properties);
    fragment.appendChild(c);
    state.markers.set(f.id, c);
  }
  group.replaceChildren(fragment);
  const approx = features.filter((f) => f.geometry && f.properties.location_approximate).length;
  $("#map-note").textContent = `${state.markers.size} stations on the map (${approx} at approximate locations, drawn faded)` +
    (unplaced ? `; ${unplaced} without a known location` : "") + ".";
}

function updateTitle(marker, p) {
  marker.firstChild.textContent = `${p.name} (${p.station_id}) — ${p.status}` +
    (p.wqi_class ? `, WQI class ${p.wqi_class}` : "") + (p.location_approximate ? " — approximate location" : "");
}

// Stations a few km apart overlap at state scale: a click near several markers offers a short list.
$("#map").addEventListener("click", (event) => {
  const svg = $("#map");
  const point = svg.createSVGPoint();
  point.x = event.clientX;
  point.y = event.clientY;
  const at = point.matrixTransform(svg.getScreenCTM().inverse());
  const reach = 12 * (svg.viewBox.baseVal.width / svg.clientWidth); // ~12 px around the pointer
  const near = [];
  for (const [id, marker] of state.markers) {
    const d = Math.hypot(marker.cx.baseVal.value - at.x, marker.cy.baseVal.value - at.y);
    if (d <= reach) near.push([d, id]);
  }
  near.sort((a, b) => a[0] - b[0]);
  const picker = $("#picker");
  if (near.length === 1) { picker.hidden = true; selectStation(near[0][1]); return; }
  if (!near.length) { picker.hidden = true; return; }
  picker.innerHTML = `<p>${near.length} stations here:</p>` + near.slice(0, 12).map(([, id]) => {
    const p = state.stations.get(id).properties;
    return `<button data-station="${esc(id)}">${esc(p.name)} <small>${esc(p.status)}</small></button>`;
  }).join("");
  const pane = $("#map-pane").getBoundingClientRect();
  picker.style.left = `${Math.min(event.clientX - pane.left, pane.width - 230)}px`;
  picker.style.top = `${event.clientY - pane.top + 8}px`;
  picker.hidden = false;
});
$("#picker").addEventListener("click", (event) => {
  const button = event.target.closest("button");
  if (!button) return;
  $("#picker").hidden = true;
  selectStation(button.dataset.station);
});

// --- data loading and the offline cache -------------------------------------------------------------------
async function getJSON(url) {
  const response = await fetch(url, { headers: { Accept: "application/json" } });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.json();
}

function loadCache() {
  try {
    const cached = JSON.parse(localStorage.getItem(CACHE_KEY) || "null");
    if (!cached) return false;
    cached.stations.forEach((f) => state.stations.set(f.id, f));
    cached.alerts.forEach((a) => state.alerts.set(a.alert_id, a));
    state.lastDataAt = cached.lastDataAt;
    state.lastServerTime = cached.lastServerTime;
    return true;
  } catch (error) {
    return false;
  }
}

let saveTimer = null;
function scheduleSave() {
  if (saveTimer) return;
  saveTimer = setTimeout(() => {
    saveTimer = null;
    try {
      const alerts = [...state.alerts.values()].sort((a, b) => (b.updated_at || b.last_seen).localeCompare(a.updated_at || a.last_seen)).slice(0, FEED_MAX);
      localStorage.setItem(CACHE_KEY, JSON.stringify({
        savedAt: Date.now(), lastDataAt: state.lastDataAt, lastServerTime: state.lastServerTime,
        stations: [...state.stations.values()], alerts,
      }));
    } catch (error) { /* storage full or disabled: the page still works */ }
  }, SAVE_MS);
}

async function loadStations() {
  const body = await getJSON("/api/stations");
  state.stations.clear();
  body.features.forEach((f) => state.stations.set(f.id, f));
  state.lastDataAt = Date.now();
}

async function loadAlerts() {
  const body = await getJSON("/api/alerts?status=all&limit=100");
  body.alerts.forEach((a) => state.alerts.set(a.alert_id, a));
  state.feedDirty = true;
}

// --- live ------------------------------------------------------------------------------------------------
function remember(key) {
  if (state.seen.has(key)) { state.stats.duplicates += 1; return false; }
  state.seen.add(key);
  const slot = state.seenNext % SEEN_MAX;
  if (state.seenRing[slot] !== undefined) state.seen.delete(state.seenRing[slot]);
  state.seenRing[slot] = key;
  state.seenNext += 1;
  return true;
}

function onReading(m) {
  // The key's time is normalised: a live message carries the sensor's own ISO text ("…Z", "+05:30"), a
  // replayed one the database's rendering of the same instant.
  if (!remember(`r|${m.station_id}|${Date.parse(m.ts)}|${m.sensor_id ?? ""}`)) return;
  state.stats.readings += 1;
  const f = state.stations.get(m.station_id);
  if (!f) return;
  const p = f.properties;
  for (const [parameter, value] of Object.entries(m.values)) {
    const previous = p.latest[parameter];
    if (previous && Date.parse(previous.ts) > Date.parse(m.ts)) continue; // never older over newer
    p.latest[parameter] = { ts: m.ts, value, unit: previous ? previous.unit : "", source: "iot", qc_flag: 2, quality: "not evaluated", censored: null };
  }
  if (!p.last_reading_at || Date.parse(p.last_reading_at) < Date.parse(m.ts)) p.last_reading_at = m.ts;
  if (!m.replay && p.network === "IOT") p.status = "live";
  if (state.selected === m.station_id) pendingChartPoints.push(m);
  state.dirty.add(m.station_id);
}

function onAlert(a) {
  if (!remember(`a|${a.alert_id}|${a.status}|${Date.parse(a.last_seen)}|${a.resolved_at ? Date.parse(a.resolved_at) : ""}`)) return;
  const previous = state.alerts.get(a.alert_id);
  state.alerts.set(a.alert_id, { ...previous, ...a, updated_at: a.resolved_at || a.last_seen, fresh: !a.replay });
  const f = state.stations.get(a.station_id);
  if (f) {
    const open = [...state.alerts.values()].filter((x) => x.station_id === a.station_id && x.status === "open");
    f.properties.open_alerts = open.length;
    state.dirty.add(a.station_id);
  }
  state.feedDirty = true;
}

function onForecast(m) {
  if (!remember(`f|${m.station_id}|${m.parameter}|${Date.parse(m.issued_at)}`)) return;
  if (state.selected === m.station_id) {
    forecasts[m.parameter] = { issued_at: m.issued_at, horizons: m.horizons.map((h) => ({ horizon_h: h.h, ts: h.ts, p10: h.p10, p50: h.p50, p90: h.p90 })) };
    chartsDirty = true;
  }
}

function onStationHealth(m) {
  state.stats.stationHealth += 1;
  const f = state.stations.get(m.station_id);
  if (!f || f.properties.network !== "IOT") return;
  f.properties.status = m.status === "online" ? "live" : "offline";
  state.dirty.add(m.station_id);
}

function onMessage(m) {
  if (m.type === "reading") onReading(m);
  else if (m.type === "alert") onAlert(m);
  else if (m.type === "forecast") onForecast(m);
  else if (m.type === "station_health") onStationHealth(m);
  else if (m.type === "stations") (m.stations || []).forEach(onStationHealth);
}

function connect() {
  const cfg = state.wsConfig;
  if (!cfg || !cfg.ws_url) return;
  const url = `${cfg.ws_url}?token=${encodeURIComponent(cfg.token)}&stations=*`;
  let ws;
  try { ws = new WebSocket(url); } catch (error) { scheduleReconnect(); return; }
  state.ws = ws;
  ws.onmessage = (event) => {
    const data = JSON.parse(event.data);
    state.stats.frames += 1;
    if (Array.isArray(data)) {
      data.forEach(onMessage);
      state.lastDataAt = Date.now();
      state.lastServerTime = Date.now() + state.clockOffset;
      return;
    }
    if (data.type === "hello") {
      if (data.server_time) state.clockOffset = Date.parse(data.server_time) - Date.now();
      const reconnected = state.everConnected || state.lastServerTime;
      state.connected = true;
      state.everConnected = true;
      state.retry = 500;
      setConn("live", "live");
      ws.send(JSON.stringify({ action: "stations" }));
      if (reconnected && state.lastServerTime) {
        const since = new Date(state.lastServerTime - REPLAY_MARGIN_MS).toISOString();
        state.stats.replays += 1;
        ws.send(JSON.stringify({ action: "replay", since }));
      }
      state.lastServerTime = Date.now() + state.clockOffset;
    } else if (data.type === "replay_complete") {
      state.lastServerTime = Date.now() + state.clockOffset;
      scheduleSave();
    } else if (data.type === "stations") {
      onMessage(data);
    } else if (data.type === "station_health") {
      onStationHealth(data);
    }
  };
  ws.onclose = () => {
    if (state.ws !== ws) return;
    state.connected = false;
    setConn("reconnecting", "reconnecting…");
    scheduleReconnect();
  };
  ws.onerror = () => ws.close();
}

function scheduleReconnect() {
  setTimeout(async () => {
    try { state.wsConfig = await getJSON("/api/live"); } catch (error) { /* keep the last config */ }
    connect();
  }, state.retry);
  state.retry = Math.min(state.retry * 2, 10000);
}

function setConn(kind, text) {
  $("#conn").dataset.state = kind;
  $("#conn-text").textContent = text;
  renderStaleness();
}

function renderStaleness() {
  const banner = $("#offline-banner");
  if (state.connected && navigator.onLine) { banner.hidden = true; return; }
  const age = state.lastDataAt ? Math.round((Date.now() - state.lastDataAt) / 60000) : null;
  banner.hidden = false;
  banner.textContent = (navigator.onLine ? "Live updates interrupted — reconnecting. " : "Offline. ") +
    (state.lastDataAt ? `Showing data from ${fmtTime(state.lastDataAt)} (${age} min old).` : "No data yet.");
  banner.dataset.ageMinutes = age ?? "";
}
setInterval(renderStaleness, 10000);
window.addEventListener("online", renderStaleness);
window.addEventListener("offline", () => { setConn("offline", "offline"); });

// --- coalesced DOM updates -------------------------------------------------------------------------------
function flush() {
  if (state.dirty.size) {
    state.stats.domFlushes += 1;
    for (const id of state.dirty) {
      const marker = state.markers.get(id);
      const f = state.stations.get(id);
      if (!marker || !f) continue;
      state.stats.markerUpdates += 1;
      marker.setAttribute("class", markerClass(f.properties) + " pulse");
      updateTitle(marker, f.properties);
    }
    if (state.selected && state.dirty.has(state.selected)) renderLatest();
    state.dirty.clear();
    scheduleSave();
  }
  if (state.feedDirty) { renderFeed(); state.feedDirty = false; scheduleSave(); }
  if (pendingChartPoints.length || chartsDirty) appendChartPoints();
}
setInterval(flush, FLUSH_MS);

// --- alert feed ------------------------------------------------------------------------------------------
function alertItem(a, withStation) {
  const station = state.stations.get(a.station_id);
  const name = station ? station.properties.name : a.station_id;
  const when = a.status === "resolved" ? `resolved ${fmtTime(a.resolved_at)}` : `since ${fmtTime(a.first_seen)}`;
  return `<li data-alert-id="${a.alert_id}" data-status="${a.status}" class="${a.status}${a.fresh ? " new" : ""}">` +
    `<span class="sev ${esc(a.severity)}">${esc(a.severity)}</span>` +
    (withStation ? `<a href="#" data-station="${esc(a.station_id)}">${esc(name)}</a>: ` : "") +
    `<span class="msg">${esc(a.message)}</span> <span class="when">${esc(a.status)}, ${when}</span></li>`;
}

function sortedAlerts() {
  const key = (a) => a.updated_at || a.resolved_at || a.last_seen || "";
  return [...state.alerts.values()].sort((a, b) => key(b).localeCompare(key(a)));
}

function renderFeed() {
  const alerts = sortedAlerts();
  while (state.alerts.size > FEED_MAX * 2) state.alerts.delete(alerts.pop().alert_id);
  $("#feed").innerHTML = alerts.slice(0, FEED_MAX).map((a) => alertItem(a, true)).join("");
  alerts.forEach((a) => { a.fresh = false; });
  $("#feed-count").textContent = `${alerts.filter((a) => a.status === "open").length} open`;
  if (state.selected) renderPanelAlerts();
}

$("#feed").addEventListener("click", (event) => {
  const id = event.target.dataset && event.target.dataset.station;
  if (id) { event.preventDefault(); selectStation(id); }
});

// --- station panel ---------------------------------------------------------------------------------------
let forecasts = {};
let chartData = {}; // parameter -> {ts: [], value: []}
let pendingChartPoints = [];
let chartsDirty = false;

function selectStation(id) {
  const previous = state.selected && state.markers.get(state.selected);
  state.selected = id;
  if (previous) previous.classList.remove("sel");
  const marker = state.markers.get(id);
  if (marker) marker.classList.add("sel");
  const f = state.stations.get(id);
  if (!f) return;
  const p = f.properties;
  $("#panel").hidden = false;
  $("#panel").dataset.station = id;
  $("#p-name").textContent = p.name;
  $("#p-meta").textContent = [p.station_id, p.network, p.river, p.district, p.basin].filter(Boolean).join(" · ") + ` — ${p.status}`;
  $("#p-location").textContent = p.location_source === "unknown" ? "Location unknown." :
    `Location: ${p.location_source}${p.location_approximate ? ` (approximate, ±${p.location_uncertainty_km} km)` : ""} — ${p.location_detail || ""}`;
  $("#p-wqi").textContent = p.wqi !== null && p.wqi !== undefined ? `WQI ${p.wqi.toFixed(0)} (${p.wqi_label}), class ${p.wqi_class}; best use ${p.best_use_class ?? "—"} on ${fmtTime(p.wqi_day)}` : "No WQI yet.";
  renderLatest();
  renderPanelAlerts();
  loadCharts();
}

$("#panel-close").addEventListener("click", () => {
  $("#panel").hidden = true;
  const marker = state.markers.get(state.selected);
  if (marker) marker.classList.remove("sel");
  state.selected = null;
});

function renderLatest() {
  const p = state.stations.get(state.selected).properties;
  const params = Object.keys(p.latest).sort((a, b) => (PARAM_ORDER.indexOf(a) + 99) % 99 - (PARAM_ORDER.indexOf(b) + 99) % 99 || a.localeCompare(b));
  $("#p-latest tbody").innerHTML = params.map((name) => {
    const v = p.latest[name];
    return `<tr data-param="${esc(name)}"><td>${esc(name)}</td><td class="value">${v.censored ? esc(v.censored) : ""}${fmtNum(v.value)} ${esc(v.unit)}</td>` +
      `<td><span class="qc qc${v.qc_flag}" title="${esc(v.quality)}">${esc(v.quality)}</span></td><td class="when">${fmtTime(v.ts)}</td></tr>`;
  }).join("") || `<tr><td colspan="4">no readings</td></tr>`;
}

function renderPanelAlerts() {
  const open = sortedAlerts().filter((a) => a.station_id === state.selected && a.status === "open");
  $("#p-alerts").innerHTML = open.map((a) => alertItem(a, false)).join("") || "<li>none</li>";
}

$("#p-range").addEventListener("click", (event) => {
  const range = event.target.dataset && event.target.dataset.range;
  if (!range) return;
  state.range = range;
  document.querySelectorAll("#p-range button").forEach((b) => b.classList.toggle("on", b.dataset.range === range));
  loadCharts();
});

async function loadCharts() {
  const id = state.selected;
  const [resolution, days] = RANGES[state.range];
  const to = new Date(Date.now() + 60000);
  const from = new Date(to - days * 86400000);
  const holder = $("#p-charts");
  holder.dataset.loaded = "";
  try {
    const [series, fc, wqi] = await Promise.all([
      getJSON(`/api/stations/${encodeURIComponent(id)}/series?resolution=${resolution}&from=${from.toISOString()}&to=${to.toISOString()}`),
      getJSON(`/api/stations/${encodeURIComponent(id)}/forecasts`),
      getJSON(`/api/stations/${encodeURIComponent(id)}/wqi`),
    ]);
    if (id !== state.selected) return;
    forecasts = fc.forecasts;
    chartData = {};
    for (const [parameter, s] of Object.entries(series.series)) {
      chartData[parameter] = { unit: s.unit, ts: s.ts.map((t) => Date.parse(t) / 1000), value: resolution === "raw" ? s.value : s.mean };
    }
    drawCharts();
    drawWqi(wqi.days);
    holder.dataset.loaded = `${state.range}:${Object.keys(chartData).length}`;
  } catch (error) {
    holder.innerHTML = `<p class="when">Charts unavailable (${esc(error.message)}).</p>`;
    holder.dataset.loaded = "error";
  }
}

function chartWidth() { return Math.max(260, $("#panel").clientWidth - 24); }

function drawCharts() {
  state.charts.forEach((c) => c.destroy());
  state.charts = [];
  const holder = $("#p-charts");
  holder.innerHTML = "";
  const params = Object.keys(chartData).sort((a, b) => (PARAM_ORDER.indexOf(a) + 99) % 99 - (PARAM_ORDER.indexOf(b) + 99) % 99);
  for (const parameter of params) {
    const d = chartData[parameter];
    const fc = forecasts[parameter];
    const lastTs = d.ts.length ? d.ts[d.ts.length - 1] : 0;
    const ahead = fc ? fc.horizons.filter((h) => Date.parse(h.ts) / 1000 > lastTs) : [];
    const xs = [...d.ts, ...ahead.map((h) => Date.parse(h.ts) / 1000)];
    const pad = (arr, n, before) => (before ? [...new Array(n).fill(null), ...arr] : [...arr, ...new Array(n).fill(null)]);
    const data = [xs, pad(d.value, ahead.length, false),
      pad(ahead.map((h) => h.p10), d.ts.length, true), pad(ahead.map((h) => h.p50), d.ts.length, true), pad(ahead.map((h) => h.p90), d.ts.length, true)];
    const box = document.createElement("div");
    box.className = "chart";
    box.dataset.param = parameter;
    box.innerHTML = `<h4>${esc(parameter)} (${esc(d.unit)})${ahead.length ? " — forecast P10–P90 ahead" : ""}</h4>`;
    holder.appendChild(box);
    const chart = new uPlot({
      width: chartWidth(), height: 130, legend: { show: false },
      scales: { x: { time: true } },
      series: [{}, { stroke: "#0f6ea8", width: 1.5, spanGaps: false },
        { stroke: "rgba(230,126,34,.5)", width: 1 }, { stroke: "#e67e22", width: 1.5, dash: [4, 3] }, { stroke: "rgba(230,126,34,.5)", width: 1 }],
      bands: ahead.length ? [{ series: [4, 2], fill: "rgba(230,126,34,.18)" }] : [],
      axes: [{ size: 30 }, { size: 44 }],
    }, data, box);
    chart._parameter = parameter;
    chart._nPast = d.ts.length;
    state.charts.push(chart);
  }
  if (!params.length) holder.innerHTML = "<p class='when'>No series in this range.</p>";
}

let wqiChart = null;
function drawWqi(days) {
  const holder = $("#p-wqi-chart");
  if (wqiChart) { wqiChart.destroy(); wqiChart = null; }
  holder.innerHTML = "";
  const points = days.filter((d) => d.wqi !== null);
  if (!points.length) { holder.innerHTML = "<p class='when'>No WQI in the last year.</p>"; return; }
  wqiChart = new uPlot({ width: chartWidth(), height: 110, legend: { show: false }, scales: { y: { range: [0, 100] } },
    series: [{}, { stroke: "#1a9850", width: 1.5 }], axes: [{ size: 30 }, { size: 36 }] },
  [points.map((d) => Date.parse(d.day) / 1000), points.map((d) => d.wqi)], holder);
}

function appendChartPoints() {
  const points = pendingChartPoints;
  pendingChartPoints = [];
  if (chartsDirty) { chartsDirty = false; if (state.selected) drawCharts(); return; }
  if (state.range !== "24h" || !points.length) return;
  let changed = false;
  for (const m of points) {
    if (m.station_id !== state.selected) continue;
    const t = Date.parse(m.ts) / 1000;
    for (const [parameter, value] of Object.entries(m.values)) {
      const d = chartData[parameter];
      if (!d || (d.ts.length && t <= d.ts[d.ts.length - 1])) continue;
      d.ts.push(t);
      d.value.push(value);
      changed = true;
    }
  }
  if (changed) drawCharts();
}

// Alert emails and webhooks link to `/#station=<id>` (alerts/routing.py station_page): open that panel.
function openLinkedStation() {
  const id = new URLSearchParams(location.hash.slice(1)).get("station");
  if (id && state.stations.has(id)) selectStation(id);
}
window.addEventListener("hashchange", openLinkedStation);

// --- start -----------------------------------------------------------------------------------------------
async function start() {
  const started = performance.now();
  const fromCache = loadCache();
  let districts = null;
  try {
    districts = await getJSON("/static/vendor/maharashtra_districts.geojson");
  } catch (error) {
    $("#map-note").textContent = "District boundaries are missing (run `make dashboard-assets`).";
  }
  makeProjection(districts ? bboxOf(districts) : [72.6, 15.6, 80.9, 22.1]);
  $("#map").setAttribute("viewBox", projection.viewBox);
  if (districts) drawDistricts(districts);
  if (fromCache) { drawStations(); state.feedDirty = true; flush(); }
  try {
    await Promise.all([loadStations(), loadAlerts()]);
    drawStations();
    state.feedDirty = true;
    flush();
    openLinkedStation();
    scheduleSave();
  } catch (error) {
    state.connected = false;
    setConn("offline", "offline");
  }
  state.stats.firstPaintMs = performance.now() - started;
  document.body.dataset.ready = "1";
  try { state.wsConfig = await getJSON("/api/live"); } catch (error) { state.wsConfig = null; }
  if (state.wsConfig && state.wsConfig.ws_url) connect();
  else if (!state.wsConfig) setConn("offline", "offline");
  else setConn("offline", "no live feed configured");
  if ("serviceWorker" in navigator) navigator.serviceWorker.register("/sw.js").catch(() => {});
}
start();
