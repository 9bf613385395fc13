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
  markers: new Map(), // id -> {x, y (map units), style, pulse}: drawn on one canvas
  labels: [], // the station ids whose names are drawn (zoomed in)
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
  stats: { readings: 0, duplicates: 0, domFlushes: 0, markerUpdates: 0, frames: 0, replays: 0, stationHealth: 0, canvasDraws: 0, markersDrawn: 0 },
};
window.__dashboard = state; // for the browser tests and the bench

const $ = (sel) => document.querySelector(sel);
const fmtTime = (t) => (t ? new Date(t).toLocaleString([], { dateStyle: "short", timeStyle: "short" }) : "—");
const fmtNum = (v) => (v === null || v === undefined ? "—" : Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(2));
const esc = (s) => String(s ?? "").replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);

// --- map ----------------------------------------------------------------------------------------------------
// Districts are SVG paths (vector: sharp at any zoom). Stations are drawn on ONE canvas over them, not one DOM
// element each: 300 <circle>s with <title>s cost layout and style work at first paint and on every live
// update, a canvas redraw of 300 dots costs ~1 ms. Zoom and pan change the SVG's viewBox and redraw the
// canvas with the same mapping, so markers keep their pixel size (and gain labels) as the map is enlarged.
const ZOOM_MIN = 1;
const ZOOM_MAX = 40;
const LABEL_ZOOM = 3; // from this zoom on, station names are drawn beside their markers
const LABELS_MAX = 80; // ... unless more than this many are in view (then only the live sensors')
const STYLE = {
  fill: { cA: "#1a9850", cB: "#91cf60", cC: "#fee08b", cD: "#d73027", cN: "#b8c0c8" },
  ring: { live: ["#00bb55", 2.5, []], offline: ["#ee3333", 1.5, [2, 1.5]], lab: ["#555566", 1.5, []] },
};
let projection = null;
const view = { x0: 0, y0: 0, w: 1, h: 1, k: 1 }; // the visible part of the map, in map units; k = zoom
let base = null; // the whole map's box in map units
let canvas = null;
let drawQueued = false;
let keyboardAim = false; // the map is being driven from the keyboard: show the crosshair Enter picks under

function makeProjection(bbox) {
  const [minLon, minLat, maxLon, maxLat] = bbox;
  const k = Math.cos(((minLat + maxLat) / 2) * Math.PI / 180);
  const scale = 100;
  projection = { xy: (lon, lat) => [(lon - minLon) * k * scale, (maxLat - lat) * scale] };
  base = { x0: -10, y0: -10, w: (maxLon - minLon) * k * scale + 20, h: (maxLat - minLat) * scale + 20 };
  Object.assign(view, base, { k: 1 });
  $("#map").style.aspectRatio = `${base.w} / ${base.h}`;
  applyView();
}

// Path data in tenths of a map unit (~100 m), built with plain string concatenation: this runs for every
// vertex on the first paint's critical path.
function ringsPath(rings) {
  let d = "";
  for (const ring of rings) {
    let command = "M";
    for (const [lon, lat] of ring) {
      const [x, y] = projection.xy(lon, lat);
      d += command + Math.round(x * 10) / 10 + "," + Math.round(y * 10) / 10;
      command = "L";
    }
    d += "Z";
  }
  return d;
}

