// Siaga calibration page: everything stays on this box (same-origin requests only).
// Every URL here is relative: the page lives under /s/<this run's secret>/, so each request
// carries the secret without this script ever knowing it. POST bodies are JSON with
// Content-Type application/json: the server refuses anything else (a foreign page's form).
"use strict";

const CYCLE = [null, "mask", "no_mask", "not_a_face"]; // one click moves one step
const COLORS = { mask: "#3c3", no_mask: "#f93", not_a_face: "#999", unlabelled: "#4af" };
const SNAP_PX = 8; // a point this close to the image edge snaps onto it

const st = {
  info: null, faces: [], cur: 0, img: null, scale: 1, mode: "label",
  labels: new Map(), include: [], exclude: [], pending: [], carried: 0, stored: "",
};
const $ = (id) => document.getElementById(id);
const canvas = $("view");
const ctx = canvas.getContext("2d");

async function getJSON(url) {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r.json();
}

function setMode(mode) {
  if (mode !== st.mode) st.pending = [];
  st.mode = mode;
  for (const b of document.querySelectorAll("button.mode")) {
    b.classList.toggle("active", b.dataset.mode === mode);
  }
  $("help").textContent = mode === "label"
    ? "Click a face box to cycle its label: mask → no_mask → not_a_face → unlabelled."
    : `Click points to draw an ${mode} zone, then press "Close zone" (3 points at least).`;
  draw();
}

function loadImage(i) {
  st.cur = i;
  const meta = st.info.images[i];
  $("image-name").textContent = `${i + 1}/${st.info.images.length} ${meta.name} (${meta.width}x${meta.height})`;
  st.scale = Math.min(960 / meta.width, 720 / meta.height);
  canvas.width = Math.round(meta.width * st.scale);
  canvas.height = Math.round(meta.height * st.scale);
  const img = new Image();
  img.onload = () => { st.img = img; draw(); canvas.dataset.ready = String(i); };
  st.img = null;
  delete canvas.dataset.ready;
  img.src = `api/image/${i}`;
}

function minPx() { const v = parseInt($("min-px").value, 10); return Number.isFinite(v) ? v : null; }
function maxPx() { const v = parseInt($("max-px").value, 10); return Number.isFinite(v) ? v : null; }

function inPolygon(x, y, poly) {
  let inside = false;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const [xi, yi] = poly[i], [xj, yj] = poly[j];
    if ((yi > y) !== (yj > y) && x < xi + ((y - yi) * (xj - xi)) / (yj - yi)) inside = !inside;
  }
  return inside;
}

// Why the agent would drop this face with the current settings ("" when it counts).
function dropReason(face) {
  const meta = st.info.images[st.cur];
  const lo = minPx(), hi = maxPx();
  if (lo !== null && face.size_px < lo) return "small";
  if (hi !== null && face.size_px > hi) return "large";
  if (face.score < st.info.model_conf) return "low score";
  const cx = (face.box[0] + face.box[2]) / 2 / meta.width;
  const cy = (face.box[1] + face.box[3]) / 2 / meta.height;
  if (st.include.length && !st.include.some((p) => inPolygon(cx, cy, p))) return "outside";
  if (st.exclude.some((p) => inPolygon(cx, cy, p))) return "excluded";
  return "";
}

function drawPolygon(poly, fill, stroke, closed) {
  if (!poly.length) return;
  ctx.beginPath();
  poly.forEach(([x, y], k) => {
    const px = x * canvas.width, py = y * canvas.height;
    if (k === 0) ctx.moveTo(px, py); else ctx.lineTo(px, py);
  });
  if (closed) { ctx.closePath(); ctx.fillStyle = fill; ctx.fill(); }
  ctx.strokeStyle = stroke; ctx.lineWidth = 2; ctx.stroke();
  for (const [x, y] of poly) {
    ctx.fillStyle = stroke;
    ctx.fillRect(x * canvas.width - 3, y * canvas.height - 3, 6, 6);
  }
}

