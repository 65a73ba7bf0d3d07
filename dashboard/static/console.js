// The incident console: sign-in, incident list (filters, sorting), detail with evidence and actions.
// Actions are intents; the server checks the role and sends DispatchCommands; dispatch decides.
"use strict";

const store = new Store();
let me = null;                 // welcome message: user, role, actions, override
let selected = null;           // incident id shown in the detail pane
let detail = null;             // last detail reply for `selected`
let sortKey = "default", sortDir = 1;
const myCommands = new Map();  // command_id -> action, to show dispatch's answer to what *I* sent
let reqN = 0;
let selectedChanged = false;  // the selected incident changed in the last deltas frame
const PLOT_CONFIG = { displayModeBar: false, responsive: true };
const ACTIONS = ["acknowledge", "assign", "reassign", "escalate", "note", "resolve", "false_alarm", "reopen", "merge", "split"];

window.cityops = { store, errors: [] };

function toast(text, cls) {
  const el = document.createElement("div");
  el.className = cls || "";
  el.textContent = text;
  document.getElementById("toast").appendChild(el);
  setTimeout(() => el.remove(), 6000);
}

function slaRank(i) { return i.sla_breaches.length ? 0 : 1; }
function sorted(list) {
  const cmp = {
    default: (a, b) => slaRank(a) - slaRank(b) || a.priority - b.priority || b.opened_at - a.opened_at,
    priority: (a, b) => a.priority - b.priority, category: (a, b) => a.category.localeCompare(b.category),
    district: (a, b) => districtName(a.district).localeCompare(districtName(b.district)),
    status: (a, b) => a.status.localeCompare(b.status), opened_at: (a, b) => a.opened_at - b.opened_at,
    sla: (a, b) => slaRank(a) - slaRank(b),
  }[sortKey];
  return list.sort((a, b) => sortDir * cmp(a, b));
}

function filtered() {
  const st = document.getElementById("f-status").value;
  const cat = document.getElementById("f-category").value;
  const dis = document.getElementById("f-district").value;
  const pr = document.getElementById("f-priority").value;
  const q = document.getElementById("f-text").value.trim().toLowerCase();
  return [...store.incidents.values()].filter((i) =>
    (st === "" || (st === "open" ? !TERMINAL.has(i.status) : i.status === st)) &&
    (!cat || i.category === cat) && (!dis || i.district === dis) && (!pr || String(i.priority) === pr) &&
    (!q || (i.incident_id + " " + i.why + " " + i.cell + " " + catLabel(i.category) + " " + districtName(i.district)).toLowerCase().includes(q)));
}

function renderList() {
  const rows = sorted(filtered());
  document.getElementById("f-count").textContent = rows.length;
  document.getElementById("rows").innerHTML = rows.slice(0, 500).map((i) => `
    <tr data-incident-id="${esc(i.incident_id)}" class="${i.incident_id === selected ? "sel" : ""} ${i.sla_breaches.length ? "breach" : ""}">
      <td><span class="prio" style="background:${SEVERITY_COLORS[i.severity]}">P${i.priority}</span></td>
      <td>${esc(catLabel(i.category))}</td><td>${esc(districtName(i.district))}</td>
      <td><span class="badge st-${i.status}">${esc(statusLabel(i.status))}</span>${i.escalated ? " ⇧" : ""}</td>
      <td class="num">${fmtTime(i.opened_at)}</td>
      <td>${i.sla_breaches.length ? `<span class="badge breach">${esc(i.sla_breaches.join(","))}</span>` : `<span class="kv">${t("ok")}</span>`}</td>
      <td class="kv">${esc(evidenceSummary(i))}</td></tr>`).join("");
}

function fillFilterOptions() {
  const cat = document.getElementById("f-category"), dis = document.getElementById("f-district");
  const keepC = cat.value, keepD = dis.value;
  cat.innerHTML = `<option value="">${t("category")}: ${t("all")}</option>` +
    Object.keys(CATEGORIES).map((c) => `<option value="${c}">${esc(catLabel(c))}</option>`).join("");
  dis.innerHTML = `<option value="">${t("district")}: ${t("all")}</option>` +
    Object.keys(DISTRICT_NAMES).map((d) => `<option value="${d}">${esc(districtName(d))}</option>`).join("");
  const st = document.getElementById("f-status"), keepS = st.value;
  st.innerHTML = `<option value="open">${t("open_only")}</option><option value="">${t("state")}: ${t("all")}</option>` +
    Object.keys(I18N.zh.status).map((s) => `<option value="${s}">${esc(statusLabel(s))}</option>`).join("");
  cat.value = keepC; dis.value = keepD; st.value = keepS || "open";
}