function drawDistricts(collection) {
  const parts = [];
  for (const f of collection.features) {
    const g = f.geometry;
    const polys = g.type === "Polygon" ? [g.coordinates] : g.coordinates;
    parts.push(`<path d="${polys.map(ringsPath).join("")}"><title>${esc(f.properties.district)}</title></path>`);
  }
  $("#districts").innerHTML = parts.join("");
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

// A marker: the station's projected point and how to draw it (recomputed when its properties change).
function markerStyle(p) {
  return {
    fill: STYLE.fill[WQI_CLASS[p.wqi_class] || "cN"],
    ring: STYLE.ring[p.status === "live" ? "live" : p.status === "offline" ? "offline" : "lab"],
    approx: Boolean(p.location_approximate),
    radius: p.network === "IOT" ? 5 : 4,
  };
}

function markerTitle(p) {
  return `${p.name} (${p.station_id}) — ${p.status}` + (p.wqi_class ? `, WQI class ${p.wqi_class}` : "") +
    (p.location_approximate ? " — approximate location" : "");
}

function buildMarkers() {
  state.markers.clear();
  let unplaced = 0;
  // Drawing order (later = on top, picked first where markers overlap): approximate locations, then exact
  // lab-only ones, then live sensors.
  const rank = (p) => (p.location_approximate ? 0 : p.network === "IOT" ? 2 : 1);
  const features = [...state.stations.values()].sort((a, b) => rank(a.properties) - rank(b.properties));
  for (const f of features) {
    if (!f.geometry) { unplaced += 1; continue; }
    const [x, y] = projection.xy(...f.geometry.coordinates);
    state.markers.set(f.id, { id: f.id, x, y, style: markerStyle(f.properties), pulse: 0 });
  }
  const approx = features.filter((f) => f.geometry && f.properties.location_approximate).length;
  $("#map-note").textContent = `${state.markers.size} stations on the map (${approx} at approximate locations, drawn faded)` +
    (unplaced ? `; ${unplaced} without a known location` : "") + ". Zoom: wheel, pinch, +/− or the keyboard (Enter opens the station under the crosshair).";
}

function drawStations() {
  buildMarkers();
  drawMarkers();
}

// Map units -> CSS pixels inside the map box, for the current view.
function toScreen(x, y) {
  const box = canvas.getBoundingClientRect();
  return [(x - view.x0) / view.w * box.width, (y - view.y0) / view.h * box.height];
}

function sizeCanvas() {
  const box = $("#map").getBoundingClientRect();
  const dpr = window.devicePixelRatio || 1;
  const w = Math.max(1, Math.round(box.width * dpr));
  const h = Math.max(1, Math.round(box.height * dpr));
  if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
  return [box.width, box.height, dpr];
}

function drawMarkers() {
  drawQueued = false;
  if (!canvas || !projection) return;
  const [cssW, cssH, dpr] = sizeCanvas();
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, cssW, cssH);
  const sx = cssW / view.w;
  const sy = cssH / view.h;
  const grow = Math.min(1.8, 1 + Math.log2(view.k) * 0.2); // a little larger when zoomed in
  const now = performance.now();
  const visible = [];
  for (const m of state.markers.values()) {
    const px = (m.x - view.x0) * sx;
    const py = (m.y - view.y0) * sy;
    if (px < -10 || py < -10 || px > cssW + 10 || py > cssH + 10) continue;
    m.px = px; m.py = py;
    visible.push(m);
    const s = m.style;
    const selected = state.selected === m.id;
    ctx.beginPath();
    ctx.arc(px, py, s.radius * grow, 0, 2 * Math.PI);
    ctx.globalAlpha = s.approx ? 0.45 : 1;
    ctx.fillStyle = s.fill;
    ctx.fill();
    ctx.globalAlpha = s.approx ? 0.6 : 1;
    const [color, width, dash] = selected ? ["#000000", 3.5, []] : s.ring;
    ctx.strokeStyle = color;
    ctx.lineWidth = width + (m.pulse > now ? 2 : 0);
    ctx.setLineDash(s.approx ? [1, 1] : dash);
    ctx.stroke();
  }
  ctx.globalAlpha = 1;
  ctx.setLineDash([]);
  state.stats.markersDrawn = visible.length;
  state.labels = view.k >= LABEL_ZOOM ? drawLabels(ctx, visible, cssW) : [];
  if (keyboardAim && document.activeElement === $("#map-pane")) {
    ctx.strokeStyle = "#0f6ea8";
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    ctx.arc(cssW / 2, cssH / 2, 12, 0, 2 * Math.PI);
    ctx.moveTo(cssW / 2 - 18, cssH / 2); ctx.lineTo(cssW / 2 + 18, cssH / 2);
    ctx.moveTo(cssW / 2, cssH / 2 - 18); ctx.lineTo(cssW / 2, cssH / 2 + 18);
    ctx.stroke();
  }
  state.stats.canvasDraws += 1;
}

