// Shared by the big screen and the console: the live connection (snapshot, deltas, resume),
// the client-side view store, and the zh/en labels. See dashboard/protocol.py for the protocol.
"use strict";

const I18N = {
  zh: {
    title: "广州市城市运行指挥中心", subtitle: "一网统管 · 实时态势", console_title: "事件处置台",
    sensors_online: "在线传感器", sensors_silent: "静默传感器", readings_per_s: "读数/秒",
    open_incidents: "未结事件", incidents_today: "今日事件", mtta: "平均确认时长", mttd: "平均派遣时长",
    sla_breaches: "SLA 超时", feed: "实时事件", water: "水务 · 内涝", air: "空气质量 PM2.5",
    traffic: "交通 · 平均车速", safety: "公共安全 · 视频", hotline: "12345 热线热点", city: "全市",
    connected: "已连接", reconnecting: "重连中…", flood: "告警洪峰：10 分钟内新增 {n} 起事件，已按类别与区域分组",
    sources: { sensor: "传感器", video: "视频", hotline: "热线" }, lang: "EN",
    status: { new: "新建", acknowledged: "已确认", dispatched: "已派遣", on_scene: "已到场", resolved: "已办结",
              closed: "已关闭", false_alarm: "误报", merged: "已合并" },
    sign_in: "登录", user: "用户名", password: "密码", sign_out: "退出", login_failed: "用户名或密码错误",
    filters: "筛选", all: "全部", open_only: "仅未结", search: "搜索", priority: "优先级", category: "类别",
    district: "区", state: "状态", opened: "发生时间", sla: "SLA", why: "研判依据", evidence: "证据",
    recommended: "推荐力量", eta: "预计到达", history: "处置记录", notes: "备注", units: "力量",
    acknowledge: "确认", assign: "派遣", reassign: "改派", escalate: "升级", note: "备注", resolve: "办结",
    false_alarm: "误报", reopen: "重开", merge: "合并", split: "拆分", override: "强制（主管）", reason: "原因",
    target: "合并到事件", send: "提交", cancel: "取消", refused: "被拒绝", sent: "已提交", select: "选择一个事件",
    viewer_note: "只读角色：不能操作", minutes: "分", seconds: "秒", breach: "超时", ok: "正常",
    snapshot: "快照", calls: "来电", no_chart: "无传感器序列", confidence: "置信度", severity: "严重度",
  },
  en: {
    title: "Guangzhou City Operations Center", subtitle: "One network · live picture", console_title: "Incident console",
    sensors_online: "Sensors online", sensors_silent: "Sensors silent", readings_per_s: "Readings/s",
    open_incidents: "Open incidents", incidents_today: "Incidents today", mtta: "Mean time to ack", mttd: "Mean time to dispatch",
    sla_breaches: "SLA breaches", feed: "Live incidents", water: "Water · waterlogging", air: "Air quality PM2.5",
    traffic: "Traffic · mean speed", safety: "Public safety · video", hotline: "Hotline hot spots", city: "City",
    connected: "connected", reconnecting: "reconnecting…", flood: "Alarm flood: {n} new incidents in 10 min, grouped by category and district",
    sources: { sensor: "sensor", video: "video", hotline: "hotline" }, lang: "中文",
    status: { new: "new", acknowledged: "acknowledged", dispatched: "dispatched", on_scene: "on scene", resolved: "resolved",
              closed: "closed", false_alarm: "false alarm", merged: "merged" },
    sign_in: "Sign in", user: "User", password: "Password", sign_out: "Sign out", login_failed: "Wrong user name or password",
    filters: "Filters", all: "all", open_only: "open only", search: "Search", priority: "P", category: "Category",
    district: "District", state: "Status", opened: "Opened", sla: "SLA", why: "Why raised", evidence: "Evidence",
    recommended: "Recommended units", eta: "ETA", history: "History", notes: "Notes", units: "Units",
    acknowledge: "Acknowledge", assign: "Assign", reassign: "Reassign", escalate: "Escalate", note: "Add note", resolve: "Resolve",
    false_alarm: "False alarm", reopen: "Reopen", merge: "Merge", split: "Split", override: "Override (supervisor)", reason: "Reason",
    target: "Merge into", send: "Send", cancel: "Cancel", refused: "refused", sent: "sent", select: "Select an incident",
    viewer_note: "Viewer role: read only", minutes: "min", seconds: "s", breach: "breach", ok: "ok",
    snapshot: "snapshot", calls: "calls", no_chart: "no sensor series", confidence: "confidence", severity: "severity",
  },
};

