// What colour and label each area gets on each layer: pure functions of a summary payload, so
// that the map, the legend, the list and the tests agree on one definition.
import { t, pct, num } from "./i18n.js";

const GREY = { few: "#8f8f8f", silent: "#b5b5b5", nocam: "#dcdcdc", none: "#dcdcdc" };

// Compliance bins (share masked of people judged): the 95 % line is the city's target.
export const COMPLIANCE_BINS = [
  [0.95, "#1a9850", "≥ 95 %"], [0.85, "#91cf60", "85–95 %"], [0.70, "#fee08b", "70–85 %"],
  [0.50, "#fc8d59", "50–70 %"], [0, "#d73027", "< 50 %"],
];
// Weekly new cases per 100,000 (PPKM-style bands of the decision rules' defaults).
export const CASE_BINS = [
  [150, "#7f0000", "≥ 150"], [50, "#d7301f", "50–150"], [20, "#fc8d59", "20–50"],
  [0.0001, "#fdd49e", "0–20"], [0, "#fff7ec", "0"],
];
export const PPKM_COLOURS = { 1: "#1a9850", 2: "#fee08b", 3: "#fc8d59", 4: "#d73027" };

// A compliance figure or the reason there is none: never 0 % for "no figure".
export function complianceState(p) {
  const r = p?.periods?.recent;
  if (!p || !r) return { status: "nocam", colour: GREY.nocam, label: t("no_camera"), value: null };
  if (r.compliance !== null && r.compliance !== undefined) {
    const bin = COMPLIANCE_BINS.find(([lo]) => r.compliance >= lo);
    return { status: "ok", colour: bin[1], label: pct(r.compliance), short: pct(r.compliance), value: r.compliance };
  }
  const cams = p.cameras || { expected: 0, reporting: 0 };
  if (cams.expected === 0 && cams.reporting === 0 && !r.people_seen) {
    return { status: "nocam", colour: GREY.nocam, label: t("no_camera"), value: null };
  }
  if (cams.reporting === 0 && !r.people_seen) {
    return { status: "silent", colour: GREY.silent, label: t("silent"), value: null };
  }
  return { status: "few", colour: GREY.few, label: t("few_people"), value: null };
}

export function casesState(p) {
  const c = p?.civic?.cases;
  const rate = c?.weekly_rate_per_100k;
  if (rate === null || rate === undefined) {
    return { status: "none", colour: GREY.none, label: t("cases_none"), value: null };
  }
  const bin = CASE_BINS.find(([lo]) => rate >= lo);
  const active = c.active === null || c.active === undefined ? "" : ` · ${t("active_cases")} ${num(c.active)}`;
  return { status: "ok", colour: bin[1], label: `${num(rate, 1)} / 100.000${active}`, short: num(rate), value: rate };
}

export function ppkmState(p) {
  const level = p?.civic?.ppkm_level;
  if (!level) return { status: "none", colour: GREY.none, label: t("ppkm_none"), value: null };
  return { status: "ok", colour: PPKM_COLOURS[level] || GREY.none, label: t("level", level), short: String(level), value: level };
}

export const LAYERS = { compliance: complianceState, cases: casesState, ppkm: ppkmState };

// Legend rows [colour, label] of one layer.
export function legend(layer) {
  if (layer === "compliance") {
    return [...COMPLIANCE_BINS.map(([, c, l]) => [c, l]), [GREY.few, t("few_people")],
      [GREY.silent, t("silent")], [GREY.nocam, t("no_camera")]];
  }
  if (layer === "cases") return [...CASE_BINS.map(([, c, l]) => [c, l]), [GREY.none, t("cases_none")]];
  return [...[1, 2, 3, 4].map((l) => [PPKM_COLOURS[l], t("level", l)]), [GREY.none, t("ppkm_none")]];
}

// Isolation-bed occupancy of a hospital point; cameras by health.
export function occupancyColour(o) {
  if (o === null || o === undefined) return GREY.none;
  return o >= 0.9 ? "#d73027" : o >= 0.7 ? "#fc8d59" : "#1a9850";
}
export const CAMERA_COLOURS = { online: "#1a9850", stale: "#fdae61", offline: "#d73027", never: "#777777" };