// Names beside markers when zoomed in; a label that would overlap one already placed is left out.
function drawLabels(ctx, visible, cssW) {
  const pool = visible.length > LABELS_MAX ? visible.filter((m) => m.style.radius === 5) : visible;
  const placed = [];
  const drawn = [];
  ctx.font = "11px system-ui, sans-serif";
  ctx.textBaseline = "middle";
  ctx.lineWidth = 3;
  ctx.strokeStyle = "rgba(255,255,255,.9)";
  ctx.fillStyle = "#1d2733";
  for (const m of [...pool].reverse()) { // live sensors first (drawn last = most important)
    const p = state.stations.get(m.id).properties;
    const text = p.name.length > 28 ? p.name.slice(0, 27) + "…" : p.name;
    const w = ctx.measureText(text).width;
    let x = m.px + 8;
    if (x + w > cssW) x = m.px - 8 - w;
    const rect = [x - 1, m.py - 7, x + w + 1, m.py + 7];
    if (placed.some((r) => rect[0] < r[2] && rect[2] > r[0] && rect[1] < r[3] && rect[3] > r[1])) continue;
    placed.push(rect);
    ctx.strokeText(text, x, m.py);
    ctx.fillText(text, x, m.py);
    drawn.push(m.id);
  }
  return drawn;
}

function queueDraw() {
  if (drawQueued) return;
  drawQueued = true;
  requestAnimationFrame(drawMarkers);
}

function applyView() {
  $("#map").setAttribute("viewBox", `${view.x0} ${view.y0} ${view.w} ${view.h}`);
  $("#map-pane").dataset.zoom = view.k.toFixed(2);
  $("#zoom-level").textContent = `${view.k < 10 ? view.k.toFixed(1) : view.k.toFixed(0)}×`;
  queueDraw();
}

// Zoom by `factor` keeping the map point under (fx, fy) (fractions of the map box) where it is.
function zoomBy(factor, fx = 0.5, fy = 0.5) {
  const k = Math.min(ZOOM_MAX, Math.max(ZOOM_MIN, view.k * factor));
  const ax = view.x0 + fx * view.w;
  const ay = view.y0 + fy * view.h;
  view.k = k;
  view.w = base.w / k;
  view.h = base.h / k;
  view.x0 = ax - fx * view.w;
  view.y0 = ay - fy * view.h;
  clampView();
  applyView();
}

function panBy(dxFraction, dyFraction) {
  view.x0 += dxFraction * view.w;
  view.y0 += dyFraction * view.h;
  clampView();
  applyView();
}

function clampView() {
  view.x0 = Math.min(Math.max(view.x0, base.x0), base.x0 + base.w - view.w);
  view.y0 = Math.min(Math.max(view.y0, base.y0), base.y0 + base.h - view.h);
}

function resetView() { Object.assign(view, base, { k: 1 }); applyView(); }

function fractionOf(clientX, clientY) {
  const box = canvas.getBoundingClientRect();
  return [(clientX - box.left) / box.width, (clientY - box.top) / box.height];
}

// Stations a few km apart overlap at state scale: a click near several markers offers a short list (zooming
// in separates them).
function pick(clientX, clientY) {
  const box = canvas.getBoundingClientRect();
  const x = clientX - box.left;
  const y = clientY - box.top;
  const near = [];
  for (const [id, m] of state.markers) {
    const [px, py] = [(m.x - view.x0) / view.w * box.width, (m.y - view.y0) / view.h * box.height];
    const d = Math.hypot(px - x, py - y);
    if (d <= 12) near.push([d, id]);
  }
  near.sort((a, b) => a[0] - b[0]);
  const picker = $("#picker");
  if (near.length === 1) { picker.hidden = true; selectStation(near[0][1]); return; }
  if (!near.length) { picker.hidden = true; return; }
  picker.innerHTML = `<p>${near.length} stations here (zoom in to separate them):</p>` + near.slice(0, 12).map(([, id]) => {
    const p = state.stations.get(id).properties;
    return `<button data-station="${esc(id)}">${esc(p.name)} <small>${esc(p.status)}</small></button>`;
  }).join("");
  const pane = $("#map-pane").getBoundingClientRect();
  picker.style.left = `${Math.min(clientX - pane.left, pane.width - 230)}px`;
  picker.style.top = `${clientY - pane.top + 8}px`;
  picker.hidden = false;
}

