// The big screen: KPI tiles, district map with incidents/units/heat, theme panels, live incident feed.
"use strict";

const params = new URLSearchParams(location.search);
const token = params.get("token") || sessionStorage.getItem("cityops_screen_token") || "";
if (params.get("token")) sessionStorage.setItem("cityops_screen_token", token);
if (params.get("lang")) LANG = params.get("lang");

const store = new Store();
const seen = new Set();           // incident ids already shown in the feed (to flash new ones)
let base = null;                  // the server's base map figure
let mapLayout = null;
let zoomed = null;                // district id when zoomed in
let nowAt = { ts: null, wall: 0 };
const FEED_ITEMS = 24;
const PLOT_CONFIG = { displayModeBar: false, responsive: true, scrollZoom: true, topojsonURL: "/topojson/" };

window.cityops = { store, firstPaint: null, errors: [] };

function renderKpis() {
  const k = store.kpis;
  if (!k) return;
  const set = (id, html) => { document.querySelector("#" + id + " .value").innerHTML = html; };
  set("k-online", `${k.sensors_online}<small> / ${k.sensors_known}</small>`);
  set("k-silent", `${k.sensors_silent}`);
  set("k-rps", `${Math.round(k.readings_per_s).toLocaleString()}`);
  for (const p of ["1", "2", "3", "4"]) document.getElementById("p" + p).textContent = k.open_by_priority[p];
  document.getElementById("ptotal").textContent = k.open_total;
  set("k-mtta", fmtDuration(k.mtta_s));
  set("k-mttd", fmtDuration(k.mttd_s));
  set("k-sla", `${k.sla_breaches_open}<small> / ${k.sla_breaches_today}</small>`);
  document.getElementById("k-sla").classList.toggle("alarm", k.sla_breaches_open > 0);
  document.getElementById("k-silent").classList.toggle("alarm", k.sensors_known > 0 && k.sensors_silent / k.sensors_known > 0.2);
  nowAt = { ts: k.now, wall: Date.now() };
}

function feedItem(inc) {
  const fresh = !seen.has(inc.incident_id) && seen.size > 0 ? " fresh" : "";
  seen.add(inc.incident_id);
  const breach = inc.sla_breaches.length ? `<span class="badge breach">SLA ${esc(inc.sla_breaches.join(","))}</span>` : "";
  return `<li class="inc${fresh}" data-incident-id="${esc(inc.incident_id)}" style="border-left-color:${SEVERITY_COLORS[inc.severity]}">
    <div class="row1"><span class="prio" style="background:${SEVERITY_COLORS[inc.severity]}">P${inc.priority}</span>
    <span class="cat">${esc(catLabel(inc.category))}</span><span class="where">${esc(districtName(inc.district))} · ${esc(inc.cell)}</span>
    <span class="badge st-${inc.status}">${esc(statusLabel(inc.status))}</span>${breach}<span class="time num">${fmtTime(inc.opened_at)}</span></div>
    <div class="why">${esc(inc.why)}</div><div class="ev">${esc(evidenceSummary(inc))}</div></li>`;
}

function renderFeed() {
  const all = [...store.incidents.values()].sort((a, b) => b.updated_at - a.updated_at);
  const flood = store.flood && store.flood.active ? store.flood : null;
  const bar = document.getElementById("flood");
  let html = "";
  let grouped = new Set();
  if (flood) {
    bar.textContent = t("flood").replace("{n}", flood.count);
    bar.classList.remove("hidden");
    for (const g of flood.groups.slice(0, 8)) {
      g.incident_ids.forEach((i) => grouped.add(i));
      html += `<li class="group" data-group="${esc(g.category)}:${esc(g.district)}" style="border-left-color:${SEVERITY_COLORS[g.max_severity]}">
        <div class="row1"><span class="cat">${esc(catLabel(g.category))}</span><span class="where">${esc(districtName(g.district))}</span>
        <span class="count num">×${g.count}</span></div></li>`;
    }
  } else {
    bar.classList.add("hidden");
  }
  let n = 0;
  for (const inc of all) {
    if (n >= FEED_ITEMS) break;
    if (grouped.has(inc.incident_id)) { seen.add(inc.incident_id); continue; }
    html += feedItem(inc);
    n++;
  }
  all.forEach((i) => seen.add(i.incident_id));
  document.getElementById("feed").innerHTML = html;
  document.getElementById("feed-count").textContent = store.kpis ? store.kpis.incidents_today : "";
}

