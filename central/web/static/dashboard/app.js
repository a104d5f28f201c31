// The dashboard: which view (public at /dashboard, operations at /dashboard/ops), start-up
// reads, and applying live summaries and alerts to the map, the list, the header and the panel.
import { t, setLang, getLang, relabel, age, num } from "./i18n.js";
import { LAYERS, legend, complianceState, CAMERA_COLOURS } from "./colour.js";
import { CityMap } from "./map.js";
import { Live } from "./live.js";
import { renderPanel, drawPlots, dataAge, el } from "./panel.js";
import { Decisions } from "./alerts.js";
import { SiteLinks } from "./links.js";

const VIEW = /\/ops\/?$/.test(location.pathname) ? "ops" : "public";
const CAMERA_POLL_MS = 30000;
const S = {
  summaries: new Map(), // "level:code" -> payload ("city:" for the city)
  kel: new Map(), kec: new Map(), // code -> {name, kecamatan_code?}
  layer: "compliance", selected: ["city", ""], dirty: new Set(), flushTimer: null,
  cfg: null, map: null, decisions: null, cameras: [],
  // received / painted counts, time spent applying (ms) and when the last flush ended (epoch ms):
  // what the tests wait on and the benchmark measures.
  stats: { received: 0, flushes: 0, painted: 0, busyMs: 0, lastFlushMs: 0, lastFlushAt: 0 },
};
window.__siaga = S; // read by the tests and the benchmark: state only (the token is not in it)
let HEADERS = {};
const $ = (sel) => document.querySelector(sel);

class HttpError extends Error { constructor(status) { super(`HTTP ${status}`); this.status = status; } }

async function getJSON(url) {
  const r = await fetch(url, { headers: HEADERS, cache: "no-store" });
  if (!r.ok) throw new HttpError(r.status);
  return r.json();
}

function key(p) { return `${p.level}:${p.level === "city" ? "" : p.code}`; }

function onSummary(p) {
  if (!p || !p.level || p.level === "camera") return;
  const t0 = performance.now();
  S.stats.received++;
  const k = key(p);
  const old = S.summaries.get(k);
  if (old && Date.parse(old.computed_at) > Date.parse(p.computed_at)) return; // an older pass
  S.summaries.set(k, p);
  S.dirty.add(k);
  if (S.flushTimer === null) S.flushTimer = setTimeout(flush, 0);
  S.stats.busyMs += performance.now() - t0;
}

function flush() {
  const t0 = performance.now();
  S.flushTimer = null;
  const dirty = S.dirty;
  S.dirty = new Set();
  for (const k of dirty) {
    const [level, code] = k.split(":");
    if (level === "kelurahan") { S.map.paint(code, S.summaries.get(k)); listRow(code); S.stats.painted++; }
  }
  if (dirty.has("city:")) header();
  const sel = `${S.selected[0]}:${S.selected[1]}`;
  if (dirty.has(sel)) panel(false);
  S.stats.flushes++;
  S.stats.lastFlushMs = performance.now() - t0;
  S.stats.busyMs += S.stats.lastFlushMs;
  S.stats.lastFlushAt = Date.now();
}

function header() {
  const city = S.summaries.get("city:");
  const st = complianceState(city);
  $("#h-compliance").textContent = city ? st.label : t("no_data");
  $("#h-compliance").dataset.status = st.status;
  const cams = city?.cameras;
  $("#h-cameras").textContent = cams ? `${num(cams.reporting)} / ${num(cams.expected)}` : "–";
  freshness();
}

function freshness() {
  const city = S.summaries.get("city:");
  const a = dataAge(city);
  const computed = city ? (Date.now() - Date.parse(city.computed_at)) / 1000 : null;
  const staleSummary = computed !== null && computed > (city.freshness?.stale_after_s ?? 300);
  const stale = !city || a.stale || staleSummary;
  const box = $("#h-fresh");
  box.classList.toggle("stale", stale);
  box.dataset.stale = String(stale);
  const shown = staleSummary ? computed : a.seconds;
  box.textContent = shown === null ? t("no_data") : `${stale ? `${t("stale")} · ` : ""}${t("ago", age(shown))}`;
}