function may(action) { return me && me.actions.includes(action); }

function evidenceHtml(inc) {
  const alerts = new Map(((detail && detail.alerts) || []).map((a) => [a.alert_id, a]));
  return (inc.evidence || []).map((e) => {
    const a = alerts.get(e.alert_id);
    let extra = "";
    if (e.source === "hotline" && a && a.details && a.details.examples) {
      extra = `<div class="kv">${t("calls")}:</div><ul>${a.details.examples.slice(0, 5).map((x) => `<li>${esc(x)}</li>`).join("")}</ul>`;
    }
    if (e.source === "video") {
      const snaps = (a && a.details && (a.details.snapshot_urls || a.details.snapshots)) || [];
      const links = snaps.map((u, k) => `<a href="${esc(u)}" target="_blank" rel="noopener">${t("snapshot")} ${k + 1}</a>`);
      const cams = a && a.details && a.details.cameras ? a.details.cameras.join(", ") : e.subject_id;
      extra = `<div class="kv">${esc(cams)} ${links.join(" ")} ${links.length ? "" : esc((e.message_ids || []).slice(0, 4).join(", "))}</div>`;
    }
    const chart = e.source === "sensor" ? `<div class="chart" id="chart-${esc(e.alert_id)}"></div>` : "";
    return `<div class="ev-item" data-alert-id="${esc(e.alert_id)}"><b>${t("sources." + e.source)}</b>
      <span class="kv num">${fmtTime(e.ts)} · ${esc(e.subject_id)} · ${e.score ? (e.score * 100).toFixed(0) + "%" : ""}</span>
      <label class="split-pick hidden"><input type="checkbox" value="${esc(e.alert_id)}"> ${t("split")}</label>
      <div>${esc(e.reason)}</div>${extra}${chart}</div>`;
  }).join("");
}

function actionForm(inc) {
  const recs = (inc.recommendations || []).filter((r) => r.unit_id);
  const avail = [...store.units.values()].filter((u) => u.status === "available").slice(0, 60);
  const unitOpts = recs.map((r) => `<label><input type="checkbox" name="unit" value="${esc(r.unit_id)}"> ${esc(r.unit_id)} (${fmtDuration(r.eta_s)})</label>`).join(" ") +
    (avail.length ? ` <select name="unit-extra"><option value="">+ ${t("units")}</option>${avail.map((u) => `<option>${esc(u.unit_id)}</option>`).join("")}</select>` : "");
  const others = [...store.incidents.values()].filter((i) => i.incident_id !== inc.incident_id && !TERMINAL.has(i.status));
  return `
    <div class="actions" id="actions">${ACTIONS.map((a) => `<button class="btn${a === "false_alarm" ? " danger" : ""}" data-action="${a}" ${may(a) ? "" : "disabled"}>${t(a)}</button>`).join("")}</div>
    ${me && me.actions.length === 0 ? `<div class="kv">${t("viewer_note")}</div>` : ""}
    <div class="form" id="form">
      <span class="f-units hidden">${unitOpts || "—"}</span>
      <select class="f-target hidden">${others.map((o) => `<option value="${esc(o.incident_id)}">${esc(o.incident_id)} · ${esc(catLabel(o.category))}</option>`).join("")}</select>
      <textarea class="f-note hidden" rows="2" cols="40" placeholder="${t("note")}"></textarea>
      <input class="f-reason hidden" size="30" placeholder="${t("reason")}">
      <label class="f-override hidden"><input type="checkbox" class="f-override-box"> ${t("override")}</label>
      <button class="btn primary" id="form-send">${t("send")}</button><button class="btn" id="form-cancel">${t("cancel")}</button>
    </div>`;
}