function mapTraces() {
  const ids = base.data[0].locations;
  const counts = ids.map((d) => (store.districts[d] ? store.districts[d].open : 0));
  const choro = Object.assign({}, base.data[0], {
    z: counts, zmax: Math.max(3, ...counts),
    text: ids.map((d, i) => `${districtName(d)}: ${counts[i]}`),
    colorscale: [[0, "#13233a"], [0.5, "#3a2a3f"], [1, "#6a2430"]],
  });
  const heat = store.heat || [];
  const hmax = Math.max(1, ...heat.map((h) => h.value));
  const heatTrace = {
    type: "scattergeo", mode: "markers", lon: heat.map((h) => h.lon), lat: heat.map((h) => h.lat), hoverinfo: "skip",
    marker: { size: heat.map((h) => 6 + 18 * Math.sqrt(h.value / hmax)), color: "rgba(255,138,61,0.22)", line: { width: 0 } },
  };
  const units = [...store.units.values()].filter((u) => u.lat != null);
  const unitColor = { available: "#3ddc84", en_route: "#4fc3f7", on_scene: "#b455ff", returning: "#7f8fa6", out_of_service: "#44546a" };
  const unitTrace = {
    type: "scattergeo", mode: "markers", lon: units.map((u) => u.lon), lat: units.map((u) => u.lat),
    text: units.map((u) => `${u.name} · ${u.status}`), hoverinfo: "text",
    marker: { symbol: "square", size: 5, color: units.map((u) => unitColor[u.status] || "#7f8fa6"), line: { width: 0 } },
  };
  const open = [...store.incidents.values()].filter((i) => !TERMINAL.has(i.status));
  const incTrace = {
    type: "scattergeo", mode: "markers", lon: open.map((i) => i.lon), lat: open.map((i) => i.lat),
    text: open.map((i) => `P${i.priority} ${catLabel(i.category)} · ${statusLabel(i.status)}`), hoverinfo: "text",
    marker: {
      size: open.map((i) => 8 + (5 - i.priority) * 3),
      color: open.map((i) => SEVERITY_COLORS[i.severity]),
      symbol: open.map((i) => (i.status === "new" ? "circle" : i.status === "acknowledged" ? "circle-dot" : "diamond")),
      opacity: open.map((i) => (i.status === "new" ? 1 : 0.8)),
      line: { width: open.map((i) => (i.sla_breaches.length ? 3 : 1)), color: open.map((i) => (i.sla_breaches.length ? "#ffffff" : "#070d17")) },
    },
  };
  return [choro, heatTrace, unitTrace, incTrace];
}

function renderMap() {
  if (!base || !window.Plotly || !mapLayout) return;
  Plotly.react("map", mapTraces(), mapLayout, PLOT_CONFIG);
}

function zoomTo(did) {
  const b = did ? base.meta.bounds[did] : base.meta.city_bounds;
  const padX = (b[2] - b[0]) * 0.08, padY = (b[3] - b[1]) * 0.08;
  zoomed = did;
  mapLayout.geo.lonaxis = { range: [b[0] - padX, b[2] + padX] };
  mapLayout.geo.lataxis = { range: [b[1] - padY, b[3] + padY] };
  mapLayout.geo.center = { lon: (b[0] + b[2]) / 2, lat: (b[1] + b[3]) / 2 };
  mapLayout.geo.projection.scale = 1;
  mapLayout.uirevision = "zoom-" + (did || "city") + Date.now();
  document.getElementById("zoom-out").classList.toggle("hidden", !did);
  document.getElementById("map-title").textContent = did ? districtName(did) : t("city");
  renderMap();
}

const PANEL_IDS = ["water", "air", "traffic", "safety", "hotline"];
function renderPanels() {
  if (!store.panels || !window.Plotly) return;
  const figs = store.panels[LANG] || store.panels.zh;
  for (const name of PANEL_IDS) {
    const f = figs[name];
    if (f) Plotly.react("fig-" + name, f.data, f.layout, PLOT_CONFIG);
  }
}

function renderClock() {
  if (nowAt.ts == null) return;
  const ts = nowAt.ts + (Date.now() - nowAt.wall) / 1000;
  const d = new Date(ts * 1000);
  document.getElementById("clock").textContent = d.toLocaleString(LANG === "zh" ? "zh-CN" : "en-GB", { hour12: false, timeZone: "Asia/Shanghai" });
}

const feedSoon = throttle(renderFeed, 100);
const mapSoon = throttle(renderMap, 400);
const panelsSoon = throttle(renderPanels, 1000);

function renderAll() {
  renderKpis(); renderFeed(); renderMap(); renderPanels(); renderClock();
}

async function main() {
  applyI18n();
  window.addEventListener("error", (e) => window.cityops.errors.push(String(e.message)));
  document.getElementById("lang").onclick = () => setLang(LANG === "zh" ? "en" : "zh", renderAll);
  // Connect first: KPIs and the feed paint from the snapshot while plotly (compiled off the main
  // thread as an async script) and the map load.
  const mapReady = fetch("/api/map.json").then((r) => r.json());
  const plotlyReady = loadPlotly();
  const live = new Live({
    token, store,
    onStatus: (on) => { document.getElementById("conn").classList.toggle("on", on); document.getElementById("conn").title = t(on ? "connected" : "reconnecting"); },
    onSnapshot: () => {
      renderAll();
      if (window.cityops.firstPaint == null) window.cityops.firstPaint = performance.now();
    },
    onDeltas: (kinds) => {
      if (kinds.has("incident") || kinds.has("flood")) feedSoon();
      if (kinds.has("kpis")) renderKpis();
      if (kinds.has("incident") || kinds.has("unit") || kinds.has("heat") || kinds.has("districts")) mapSoon();
      if (kinds.has("panels")) panelsSoon();
    },
    onAuthFailed: () => { document.getElementById("feed").innerHTML = `<li>screen token refused — open the URL printed by <code>cityops dashboard</code></li>`; },
  });
  window.cityops.live = live;
  base = await mapReady;
  DISTRICT_NAMES = base.meta.names;
  live.connect();
  setInterval(renderClock, 1000);
  await plotlyReady;
  mapLayout = JSON.parse(JSON.stringify(base.layout));
  await Plotly.newPlot("map", mapTraces(), mapLayout, PLOT_CONFIG);
  document.getElementById("map").on("plotly_click", (ev) => {
    const p = ev.points && ev.points[0];
    if (p && p.location && base.meta.bounds[p.location]) zoomTo(zoomed === p.location ? null : p.location);
  });
  document.getElementById("zoom-out").onclick = () => zoomTo(null);
  renderPanels();
  window.cityops.mapPaint = performance.now();
}

main().catch((e) => { window.cityops.errors.push(String(e)); console.error(e); });