function nearest(clientX, clientY, reach) {
  const box = canvas.getBoundingClientRect();
  let best = null;
  for (const [id, m] of state.markers) {
    const d = Math.hypot((m.x - view.x0) / view.w * box.width - (clientX - box.left), (m.y - view.y0) / view.h * box.height - (clientY - box.top));
    if (d <= reach && (!best || d < best[0])) best = [d, id];
  }
  return best && best[1];
}

function setupMapInput() {
  canvas = $("#stations-layer");
  const pane = $("#map-wrap");
  const pointers = new Map(); // pointerId -> [clientX, clientY]
  let gesture = null; // {moved, startX, startY, dist}
  pane.addEventListener("wheel", (event) => {
    event.preventDefault();
    const [fx, fy] = fractionOf(event.clientX, event.clientY);
    const delta = event.deltaMode === 1 ? event.deltaY * 16 : event.deltaY;
    zoomBy(Math.exp(-delta * 0.002), fx, fy);
  }, { passive: false });
  pane.addEventListener("pointerdown", (event) => {
    if (event.target.closest("#zoom")) return; // the buttons get their own clicks
    pointers.set(event.pointerId, [event.clientX, event.clientY]);
    pane.setPointerCapture(event.pointerId);
    if (pointers.size === 1) gesture = { moved: false, startX: event.clientX, startY: event.clientY, dist: 0 };
    else if (pointers.size === 2) {
      const [a, b] = [...pointers.values()];
      gesture = { moved: true, dist: Math.hypot(a[0] - b[0], a[1] - b[1]) };
    }
  });
  pane.addEventListener("pointermove", (event) => {
    if (!pointers.has(event.pointerId)) {
      const id = event.pointerType === "mouse" ? nearest(event.clientX, event.clientY, 8) : null;
      pane.style.cursor = id ? "pointer" : "grab";
      canvas.title = id ? markerTitle(state.stations.get(id).properties) : "";
      return;
    }
    const previous = pointers.get(event.pointerId);
    pointers.set(event.pointerId, [event.clientX, event.clientY]);
    if (pointers.size === 2 && gesture) {
      const [a, b] = [...pointers.values()];
      const dist = Math.hypot(a[0] - b[0], a[1] - b[1]);
      const [fx, fy] = fractionOf((a[0] + b[0]) / 2, (a[1] + b[1]) / 2);
      if (gesture.dist > 0) zoomBy(dist / gesture.dist, fx, fy);
      gesture.dist = dist;
    } else if (pointers.size === 1 && gesture) {
      if (!gesture.moved && Math.hypot(event.clientX - gesture.startX, event.clientY - gesture.startY) < 5) return;
      gesture.moved = true;
      const box = canvas.getBoundingClientRect();
      panBy(-(event.clientX - previous[0]) / box.width, -(event.clientY - previous[1]) / box.height);
    }
  });
  const release = (event) => {
    if (!pointers.delete(event.pointerId)) return;
    if (event.type === "pointerup" && pointers.size === 0 && gesture && !gesture.moved) pick(event.clientX, event.clientY);
    if (pointers.size === 0) gesture = null;
  };
  pane.addEventListener("pointerup", release);
  pane.addEventListener("pointercancel", release);
  $("#map-pane").addEventListener("keydown", (event) => {
    const actions = {
      "+": () => zoomBy(1.5), "=": () => zoomBy(1.5), "-": () => zoomBy(1 / 1.5), _: () => zoomBy(1 / 1.5),
      0: resetView, ArrowLeft: () => panBy(-0.1, 0), ArrowRight: () => panBy(0.1, 0),
      ArrowUp: () => panBy(0, -0.1), ArrowDown: () => panBy(0, 0.1),
    };
    if (event.key === "Escape") { $("#picker").hidden = true; $("#map-pane").focus(); return; }
    if (event.target !== $("#map-pane")) return; // keys on the zoom buttons or the picker are theirs
    // Keyboard picking: a crosshair marks the view's centre; Enter opens the station under it (or the list).
    const box = canvas.getBoundingClientRect();
    const pickCentre = () => {
      pick(box.left + box.width / 2, box.top + box.height / 2);
      const first = $("#picker button");
      if (!$("#picker").hidden && first) first.focus();
    };
    const action = event.key === "Enter" ? pickCentre : actions[event.key];
    if (!action) return;
    event.preventDefault();
    keyboardAim = true;
    action();
    queueDraw();
  });
  $("#map-pane").addEventListener("blur", () => { if (keyboardAim) queueDraw(); });
  pane.addEventListener("pointerdown", () => { keyboardAim = false; });
  $("#zoom-in").addEventListener("click", () => zoomBy(1.5));
  $("#zoom-out").addEventListener("click", () => zoomBy(1 / 1.5));
  $("#zoom-reset").addEventListener("click", resetView);
  new ResizeObserver(queueDraw).observe($("#map"));
}