function renderDetail() {
  const pane = document.getElementById("detail");
  const inc = selected && store.incidents.get(selected);
  if (!inc) { pane.innerHTML = `<p class="kv">${t("select")}</p>`; return; }
  const openForm = document.querySelector("#form.open");
  if (openForm) return;  // do not wipe what the dispatcher is typing; refreshed after send/cancel
  const age = store.now ? store.now - inc.opened_at : null;
  const recs = (inc.recommendations || []).map((r) => `<tr><td>${esc(r.unit_id || "—")}</td><td>${esc(r.type || "")}</td>
      <td class="num">${fmtDuration(r.eta_s)}</td><td class="kv">${esc(r.why || "")}</td></tr>`).join("");
  const history = ((detail && detail.events) || []).slice(-30).reverse().map((e) => `<div class="${e.kind === "command_refused" ? "refused" : ""}">
      <span class="num kv">${fmtTime(e.ts)}</span> ${esc(e.kind)} · ${esc(e.actor)} ${esc(e.reason || "")} ${e.details && e.details.action ? "· " + esc(e.details.action) : ""}</div>`).join("");
  const notes = (inc.notes || []).map((n) => `<div><span class="kv num">${fmtTime(n.ts)} ${esc(n.actor || "")}</span> ${esc(n.text || n.note || JSON.stringify(n))}</div>`).join("");
  pane.innerHTML = `
    <div class="head"><span class="prio" style="background:${SEVERITY_COLORS[inc.severity]}">P${inc.priority}</span>
      <span class="title">${esc(catLabel(inc.category))} · ${esc(districtName(inc.district))} · ${esc(inc.cell)}</span>
      <span class="badge st-${inc.status}" id="d-status" data-status="${esc(inc.status)}">${esc(statusLabel(inc.status))}</span>
      ${inc.sla_breaches.length ? `<span class="badge breach">SLA ${t("breach")}: ${esc(inc.sla_breaches.join(", "))}</span>` : ""}
      ${inc.escalated ? `<span class="badge breach">⇧ ${inc.escalation_level}</span>` : ""}</div>
    <div class="kv num">${esc(inc.incident_id)} · ${t("opened")} ${fmtTime(inc.opened_at)} (${fmtDuration(age)}) ·
      ${t("acknowledge")} ${fmtTime(inc.acknowledged_at)} · ${t("assign")} ${fmtTime(inc.dispatched_at)} ·
      ${t("confidence")} ${(inc.confidence * 100).toFixed(0)}% · ${t("units")}: ${esc(inc.assigned_units.join(", ") || "—")}
      ${inc.merged_into ? " · → " + esc(inc.merged_into) : ""}</div>
    ${actionForm(inc)}
    <h3>${t("why")}</h3><div>${esc(inc.why)}</div>
    <h3>${t("recommended")}</h3><table class="list"><tbody>${recs || "<tr><td>—</td></tr>"}</tbody></table>
    <h3>${t("evidence")}</h3>${evidenceHtml(inc)}
    ${notes ? `<h3>${t("notes")}</h3>${notes}` : ""}
    <h3>${t("history")}</h3><div id="history">${history || "—"}</div>`;
  for (const [id, fig] of Object.entries((detail && detail.charts) || {})) {
    const el = document.getElementById("chart-" + id);
    if (el) Plotly.react(el, fig.data, fig.layout, PLOT_CONFIG);
  }
  pane.querySelectorAll("#actions button").forEach((b) => { b.onclick = () => openAction(b.dataset.action); });
}

let formAction = null;
function openAction(action) {
  const direct = action === "acknowledge" || (action === "escalate");
  if (direct) { sendCommand({ action }); return; }
  formAction = action;
  const form = document.getElementById("form");
  form.classList.add("open");
  const show = (cls, on) => form.querySelector(cls).classList.toggle("hidden", !on);
  show(".f-units", action === "assign" || action === "reassign");
  show(".f-target", action === "merge");
  show(".f-note", action === "note");
  show(".f-reason", ["resolve", "false_alarm", "reopen", "merge", "split"].includes(action));
  show(".f-override", action === "resolve" && me && me.override);
  document.querySelectorAll(".split-pick").forEach((el) => el.classList.toggle("hidden", action !== "split"));
  document.getElementById("form-cancel").onclick = closeForm;
  document.getElementById("form-send").onclick = () => {
    const units = [...form.querySelectorAll("input[name=unit]:checked")].map((x) => x.value);
    const extra = form.querySelector("select[name=unit-extra]");
    if (extra && extra.value) units.push(extra.value);
    sendCommand({
      action, unit_ids: units, note: form.querySelector(".f-note").value, reason: form.querySelector(".f-reason").value,
      override: form.querySelector(".f-override-box").checked, target_incident_id: form.querySelector(".f-target").value || null,
      evidence_ids: [...document.querySelectorAll(".split-pick input:checked")].map((x) => x.value),
    });
    closeForm();
  };
}
function closeForm() { formAction = null; const f = document.getElementById("form"); if (f) f.classList.remove("open"); renderDetail(); }