function paintAll() {
  for (const code of S.kel.keys()) { S.map.paint(code, S.summaries.get(`kelurahan:${code}`)); listRow(code); }
  const item = ([c, l]) => el("li", {}, el("span", { class: "swatch", style: `background:${c}` }), l);
  const rows = legend(S.layer).map(item);
  if (VIEW === "ops") {  // the camera points' health
    rows.push(el("li", { class: "legend-head", text: t("overlay_cameras") }),
      ...["online", "stale", "offline", "never"].map((h) => item([CAMERA_COLOURS[h], t(`cam_${h}`)])));
  }
  $("#legend ul").replaceChildren(...rows);
}

function listRow(code) {
  const row = document.getElementById(`row-${code}`);
  if (!row) return;
  const st = LAYERS[S.layer](S.summaries.get(`kelurahan:${code}`));
  const cell = row.lastChild;
  cell.textContent = st.label;
  row.dataset.status = st.status;
}

function buildList() {
  const rows = [...S.kel.entries()].sort((a, b) => a[1].name.localeCompare(b[1].name)).map(([code, k]) => {
    const tr = el("tr", { id: `row-${code}`, "data-code": code },
      el("td", {}, el("a", { href: "#", text: k.name })),
      el("td", { class: "muted", text: S.kec.get(k.kecamatan_code)?.name || "" }), el("td", {}));
    tr.querySelector("a").addEventListener("click", (e) => { e.preventDefault(); pick("kelurahan", code); });
    return tr;
  });
  $("#area-list tbody").replaceChildren(...rows);
}

function areaName(code) {
  return S.kel.get(code)?.name || S.kec.get(code)?.name || S.summaries.get("city:")?.name || code;
}

function pick(level, code) {
  S.selected = [level, code];
  panel(true);
}

function panel(withPlots) {
  const [level, code] = S.selected;
  const crumbs = [];
  const city = S.summaries.get("city:");
  crumbs.push(["city", "", city?.name || "Semarang"]);
  const kecCode = level === "kelurahan" ? S.kel.get(code)?.kecamatan_code : level === "kecamatan" ? code : null;
  if (kecCode) crumbs.push(["kecamatan", kecCode, S.kec.get(kecCode)?.name || kecCode]);
  if (level === "kelurahan") crumbs.push(["kelurahan", code, S.kel.get(code)?.name || code]);
  const root = $("#panel-figures");
  renderPanel(root, level, code, S.summaries.get(`${level}:${code}`), crumbs);
  for (const a of root.querySelectorAll(".crumbs a")) {
    a.addEventListener("click", (e) => { e.preventDefault(); pick(a.dataset.level, a.dataset.code); });
  }
  if (withPlots) {
    const plots = $("#panel-plots");
    plots.replaceChildren();
    drawPlots(plots, level, code, HEADERS);
  }
}

function setConn(state) {
  const box = $("#conn");
  box.dataset.state = state;
  box.textContent = t({ mqtt: "conn_mqtt", http: "conn_http", connecting: "conn_connecting", down: "conn_down" }[state]);
}

function cameraPoints(list) {
  const now = Date.now();
  const staleS = S.summaries.get("city:")?.freshness?.stale_after_s ?? 300;
  return list.map((c, i) => {
    let lat = c.lat, lng = c.lng;
    if (lat === null || lat === undefined) {
      const ctr = S.kel.get(c.kelurahan_code)?.centroid;
      if (!ctr) return null;
      const jitter = ((i * 2654435761) % 1000) / 1000 - 0.5; // spread cameras of one kelurahan
      [lng, lat] = [ctr[0] + jitter * 0.004, ctr[1] + (((i * 40503) % 1000) / 1000 - 0.5) * 0.004];
    }
    let health = "online";
    if (!c.last_window_end) health = "never";
    else if (c.availability === "offline") health = "offline";
    else if ((now - Date.parse(c.last_window_end)) / 1000 > staleS) health = "stale";
    return { ...c, lat, lng, health };
  }).filter(Boolean);
}

async function refreshCameras() {
  try {
    S.cameras = await getJSON("/cameras");
    S.map.setPoints("cameras", cameraPoints(S.cameras), $("#ov-cameras").checked);
  } catch (e) { console.warn("cameras:", e.message); }
}

async function refreshAlerts() {
  try { S.decisions.load(await getJSON("/alerts?state=open")); } catch (e) { console.warn("alerts:", e.message); }
}

function tokenForm(message) {
  const form = $("#token-form");
  form.hidden = false;
  $("#token-msg").textContent = message;
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    sessionStorage.setItem("siaga.token", $("#token").value.trim());
    location.reload();
  }, { once: true });
}