// For the browser tests and the bench: where a station's marker is on the screen (client coordinates).
state.markerAt = (id) => {
  const m = state.markers.get(id);
  if (!m || !canvas) return null;
  const box = canvas.getBoundingClientRect();
  const [x, y] = toScreen(m.x, m.y);
  return { x: box.left + x, y: box.top + y, inView: x >= 0 && y >= 0 && x <= box.width && y <= box.height };
};

$("#picker").addEventListener("click", (event) => {
  const button = event.target.closest("button");
  if (!button) return;
  $("#picker").hidden = true;
  selectStation(button.dataset.station);
});

// --- data loading and the offline cache -------------------------------------------------------------------
async function getJSON(url) {
  const response = await fetch(url); // no custom header: the page's <link rel=preload> requests must match
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

async function loadStations(pending) {
  const body = await (pending || getJSON("/api/stations"));
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
  // A ticket opens one connection (single-use, a minute to live): every reconnect fetches a fresh one first.
  const url = `${cfg.ws_url}?token=${encodeURIComponent(cfg.ticket)}&stations=*`;
  cfg.ticket = null;
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
let pulseRedraw = null;
function flush() {
  if (state.dirty.size) {
    clearTimeout(pulseRedraw);
    state.stats.domFlushes += 1;
    const until = performance.now() + 800; // a changed marker's ring is drawn thicker for 0.8 s
    for (const id of state.dirty) {
      const marker = state.markers.get(id);
      const f = state.stations.get(id);
      if (!marker || !f) continue;
      state.stats.markerUpdates += 1;
      marker.style = markerStyle(f.properties);
      marker.pulse = until;
    }
    queueDraw(); // one canvas redraw for every station that changed in this window
    pulseRedraw = setTimeout(queueDraw, 850);
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

// The feed's <li>s are kept by alert and version and reused: a flush that brings one new alert creates one
// element and moves the others, rather than re-creating all 200 (no garbage DOM at five alerts a second).
const feedItems = new Map(); // `${alert_id}|${status}|${updated_at}` -> <li>
function renderFeed() {
  const alerts = sortedAlerts();
  while (state.alerts.size > FEED_MAX * 2) state.alerts.delete(alerts.pop().alert_id);
  const shown = alerts.slice(0, FEED_MAX);
  const keep = new Map();
  const nodes = shown.map((a) => {
    const key = `${a.alert_id}|${a.status}|${a.updated_at || a.last_seen}`;
    let li = feedItems.get(key);
    if (!li) {
      const holder = document.createElement("ul");
      holder.innerHTML = alertItem(a, true);
      li = holder.firstChild;
    }
    keep.set(key, li);
    return li;
  });
  feedItems.clear();
  keep.forEach((li, key) => feedItems.set(key, li));
  // Reconcile in place: new alerts are inserted before the ones already shown, which stay where they are (a
  // moved element would replay its "new" flash); what fell off the end is removed.
  const feed = $("#feed");
  let cursor = feed.firstChild;
  for (const li of nodes) {
    if (li === cursor) { cursor = cursor.nextSibling; continue; }
    feed.insertBefore(li, cursor);
  }
  while (cursor) { const next = cursor.nextSibling; cursor.remove(); cursor = next; }
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
  state.selected = id;
  queueDraw();
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
  state.selected = null;
  queueDraw();
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

// uPlot (51 kB) is needed only once a station is opened: it is loaded after the map's first paint (idle
// time) or on the first click, whichever comes first, so it never delays the map.
let uPlotLoading = null;
function loadUPlot() {
  if (window.uPlot) return Promise.resolve();
  if (!uPlotLoading) {
    uPlotLoading = new Promise((resolve, reject) => {
      const css = document.createElement("link");
      css.rel = "stylesheet";
      css.href = "/static/vendor/uPlot.min.css";
      document.head.appendChild(css);
      const script = document.createElement("script");
      script.src = "/static/vendor/uPlot.iife.min.js";
      script.onload = resolve;
      script.onerror = () => { uPlotLoading = null; reject(new Error("chart library unavailable")); };
      document.head.appendChild(script);
    });
  }
  return uPlotLoading;
}

async function loadCharts() {
  const id = state.selected;
  const [resolution, days] = RANGES[state.range];
  const to = new Date(Date.now() + 60000);
  const from = new Date(to - days * 86400000);
  const holder = $("#p-charts");
  holder.dataset.loaded = "";
  try {
    const [series, fc, wqi] = await Promise.all([
      loadUPlot().then(() => null),
      getJSON(`/api/stations/${encodeURIComponent(id)}/series?resolution=${resolution}&from=${from.toISOString()}&to=${to.toISOString()}`),
      getJSON(`/api/stations/${encodeURIComponent(id)}/forecasts`),
      getJSON(`/api/stations/${encodeURIComponent(id)}/wqi`),
    ]).then((all) => all.slice(1));
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
// The map's first paint waits only for what the map needs: the district outlines (cacheable, preloaded by
// index.html) and the stations (preloaded too), fetched in parallel. The alert feed, the live connection and
// the chart library come after it. performance marks: "districts", "stations", "first-map-paint" (the bench
// reads them; times from navigation start).
function nextPaint() {
  return new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
}

async function start() {
  setupMapInput();
  const districtsReq = getJSON("/static/vendor/maharashtra_districts.map.geojson")
    .then((d) => { performance.mark("districts"); return d; });
  const stationsReq = getJSON("/api/stations").then((b) => { performance.mark("stations"); return b; });
  stationsReq.catch(() => {}); // handled below; not an unhandled rejection while districts load
  const fromCache = loadCache();
  let districts = null;
  try {
    districts = await districtsReq;
  } catch (error) {
    $("#map-note").textContent = "District boundaries are missing (run `make dashboard-assets`).";
  }
  makeProjection(districts ? bboxOf(districts) : [72.6, 15.6, 80.9, 22.1]);
  if (districts) drawDistricts(districts);
  if (fromCache) drawStations();
  let online = true;
  try {
    await loadStations(stationsReq);
    drawStations();
    openLinkedStation(); // alert emails link to /#station=<id>
  } catch (error) {
    online = false;
    state.connected = false;
    setConn("offline", "offline");
  }
  await nextPaint();
  performance.mark("first-map-paint");
  state.stats.firstPaintMs = performance.getEntriesByName("first-map-paint")[0].startTime;
  document.body.dataset.ready = "1";
  // After the first paint: the feed (cached copy first), the live feed, the chart library, offline support.
  if (fromCache) state.feedDirty = true;
  if (online) {
    try { await loadAlerts(); scheduleSave(); } catch (error) { /* the cached feed stays */ }
  }
  flush();
  try { state.wsConfig = await getJSON("/api/live"); } catch (error) { state.wsConfig = null; }
  if (state.wsConfig && state.wsConfig.ws_url) connect();
  else if (!state.wsConfig) setConn("offline", "offline");
  else setConn("offline", "no live feed configured");
  (window.requestIdleCallback || setTimeout)(() => loadUPlot().catch(() => {}));
  if ("serviceWorker" in navigator) navigator.serviceWorker.register("/sw.js").catch(() => {});
}
start();
