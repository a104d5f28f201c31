// The area panel: one area's figures for 20 minutes, today and 7 days, its cameras and data
// age, its civic block, and two plots from the series API (today by 10 minutes, 14 days).
import { t, num, pct, age, getLang } from "./i18n.js";
import { complianceState } from "./colour.js";

const PERIODS = [["recent", "recent"], ["today", "today"], ["7d", "d7"]];

export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v; else if (k === "text") e.textContent = v; else e.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

export function dataAge(p) {
  const f = p?.freshness;
  if (!f?.newest_window_end) return { seconds: null, stale: true };
  const s = (Date.now() - Date.parse(f.newest_window_end)) / 1000;
  return { seconds: s, stale: s > (f.stale_after_s ?? 300) };
}

function complianceCell(period) {
  if (!period) return "–";
  if (period.compliance === null || period.compliance === undefined) return t("few_people");
  return pct(period.compliance, 1);
}

// The 95 % interval of a period's compliance (plan: `interval`, null when nobody was judged).
function intervalCell(period) {
  const iv = period?.interval;
  return iv && iv.low !== null && iv.high !== null && period.compliance !== null
    ? `${pct(iv.low, 1)}–${pct(iv.high, 1)}` : "–";
}

export function renderPanel(root, level, code, payload, crumbs) {
  root.replaceChildren();
  const nav = el("nav", { class: "crumbs" });
  for (const [lvl, c, name] of crumbs) {
    const a = el("a", { href: "#", "data-level": lvl, "data-code": c, text: lvl === "city" ? name : `${t(lvl)} ${name}` });
    nav.append(a, " › ");
  }
  if (nav.lastChild) nav.lastChild.remove();
  root.append(nav);
  if (!payload) {
    root.append(el("p", { class: "muted", text: t("no_data") }));
    return;
  }
  const st = complianceState(payload);
  root.append(el("h2", { id: "panel-title", text: level === "city" ? payload.name : `${t(level)} ${payload.name}` }),
    el("p", { class: `big status-${st.status}`, id: "panel-figure", text: st.label }));
  const table = el("table", { class: "figures" });
  const head = el("tr", {}, el("th", {}), ...PERIODS.map(([, k]) => el("th", { text: t(k) })));
  table.append(head);
  for (const [key, label] of [["people_seen", "people_seen"], ["masked", "masked"], ["unmasked", "unmasked"]]) {
    table.append(el("tr", {}, el("th", { text: t(label) }),
      ...PERIODS.map(([p]) => el("td", { text: num(payload.periods?.[p]?.[key]) }))));
  }
  table.append(el("tr", {}, el("th", { text: t("compliance") }),
    ...PERIODS.map(([p]) => el("td", { class: "compliance", text: complianceCell(payload.periods?.[p]) }))));
  table.append(el("tr", { class: "interval" }, el("th", { text: t("interval_95") }),
    ...PERIODS.map(([p]) => el("td", { text: intervalCell(payload.periods?.[p]) }))));
  root.append(table);
  const a = dataAge(payload);
  const cams = payload.cameras || {};
  root.append(el("dl", { class: "facts" },
    el("dt", { text: t("cameras") }), el("dd", { text: `${num(cams.reporting)} / ${num(cams.expected)}` }),
    el("dt", { text: t("data_age") }),
    el("dd", { class: a.stale ? "stale" : "", text: a.seconds === null ? t("no_data") : (a.stale ? `${t("stale")} · ` : "") + age(a.seconds) })));
  const c = payload.civic;
  if (c) {
    const cs = c.cases || {}, b = c.beds || {}, ph = c.pharmacy || {};
    root.append(el("h3", { text: t("civic") }), el("dl", { class: "facts civic" },
      el("dt", { text: t("active_cases") }), el("dd", { text: num(cs.active) }),
      el("dt", { text: t("confirmed") }), el("dd", { text: num(cs.confirmed) }),
      el("dt", { text: t("weekly_rate") }), el("dd", { text: num(cs.weekly_rate_per_100k, 1) }),
      el("dt", { text: t("ppkm_level") }), el("dd", { text: c.ppkm_level ? t("level", c.ppkm_level) : "–" }),
      el("dt", { text: t("beds") }), el("dd", { text: `${num(b.used)} / ${num(b.total)} (${pct(b.occupancy)})` }),
      el("dt", { text: t("mask_stock") }), el("dd", { text: num(ph.mask_stock) }),
      el("dt", { text: t("sanitizer_stock") }), el("dd", { text: num(ph.hand_sanitizer_stock) }),
      el("dt", { text: t("low_stock_pharmacies") }), el("dd", { text: `${num(ph.low_mask_stock)} / ${num(ph.pharmacies)}` })));
  }
}

// A series answer (GET /series/…, docs/schema/series.schema.json: points of (from, to] bins) as
// uPlot columns: bin starts in seconds, people seen, compliance in % (null: too few judged).
export function seriesColumns(body) {
  const out = { t: [], people: [], compliance: [] };
  for (const p of body?.points || []) {
    out.t.push(Date.parse(p.from) / 1000);
    out.people.push(p.people_seen);
    out.compliance.push(p.compliance === null ? null : 100 * p.compliance);
  }
  return out;
}

export async function drawPlots(root, level, code, headers) {
  const path = level === "city" ? "/series/city" : `/series/${level}/${encodeURIComponent(code)}`;
  for (const [span, label] of [["today", "plot_today"], ["14d", "plot_14d"]]) {
    const box = el("figure", { class: "plot", "data-span": span }, el("figcaption", { text: t(label) }));
    root.append(box);
    try {
      const r = await fetch(`${path}?span=${span}`, { headers });
      if (!r.ok) throw new Error(String(r.status));
      const cols = seriesColumns(await r.json());
      if (!cols.t.length) throw new Error("empty");
      plot(box, cols, span);
    } catch {
      box.append(el("p", { class: "muted", text: t("plot_missing") }));
    }
  }
}

// Bin times as the city reads them: WIB, 24-hour clock today, day/month over 14 days.
function tick(seconds, span) {
  const opts = span === "today" ? { hour: "2-digit", minute: "2-digit", hourCycle: "h23" }
    : { day: "numeric", month: "numeric" };
  return new Intl.DateTimeFormat(getLang() === "en" ? "en-GB" : "id-ID",
    { ...opts, timeZone: "Asia/Jakarta" }).format(new Date(seconds * 1000));
}

function plot(box, cols, span) {
  const width = Math.max(200, Math.min(420, box.clientWidth || 320));
  const opts = {
    width, height: 150, legend: { show: true, live: false },
    scales: { x: { time: true }, p: { auto: true }, c: { range: [0, 100] } },
    series: [
      {},
      { label: t("people_seen"), scale: "p", stroke: "#4575b4", fill: "rgba(69,117,180,0.25)",
        paths: window.uPlot.paths.bars({ size: [0.8, span === "today" ? 8 : 20] }) },
      { label: `${t("compliance")} %`, scale: "c", stroke: "#1a9850", width: 2, spanGaps: false },
    ],
    axes: [{ values: (u, splits) => splits.map((v) => tick(v, span)) }, { scale: "p", size: 44 },
      { scale: "c", side: 1, size: 44 }],
  };
  new window.uPlot(opts, [cols.t, cols.people, cols.compliance], box);
}