function controls() {
  for (const r of document.querySelectorAll("input[name=layer]")) {
    r.addEventListener("change", () => { S.layer = r.value; S.map.setLayer(r.value); paintAll(); });
  }
  for (const kind of ["hospitals", "pharmacies", "cameras"]) {
    const box = $(`#ov-${kind}`);
    box?.addEventListener("change", () => S.map.showPoints(kind, box.checked));
  }
  $("#lang").addEventListener("click", () => {
    setLang(getLang() === "id" ? "en" : "id");
    relabel();
    $("#lang").textContent = t("lang_switch");
    header(); paintAll(); panel(false); setConn($("#conn").dataset.state || "connecting");
    reportLink(); S.links?.render();
  });
}

function reportLink() {
  const a = $("#report");
  const d = S.cfg?.latest_report;
  a.textContent = d ? t("report", d) : t("no_report");
  if (d) a.href = `/reports/${d}?format=html`; else a.removeAttribute("href");
}

async function boot() {
  setLang(getLang());
  relabel();
  $("#lang").textContent = t("lang_switch");
  $("#view").textContent = t(VIEW === "ops" ? "ops_view" : "public_view");
  document.body.dataset.view = VIEW;
  setConn("connecting");
  if (VIEW === "ops") {
    const token = sessionStorage.getItem("siaga.token");
    if (!token) { tokenForm(t("token_needed")); return; }
    HEADERS = { Authorization: `Bearer ${token}` };
  }
  try {
    S.cfg = await getJSON(`/dashboard/api/config?view=${VIEW}`);
  } catch (e) {
    if (VIEW === "ops" && (e.status === 401 || e.status === 403)) { tokenForm(t("token_bad", e.status)); return; }
    throw e;
  }
  reportLink();
  const areas = await getJSON("/areas?boundaries=true");
  for (const kec of areas) {
    S.kec.set(kec.code, { name: kec.name });
    for (const k of kec.kelurahan) S.kel.set(k.code, { name: k.name, kecamatan_code: kec.code, centroid: k.centroid });
  }
  S.map = new CityMap($("#map"), S.cfg, pick);
  S.map.drawAreas(areas);
  buildList();
  controls();
  if (VIEW === "ops") {
    const box = el("label", {}, el("input", { type: "checkbox", id: "ov-cameras", checked: "" }), " ",
      el("span", { "data-i18n": "overlay_cameras", text: t("overlay_cameras") }));
    $("#overlays").append(box);
    box.querySelector("input").addEventListener("change", (e) => S.map.showPoints("cameras", e.target.checked));
    const d = el("section", { id: "decisions" }, el("h2", { "data-i18n": "decisions", text: t("decisions") }),
      el("p", { class: "none muted", "data-i18n": "no_alerts", text: t("no_alerts") }), el("ul"));
    $("#side").prepend(d);
    S.decisions = new Decisions(d, areaName);
    const links = el("section", { id: "links", hidden: "" }, el("h2", { "data-i18n": "site_links", text: t("site_links") }),
      el("ul"));
    d.after(links);
    S.links = new SiteLinks(links);
  }
  for (const level of ["city", "kecamatan", "kelurahan"]) {
    try {
      const body = await getJSON(`/summaries/${level}`);
      for (const p of level === "city" ? (body ? [body] : []) : body) onSummary(p);
    } catch (e) { if (e.status !== 503) console.warn(`summaries ${level}:`, e.message); }
  }
  paintAll();
  flush();
  getJSON("/dashboard/api/points").then((pts) => {
    S.map.setPoints("hospitals", pts.hospitals, $("#ov-hospitals").checked);
    S.map.setPoints("pharmacies", pts.pharmacies.filter((p) => p.low_mask_stock), $("#ov-pharmacies").checked);
  }).catch((e) => console.warn("points:", e.message));
  if (VIEW === "ops") {
    await refreshAlerts();
    refreshCameras();
    setInterval(refreshCameras, CAMERA_POLL_MS);
  }
  const live = new Live(S.cfg, HEADERS, {
    summary: onSummary,
    alert: (ev) => S.decisions?.apply(ev),
    bridge: (name, up) => S.links?.set(name, up),
    state: setConn,
    connected: () => { if (VIEW === "ops") refreshAlerts(); },
  });
  live.start();
  S.live = live;
  setInterval(freshness, 1000);
  panel(true);
  document.body.dataset.ready = "true";
}

boot().catch((e) => { console.error("dashboard start failed:", e); setConn("down"); });