function sendCommand(fields) {
  const req = "r" + (++reqN);
  const ok = window.cityops.live.send(Object.assign({ type: "command", req, incident_id: selected }, fields));
  if (!ok) toast(t("reconnecting"), "bad");
}

function requestDetail() { if (selected) window.cityops.live.send({ type: "detail", incident_id: selected }); }
const detailSoon = throttle(requestDetail, 300);
const listSoon = throttle(renderList, 150);

function onMessage(msg) {
  if (msg.type === "login_ok") {
    sessionStorage.setItem("cityops_token", msg.token);
    document.getElementById("login").classList.add("hidden");
  } else if (msg.type === "login_failed") {
    document.getElementById("login-err").textContent = t("login_failed");
  } else if (msg.type === "detail" && msg.incident_id === selected) {
    detail = msg.data; renderDetail();
  } else if (msg.type === "command_sent") {
    myCommands.set(msg.command_id, msg.action);
    toast(`${t(msg.action)}: ${t("sent")}`, "good");
  } else if (msg.type === "command_rejected") {
    toast(`${t(msg.action)}: ${msg.reason}`, "bad");
  }
}

function onItem(it) {
  if (it.kind === "event" && it.data.command_id && myCommands.has(it.data.command_id)) {
    const action = myCommands.get(it.data.command_id);
    if (it.data.kind === "command_refused") toast(`${t(action)} ${t("refused")}: ${it.data.reason}`, "bad");
  }
  if ((it.kind === "event" || it.kind === "incident") && it.data.incident_id === selected) {
    selectedChanged = true;
    detailSoon();
  }
}

function showLogin() {
  sessionStorage.removeItem("cityops_token");
  document.getElementById("login").classList.remove("hidden");
  document.getElementById("login-user").focus();
}

function main() {
  applyI18n();
  window.addEventListener("error", (e) => window.cityops.errors.push(String(e.message)));
  fetch("/api/map.json").then((r) => r.json()).then((m) => { DISTRICT_NAMES = m.meta.names; fillFilterOptions(); renderList(); });
  const live = new Live({
    token: sessionStorage.getItem("cityops_token") || "", store, onMessage, onItem,
    onStatus: (on) => document.getElementById("conn").classList.toggle("on", on),
    onWelcome: (w) => {
      me = w;
      document.getElementById("whoami").textContent = `${w.user} · ${w.role}`;
      document.getElementById("login").classList.add("hidden");
    },
    onSnapshot: () => { renderList(); requestDetail(); renderDetail(); },
    onDeltas: (kinds) => {
      if (kinds.has("incident")) listSoon();
      if (selectedChanged) { selectedChanged = false; renderDetail(); }
    },
    onAuthFailed: showLogin,
  });
  window.cityops.live = live;
  if (live.token) live.connect(); else showLogin();

  document.getElementById("login-form").onsubmit = (ev) => {
    ev.preventDefault();
    document.getElementById("login-err").textContent = "";
    live.close();
    live.connect({ type: "login", user: document.getElementById("login-user").value, password: document.getElementById("login-pass").value });
  };
  document.getElementById("logout").onclick = () => {
    live.send({ type: "logout", token: live.token });
    live.close(); live.token = ""; me = null; showLogin();
  };
  document.getElementById("lang").onclick = () => setLang(LANG === "zh" ? "en" : "zh", () => { fillFilterOptions(); renderList(); renderDetail(); });
  ["f-status", "f-category", "f-district", "f-priority"].forEach((id) => { document.getElementById(id).onchange = renderList; });
  document.getElementById("f-text").oninput = listSoon;
  document.querySelectorAll("th[data-sort]").forEach((th) => {
    th.onclick = () => { sortDir = sortKey === th.dataset.sort ? -sortDir : 1; sortKey = th.dataset.sort; renderList(); };
  });
  document.getElementById("rows").onclick = (ev) => {
    const tr = ev.target.closest("tr[data-incident-id]");
    if (!tr) return;
    selected = tr.dataset.incidentId; detail = null; formAction = null;
    renderList(); renderDetail(); requestDetail();
  };
}

main();
