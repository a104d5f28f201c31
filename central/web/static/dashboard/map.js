// The Leaflet map: kelurahan polygons (SVG paths, each tagged with its code), kecamatan outlines,
// and the point layers. No tiles unless the city configured a tile server of its own.
import { LAYERS, CAMERA_COLOURS, occupancyColour } from "./colour.js";
import { t, num, pct } from "./i18n.js";

const L = window.L;
const CANVAS_ABOVE = 500;
const LABEL_ZOOM = 14, FEW_LABELS = 40;

export class CityMap {
  constructor(el, cfg, onPick) {
    this.map = L.map(el, { zoomSnap: 0.25, preferCanvas: false, attributionControl: !!cfg.tile_url });
    if (cfg.tile_url) {
      L.tileLayer(cfg.tile_url, { attribution: cfg.tile_attribution || "", maxZoom: 19 }).addTo(this.map);
    }
    // A view before any layer: paths are created only on a map that has one (Semarang here;
    // fitted to the kelurahan once they are drawn).
    this.map.setView([-7.0, 110.42], 12);
    this.renderer = L.svg({ padding: 0.2 });
    this.onPick = onPick;
    this.kel = new Map(); // code -> {layer, name, kecamatan_code, centroid}
    this.layer = "compliance";
    this.points = {};
    // Figures on the map itself: shown when zoomed in, or when few areas have one (a city
    // full of figures at city zoom would be unreadable; the list and tooltips have them all).
    this.labelled = new Set();
    this.map.on("zoomend", () => this.showLabels());
  }

  showLabels() {
    const on = this.map.getZoom() >= LABEL_ZOOM || this.labelled.size <= FEW_LABELS;
    this.map.getContainer().classList.toggle("labels-on", on);
  }

  // areas: GET /areas?boundaries=true (kecamatan with their kelurahan and boundary geometry).
  drawAreas(areas) {
    const bounds = L.latLngBounds([]);
    const outlines = [];
    for (const kec of areas) {
      const segs = new Map();
      for (const k of kec.kelurahan) {
        if (!k.boundary) continue;
        const layer = L.geoJSON(k.boundary, {
          renderer: this.renderer,
          style: { color: "#555", weight: 0.6, fillOpacity: 0.78, fillColor: "#dcdcdc" },
        });
        layer.on("click", () => this.onPick("kelurahan", k.code));
        layer.addTo(this.map);
        layer.eachLayer((path) => {
          const el = path.getElement();
          el.setAttribute("data-code", k.code);
          el.classList.add("kel");
          const title = document.createElementNS("http://www.w3.org/2000/svg", "title");
          el.appendChild(title);
          path._siagaTitle = title;
        });
        bounds.extend(layer.getBounds());
        this.kel.set(k.code, { layer, name: k.name, kecamatan_code: kec.code, centroid: k.centroid });
        for (const ring of rings(k.boundary)) {
          for (let i = 1; i < ring.length; i++) {
            const a = ring[i - 1], b = ring[i];
            const ka = `${a[0].toFixed(6)},${a[1].toFixed(6)}`, kb = `${b[0].toFixed(6)},${b[1].toFixed(6)}`;
            const key = ka < kb ? `${ka}|${kb}` : `${kb}|${ka}`;
            segs.set(key, segs.has(key) ? null : [[a[1], a[0]], [b[1], b[0]]]);
          }
        }
      }
      // A kecamatan's outline: the edges of its kelurahan that no other of them shares.
      const edges = [...segs.values()].filter(Boolean);
      if (edges.length) outlines.push(L.polyline(edges, { renderer: this.renderer, color: "#222",
        weight: 2, interactive: false, className: "kec-outline" }));
    }
    this.outlines = L.layerGroup(outlines).addTo(this.map);
    if (bounds.isValid()) this.map.fitBounds(bounds, { padding: [8, 8] });
  }

