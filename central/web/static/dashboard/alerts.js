// The operations view's decisions: open alerts, live; resolved ones fade out and leave.
import { t, time, getLang } from "./i18n.js";
import { el } from "./panel.js";

const FADE_MS = 900;

export class Decisions {
  constructor(root, names) {
    this.root = root;
    this.names = names; // code -> area name
    this.open = new Map();
  }

  // The open alerts as the API lists them now (at start and after a reconnect: alerts are not
  // retained, so those resolved while the page was cut off leave here).
  load(list) {
    const now = new Set(list.filter((a) => a.state === "open").map((a) => a.id));
    for (const id of [...this.open.keys()]) if (!now.has(id)) this.apply({ id, event: "resolve" });
    for (const a of list) if (a.state === "open") this.apply({ ...a, event: "open" });
    this.empty();
  }

  apply(ev) {
    const list = this.root.querySelector("ul");
    const old = this.open.get(ev.id);
    if (ev.event === "resolve" || ev.state === "resolved") {
      if (!old) return;
      this.open.delete(ev.id);
      old.classList.add("resolved");
      setTimeout(() => { old.remove(); this.empty(); }, FADE_MS);
      return;
    }
    const card = this.card(ev);
    if (old) old.replaceWith(card); else list.prepend(card);
    this.open.set(ev.id, card);
    this.empty();
  }

  empty() {
    this.root.querySelector(".none").hidden = this.open.size > 0;
  }

  card(a) {
    const rule = t(`rule_${a.rule}`);
    const action = getLang() === "id" ? t(`act_${a.action}`) : a.action;
    const figs = el("dl", { class: "alert-figures" });
    for (const [k, v] of Object.entries(a.figures || {})) {
      if (v === null || typeof v === "object") continue;
      figs.append(el("dt", { text: k.replaceAll("_", " ") }), el("dd", { text: String(v) }));
    }
    return el("li", { class: `alert sev-${a.severity}`, "data-alert-id": String(a.id), "data-rule": a.rule,
      "data-area": a.area_code },
      el("strong", { text: `${rule} — ${this.names(a.area_code)}` }),
      el("span", { class: "sev", text: `${t("severity")}: ${t(`sev_${a.severity}`)}` }),
      el("p", { class: "reason", text: a.reason }),
      el("p", { class: "action", text: `${t("action")}: ${action}` }),
      figs,
      el("small", { text: t("since", time(a.first_seen)) }));
  }
}