function draw() {
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  if (st.img) ctx.drawImage(st.img, 0, 0, canvas.width, canvas.height);
  for (const p of st.include) drawPolygon(p, "rgba(60,200,60,0.18)", "#3c3", true);
  for (const p of st.exclude) drawPolygon(p, "rgba(230,60,60,0.25)", "#e33", true);
  if (st.pending.length) {
    ctx.setLineDash([5, 4]);
    drawPolygon(st.pending, "", st.mode === "include" ? "#3c3" : "#e33", false);
    ctx.setLineDash([]);
  }
  const faces = st.faces[st.cur] || [];
  ctx.font = "12px sans-serif";
  faces.forEach((f, j) => {
    const label = st.labels.get(`${st.cur}:${j}`) || null;
    const color = COLORS[label || "unlabelled"];
    const [x1, y1, x2, y2] = f.box.map((v) => v * st.scale);
    const why = dropReason(f);
    ctx.setLineDash(why ? [4, 3] : []);
    ctx.strokeStyle = color; ctx.lineWidth = label ? 3 : 2;
    ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
    ctx.setLineDash([]);
    const text = `${Math.round(f.size_px)}px ${f.score.toFixed(2)} ${label || "(" + f.predicted + ")"}${why ? " [" + why + "]" : ""}`;
    const w = ctx.measureText(text).width + 4;
    const ty = y1 > 16 ? y1 - 15 : y2 + 1;
    ctx.fillStyle = "rgba(0,0,0,0.7)"; ctx.fillRect(x1, ty, w, 14);
    ctx.fillStyle = color; ctx.fillText(text, x1 + 2, ty + 11);
  });
  updateStatus();
}

function labelList() {
  const out = [];
  for (const [key, truth] of st.labels) {
    const [image, face] = key.split(":").map(Number);
    out.push({ image, face, truth });
  }
  return out;
}

function updateStatus() {
  const need = st.info ? st.info.min_labels_per_class : 30;
  const byPred = { mask: 0, no_mask: 0 };
  for (const { image, face } of labelList()) byPred[st.faces[image][face].predicted] += 1;
  const short = Object.entries(byPred).filter(([, n]) => n < need)
    .map(([c, n]) => `${need - n} more ${c}`);
  $("status").textContent =
    `Labelled (by model class): mask ${byPred.mask}, no_mask ${byPred.no_mask}. ` +
    (st.carried ? `Plus ${st.carried} label(s) from earlier sessions on other snapshots (used by the fit). ` : "") +
    (st.stored ? `${st.stored} ` : "") +
    (short.length ? `Thresholds are fitted from ${need} per class: ${short.join(", ")} needed; ` +
      "until then the model default is kept." : "Enough labels: thresholds will be fitted on save.") +
    ` Zones: ${st.include.length} include, ${st.exclude.length} exclude.`;
}

function eventPoint(ev) {
  const r = canvas.getBoundingClientRect();
  let x = ev.clientX - r.left - canvas.clientLeft, y = ev.clientY - r.top - canvas.clientTop;
  if (x < SNAP_PX) x = 0; else if (x > canvas.width - SNAP_PX) x = canvas.width;
  if (y < SNAP_PX) y = 0; else if (y > canvas.height - SNAP_PX) y = canvas.height;
  return [x, y];
}

canvas.addEventListener("click", (ev) => {
  const [x, y] = eventPoint(ev);
  if (st.mode === "label") {
    const faces = st.faces[st.cur] || [];
    let best = -1, bestArea = Infinity;
    faces.forEach((f, j) => {
      const [x1, y1, x2, y2] = f.box.map((v) => v * st.scale);
      const area = (x2 - x1) * (y2 - y1);
      if (x >= x1 && x <= x2 && y >= y1 && y <= y2 && area < bestArea) { best = j; bestArea = area; }
    });
    if (best < 0) return;
    const key = `${st.cur}:${best}`;
    const next = CYCLE[(CYCLE.indexOf(st.labels.get(key) || null) + 1) % CYCLE.length];
    if (next) st.labels.set(key, next); else st.labels.delete(key);
    storeLabels();
  } else {
    const round = (v) => Math.round(v * 10000) / 10000;
    st.pending.push([round(x / canvas.width), round(y / canvas.height)]);
  }
  draw();
});