  setLayer(name) { this.layer = name; }

  // Colour and label one kelurahan from its summary payload (undefined: none yet).
  paint(code, payload) {
    const k = this.kel.get(code);
    if (!k) return;
    const st = LAYERS[this.layer](payload);
    const text = `${k.name}: ${st.label}`;
    this.label(code, k, st);
    k.layer.eachLayer((path) => {
      path.setStyle({ fillColor: st.colour });
      const el = path.getElement();
      el.setAttribute("data-status", st.status);
      el.setAttribute("data-label", st.label);
      el.setAttribute("aria-label", text);
      path._siagaTitle.textContent = text;
    });
  }

  label(code, k, st) {
    if (st.status !== "ok" || !k.centroid) {
      if (k.tip) { k.tip.remove(); k.tip = null; this.labelled.delete(code); this.showLabels(); }
      return;
    }
    if (!k.tip) {
      k.text = document.createElement("span");
      k.text.textContent = st.short;
      k.tip = L.tooltip({ permanent: true, direction: "center", className: "fig", interactive: false })
        .setLatLng([k.centroid[1], k.centroid[0]]).setContent(k.text).addTo(this.map);
      k.tip.getElement().setAttribute("data-code", code);
      this.labelled.add(code);
      this.showLabels();
    } else if (k.text.textContent !== st.short) {
      // The text alone: Leaflet's setContent re-measures the tooltip (a forced layout per
      // kelurahan, 1.5 s a round at city scale); "90 %" and "91 %" centre alike.
      k.text.textContent = st.short;
    }
  }

  setPoints(kind, items, visible) {
    if (this.points[kind]) this.points[kind].remove();
    // A city's 16,400 cameras as SVG elements would cost seconds and memory: many points go on
    // one canvas; a few stay SVG elements (tagged with their id, as the tests read them).
    const renderer = items.length > CANVAS_ABOVE ? (this.canvas ||= L.canvas({ padding: 0.2 })) : this.renderer;
    const markers = items.filter((p) => p.lat !== null && p.lng !== null).map((p) => pointMarker(kind, p, renderer));
    this.points[kind] = L.layerGroup(markers);
    if (visible) this.points[kind].addTo(this.map);
  }

  showPoints(kind, visible) {
    const g = this.points[kind];
    if (!g) return;
    if (visible) g.addTo(this.map); else g.remove();
  }
}

function rings(geom) {
  if (geom.type === "Polygon") return geom.coordinates;
  if (geom.type === "MultiPolygon") return geom.coordinates.flat();
  return [];
}

function pointMarker(kind, p, renderer) {
  let colour, text, radius = 6;
  if (kind === "hospitals") {
    colour = occupancyColour(p.occupancy);
    text = `${t("hospital")}: ${p.name} — ${num(p.used)} / ${num(p.beds)} (${pct(p.occupancy)})`;
    radius = 7;
  } else if (kind === "pharmacies") {
    colour = p.low_mask_stock ? "#d73027" : "#4575b4";
    text = `${t("pharmacy")}: ${p.name} — ${t("mask_stock")}: ${num(p.mask)}${p.low_mask_stock ? ` (${t("low")})` : ""}`;
  } else {
    colour = CAMERA_COLOURS[p.health];
    text = `${p.agent_id}/${p.camera_id}${p.name ? ` (${p.name})` : ""}: ${t(`cam_${p.health}`)}`;
    radius = 5;
  }
  const m = L.circleMarker([p.lat, p.lng], { renderer, radius, color: "#222", weight: 1, fillColor: colour,
    fillOpacity: 0.95, className: `pt pt-${kind}` });
  m.bindTooltip(text);
  m.on("add", () => {
    const el = m.getElement && m.getElement();
    if (el) { el.setAttribute("data-id", p.id ?? `${p.agent_id}/${p.camera_id}`); el.setAttribute("aria-label", text); }
  });
  return m;
}
