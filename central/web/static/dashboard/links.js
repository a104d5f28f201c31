// The operations view's site links: one line per site broker's bridge to the centre, from the
// retained state its bridge publishes (1 up, 0 down). While a link is down the site's agents stay
// online (their site broker still has them) and only their data ages: this list is how an
// operator tells a WAN cut from dead boxes. Hidden until a bridge has spoken (a city on one
// broker has none).
import { t, time } from "./i18n.js";
import { el } from "./panel.js";

export class SiteLinks {
  constructor(root) {
    this.root = root;
    this.links = new Map(); // name -> {up, since (ISO, when this page saw it change)}
  }

  set(name, up) {
    const old = this.links.get(name);
    if (old && old.up === up) return;
    this.links.set(name, { up, since: old ? new Date().toISOString() : null });
    this.render();
  }

  render() {
    const list = this.root.querySelector("ul");
    list.replaceChildren(...[...this.links.entries()].sort().map(([name, s]) => {
      const state = t(s.up ? "link_up" : "link_down") + (s.since ? ` (${t("since", time(s.since))})` : "");
      return el("li", { class: `link ${s.up ? "up" : "down"}`, "data-bridge": name,
        "data-state": s.up ? "up" : "down" }, el("strong", { text: name }), ` ${state}`);
    }));
    this.root.hidden = this.links.size === 0;
  }
}