const CATEGORIES = {
  waterlogging: ["内涝", "Waterlogging"], fire: ["火情", "Fire"], air_pollution: ["空气污染", "Air pollution"],
  traffic: ["交通", "Traffic"], crowd: ["人群聚集", "Crowd"], pipe_burst: ["爆管", "Pipe burst"], manhole: ["井盖", "Manhole"],
  noise: ["噪声", "Noise"], sanitation: ["环境卫生", "Sanitation"], public_safety: ["公共安全", "Public safety"], other: ["其他", "Other"],
};
const SEVERITY_COLORS = { 1: "#4fc3f7", 2: "#ffd54f", 3: "#ff8a3d", 4: "#ff3b3b" };
const TERMINAL = new Set(["resolved", "closed", "false_alarm", "merged"]);
const MAX_TERMINAL_KEPT = 400;  // closed incidents kept client-side (memory stays bounded over a shift)

let LANG = localStorage.getItem("cityops_lang") || "zh";
let DISTRICT_NAMES = {};

function t(key) {
  const v = key.split(".").reduce((o, k) => (o == null ? undefined : o[k]), I18N[LANG]);
  return v === undefined ? key : v;
}
function catLabel(c) { const p = CATEGORIES[c]; return p ? p[LANG === "zh" ? 0 : 1] : c; }
function districtName(d) { const p = DISTRICT_NAMES[d]; return p ? p[LANG === "zh" ? 0 : 1] : d; }
function statusLabel(s) { return t("status." + s); }
function esc(s) {
  return String(s == null ? "" : s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}
function fmtTime(ts) {
  if (ts == null) return "—";
  const d = new Date(ts * 1000);
  return d.toLocaleTimeString(LANG === "zh" ? "zh-CN" : "en-GB", { hour12: false, timeZone: "Asia/Shanghai" });
}
function fmtDuration(s) {
  if (s == null) return "—";
  if (s < 120) return Math.round(s) + " " + t("seconds");
  return (s / 60).toFixed(1) + " " + t("minutes");
}
function applyI18n(root) {
  (root || document).querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  (root || document).querySelectorAll("[data-i18n-ph]").forEach((el) => { el.placeholder = t(el.dataset.i18nPh); });
  document.documentElement.lang = LANG === "zh" ? "zh-CN" : "en";
}
function setLang(lang, onChange) {
  LANG = lang;
  localStorage.setItem("cityops_lang", lang);
  applyI18n();
  if (onChange) onChange();
}

// The client-side copy of the server's view, kept current from snapshot + deltas.
class Store {
  constructor() { this.reset(); }
  reset() {
    this.incidents = new Map(); this.units = new Map(); this.metrics = new Map(); this.events = [];
    this.kpis = null; this.flood = null; this.heat = []; this.panels = null; this.districts = {}; this.now = null;
  }
  applySnapshot(d) {
    this.reset();
    d.incidents.forEach((i) => this.incidents.set(i.incident_id, i));
    d.units.forEach((u) => this.units.set(u.unit_id, u));
    d.metrics.forEach((m) => this.metrics.set(m.district, m));
    this.events = d.events.slice(-200);
    this.kpis = d.kpis; this.flood = d.flood; this.heat = d.heat; this.now = d.now;
    this.panels = d.panels || null; this.districts = d.districts || {};
  }
  applyDelta(kind, data) {
    switch (kind) {
      case "incident": this.incidents.set(data.incident_id, data); this._prune(); break;
      case "unit": this.units.set(data.unit_id, data); break;
      case "metrics": this.metrics.set(data.district, data); break;
      case "event": this.events.push(data); if (this.events.length > 200) this.events.splice(0, this.events.length - 200); break;
      case "kpis": this.kpis = data; this.now = data.now; break;
      case "flood": this.flood = data; break;
      case "heat": this.heat = data; break;
      case "panels": this.panels = data; break;
      case "districts": this.districts = data; break;
    }
  }
  _prune() {
    if (this.incidents.size < MAX_TERMINAL_KEPT * 2) return;
    const done = [...this.incidents.values()].filter((i) => TERMINAL.has(i.status)).sort((a, b) => a.updated_at - b.updated_at);
    done.slice(0, Math.max(0, done.length - MAX_TERMINAL_KEPT)).forEach((i) => this.incidents.delete(i.incident_id));
  }
}

// One WebSocket with hello/resume and reconnect. Handlers: onWelcome, onSnapshot, onDeltas(kinds set),
// onMessage(msg) for replies, onStatus(connected bool), onAuthFailed().
class Live {
  constructor(opts) {
    this.opts = opts; this.lastSeq = null; this.ws = null; this.backoff = 500; this.closedByUs = false;
    this.token = opts.token || "";
  }
  url() { return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws"; }
  connect(first) {
    this.closedByUs = false;
    const ws = new WebSocket(this.url());
    this.ws = ws;
    ws.onopen = () => {
      this.backoff = 500;
      ws.send(JSON.stringify(first || { type: "hello", token: this.token, last_seq: this.lastSeq }));
    };
    ws.onmessage = (ev) => this._onFrame(ev.data);
    ws.onclose = (ev) => {
      if (ws !== this.ws) return;  // an old socket we replaced (e.g. a new sign-in attempt)
      if (this.opts.onStatus) this.opts.onStatus(false);
      if (ev.code === 4401) { if (this.opts.onAuthFailed) this.opts.onAuthFailed(); return; }
      if (this.closedByUs) return;
      setTimeout(() => this.connect(), this.backoff);
      this.backoff = Math.min(this.backoff * 2, 5000);
    };
  }
  close() { this.closedByUs = true; if (this.ws) this.ws.close(); }
  send(obj) { if (this.ws && this.ws.readyState === 1) { this.ws.send(JSON.stringify(obj)); return true; } return false; }
  _onFrame(text) {
    const msg = JSON.parse(text);
    const o = this.opts;
    if (msg.type === "deltas") {
      const kinds = new Set();
      for (const it of msg.items) {
        if (this.lastSeq !== null && it.seq <= this.lastSeq) continue;
        this.lastSeq = it.seq;
        o.store.applyDelta(it.kind, it.data);
        kinds.add(it.kind);
        if (o.onItem) o.onItem(it);
      }
      if (kinds.size && o.onDeltas) o.onDeltas(kinds);
    } else if (msg.type === "snapshot") {
      this.lastSeq = msg.seq;
      o.store.applySnapshot(msg.data);
      if (o.onSnapshot) o.onSnapshot();
    } else if (msg.type === "welcome") {
      if (o.onStatus) o.onStatus(true);
      if (o.onWelcome) o.onWelcome(msg);
    } else if (msg.type === "login_ok") {
      this.token = msg.token;
      if (o.onMessage) o.onMessage(msg);
    } else if (o.onMessage) {
      o.onMessage(msg);
    }
  }
}

// Coalesce redraws: fn runs at most once per `ms`, always with the latest state.
function throttle(fn, ms) {
  let pending = false, last = 0;
  return function () {
    if (pending) return;
    const wait = Math.max(0, ms - (performance.now() - last));
    pending = true;
    setTimeout(() => { pending = false; last = performance.now(); fn(); }, wait);
  };
}

function evidenceSummary(inc) {
  const n = { sensor: 0, video: 0, hotline: 0 };
  (inc.evidence || []).forEach((e) => { n[e.source] = (n[e.source] || 0) + 1; });
  return Object.entries(n).filter(([, v]) => v > 0).map(([k, v]) => t("sources." + k) + " " + v).join(" · ");
}

// plotly.js is big (≈4.8 MB): load it after the page is live so KPIs and the feed paint first.
let plotlyPromise = null;
function loadPlotly() {
  if (window.Plotly) return Promise.resolve(window.Plotly);
  if (!plotlyPromise) {
    plotlyPromise = new Promise((resolve, reject) => {
      const s = document.createElement("script");
      s.src = "/vendor/plotly.min.js";
      s.onload = () => resolve(window.Plotly);
      s.onerror = () => reject(new Error("could not load plotly.min.js"));
      document.head.appendChild(s);
    });
  }
  return plotlyPromise;
}