$("close-zone").addEventListener("click", () => {
  if (st.mode === "label" || st.pending.length < 3) {
    showResult("error", "A zone needs at least 3 points: choose a draw mode and click on the image.");
    return;
  }
  st[st.mode].push(st.pending);
  st.pending = [];
  draw();
});
$("undo-point").addEventListener("click", () => { st.pending.pop(); draw(); });
$("clear-zones").addEventListener("click", () => {
  st.include = []; st.exclude = []; st.pending = []; draw();
});
$("prev").addEventListener("click", () => {
  if (st.cur > 0) loadImage(st.cur - 1);
});
$("next").addEventListener("click", () => {
  if (st.cur < st.info.images.length - 1) loadImage(st.cur + 1);
});
for (const b of document.querySelectorAll("button.mode")) {
  b.addEventListener("click", () => setMode(b.dataset.mode));
}
$("min-px").addEventListener("input", draw);
$("max-px").addEventListener("input", draw);

function showResult(state, text) {
  $("result").dataset.state = state;
  $("result").textContent = text;
}

// Every label change is kept on the box at once, so a later session starts where this one ended.
let storing = Promise.resolve();
function storeLabels() {
  const camera = $("camera").value.trim();
  if (!camera) { st.stored = "Labels are kept once a camera id is set."; updateStatus(); return; }
  const body = JSON.stringify({ camera_id: camera, labels: labelList() });
  storing = storing.then(async () => {
    try {
      const r = await fetch("api/labels", {
        method: "POST", headers: { "Content-Type": "application/json" }, body,
      });
      const out = await r.json();
      st.stored = r.ok ? `Labels kept in ${out.labels_path}.` : `Labels NOT kept: ${out.error}`;
    } catch (err) {
      st.stored = `Labels NOT kept: ${err}`;
    }
    updateStatus();
  });
}

$("save").addEventListener("click", async () => {
  if (st.pending.length) {
    showResult("error", 'An unfinished zone: press "Close zone" or "Clear zones" first.');
    return;
  }
  const body = {
    camera_id: $("camera").value.trim() || null,
    version: $("version").value.trim(),
    min_face_px: minPx(),
    max_face_px: maxPx(),
    include_zones: st.include,
    exclude_zones: st.exclude,
    labels: labelList(),
  };
  showResult("saving", "saving…");
  try {
    const r = await fetch("api/save", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
    const out = await r.json();
    if (!r.ok) { showResult("error", `Not saved: ${out.error}`); return; }
    showResult("saved", `Saved ${out.path}\n${out.message}\n\n${JSON.stringify(out.written, null, 2)}`);
  } catch (err) {
    showResult("error", `Not saved: ${err}`);
  }
});

async function main() {
  st.info = await getJSON("api/snapshot");
  const faces = await getJSON("api/faces");
  st.faces = faces.images.map((im) => im.faces);
  st.carried = faces.carried_labels || 0;
  faces.images.forEach((im) => im.faces.forEach((f, j) => {
    if (f.truth) st.labels.set(`${im.index}:${j}`, f.truth);
  }));
  $("model").textContent = `model ${st.info.model}, default threshold ${st.info.model_conf}; faces shown from score ${faces.floor}`;
  $("camera").value = st.info.camera_id || "";
  if (st.info.camera_id) $("camera").readOnly = true;
  $("version").value = st.info.default_version;
  $("min-px").value = st.info.default_min_face_px;
  setMode("label");
  loadImage(0);
}
main().catch((err) => showResult("error", String(err)));
