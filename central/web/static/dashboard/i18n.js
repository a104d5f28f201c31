// Bahasa Indonesia first, English second: every label of the page, and number/time formats.
const TEXT = {
  id: {
    title: "Siaga — Dasbor Kota Semarang",
    public_view: "Tampilan publik",
    ops_view: "Tampilan operasional",
    city_compliance: "Kepatuhan masker kota (20 menit)",
    cameras_reporting: "Kamera melapor",
    freshness: "Kesegaran data",
    stale: "BASI",
    ago: "{0} lalu",
    no_data: "tanpa data",
    layer: "Lapisan peta",
    layer_compliance: "Kepatuhan masker (20 menit)",
    layer_cases: "Kasus COVID-19 (per 100.000, 7 hari)",
    layer_ppkm: "Level PPKM per kecamatan",
    overlay_hospitals: "Rumah sakit: keterisian tempat tidur isolasi",
    overlay_pharmacies: "Apotek dengan stok masker rendah",
    overlay_cameras: "Kamera (kesehatan)",
    legend: "Legenda",
    few_people: "orang terlalu sedikit",
    no_camera: "tanpa kamera",
    silent: "kamera tidak melapor",
    cases_none: "tanpa data kasus",
    ppkm_none: "tanpa level",
    level: "Level {0}",
    conn_mqtt: "Langsung (MQTT)",
    conn_http: "Langsung (HTTP cadangan)",
    conn_connecting: "Menyambung…",
    conn_down: "Terputus — mencoba lagi",
    area_list: "Daftar kelurahan",
    panel_hint: "Klik kelurahan di peta, atau pilih kecamatan / kota.",
    city: "Kota",
    kecamatan: "Kecamatan",
    kelurahan: "Kelurahan",
    recent: "20 menit",
    today: "Hari ini",
    d7: "7 hari",
    people_seen: "Orang terlihat",
    masked: "Bermasker",
    unmasked: "Tanpa masker",
    compliance: "Kepatuhan",
    interval_95: "Interval 95 %",
    cameras: "Kamera melapor / diharapkan",
    data_age: "Umur data",
    civic: "Data sipil",
    active_cases: "Kasus aktif",
    confirmed: "Terkonfirmasi",
    weekly_rate: "Kasus baru 7 hari per 100.000",
    ppkm_level: "Level PPKM",
    beds: "Tempat tidur isolasi (terisi / total)",
    occupancy: "Keterisian",
    mask_stock: "Stok masker apotek",
    sanitizer_stock: "Stok hand sanitizer apotek",
    low_stock_pharmacies: "Apotek stok masker rendah",
    plot_today: "Hari ini (per 10 menit)",
    plot_14d: "14 hari terakhir (harian)",
    plot_missing: "Grafik belum tersedia",
    decisions: "Keputusan: peringatan terbuka",
    no_alerts: "Tidak ada peringatan terbuka.",
    site_links: "Tautan situs ke pusat",
    link_up: "tersambung",
    link_down: "TERPUTUS: kamera situs ini tampak basi, agennya tetap daring",
    severity: "Tingkat",
    action: "Tindakan",
    figures: "Angka",
    since: "sejak {0}",
    report: "Laporan harian provinsi ({0})",
    no_report: "Laporan harian belum ada",
    token_label: "Token operator",
    token_save: "Masuk",
    token_needed: "Tampilan operasional memerlukan token dengan hak baca.",
    token_bad: "Token ditolak ({0}). Masukkan token dengan hak baca.",
    cam_online: "daring",
    cam_stale: "basi",
    cam_offline: "luring",
    cam_never: "belum pernah terlihat",
    hospital: "Rumah sakit",
    pharmacy: "Apotek",
    low: "rendah",
    lang_switch: "English",
    s: "{0} dtk", m: "{0} mnt", h: "{0} jam", d: "{0} hari",
    rule_low_compliance: "Kepatuhan rendah",
    rule_bed_occupancy: "Tempat tidur isolasi penuh",
    rule_mask_stock: "Stok masker rendah",
    rule_ppkm_level: "Level PPKM",
    rule_rising_cases: "Kasus meningkat",
    sev_info: "info", sev_warn: "waspada", sev_critical: "kritis",
    "act_mask enforcement operation": "operasi penegakan masker",
    "act_distribute masks": "bagikan masker",
    "act_prepare isolation beds": "siapkan tempat tidur isolasi",
    "act_apply PPKM measures": "terapkan langkah PPKM",
  },
  en: {
    title: "Siaga — City of Semarang dashboard",
    public_view: "Public view",
    ops_view: "Operations view",
    city_compliance: "City mask compliance (20 min)",
    cameras_reporting: "Cameras reporting",
    freshness: "Data freshness",
    stale: "STALE",
    ago: "{0} ago",
    no_data: "no data",
    layer: "Map layer",
    layer_compliance: "Mask compliance (20 min)",
    layer_cases: "COVID-19 cases (per 100,000, 7 days)",
    layer_ppkm: "PPKM level per kecamatan",
    overlay_hospitals: "Hospitals: isolation-bed occupancy",
    overlay_pharmacies: "Pharmacies with low mask stock",
    overlay_cameras: "Cameras (health)",
    legend: "Legend",
    few_people: "too few people",
    no_camera: "no camera",
    silent: "cameras not reporting",
    cases_none: "no case data",
    ppkm_none: "no level",
    level: "Level {0}",
    conn_mqtt: "Live (MQTT)",
    conn_http: "Live (HTTP fallback)",
    conn_connecting: "Connecting…",
    conn_down: "Disconnected — retrying",
    area_list: "Kelurahan list",
    panel_hint: "Click a kelurahan on the map, or pick a kecamatan / the city.",
    city: "City",
    kecamatan: "Kecamatan",
    kelurahan: "Kelurahan",
    recent: "20 min",
    today: "Today",
    d7: "7 days",
    people_seen: "People seen",
    masked: "Masked",
    unmasked: "Unmasked",
    compliance: "Compliance",
    interval_95: "95 % interval",
    cameras: "Cameras reporting / expected",
    data_age: "Data age",
    civic: "Civic data",
    active_cases: "Active cases",
    confirmed: "Confirmed",
    weekly_rate: "New cases in 7 days per 100,000",
    ppkm_level: "PPKM level",
    beds: "Isolation beds (used / total)",
    occupancy: "Occupancy",
    mask_stock: "Pharmacy mask stock",
    sanitizer_stock: "Pharmacy hand sanitizer stock",
    low_stock_pharmacies: "Pharmacies low on masks",
    plot_today: "Today (10-minute bins)",
    plot_14d: "Last 14 days (daily)",
    plot_missing: "Plot not available yet",
    decisions: "Decisions: open alerts",
    no_alerts: "No open alerts.",
    site_links: "Site links to the centre",
    link_up: "connected",
    link_down: "DOWN: this site's cameras look stale, its agents stay online",
    severity: "Severity",
    action: "Action",
    figures: "Figures",
    since: "since {0}",
    report: "Daily provincial report ({0})",
    no_report: "No daily report yet",
    token_label: "Operator token",
    token_save: "Sign in",
    token_needed: "The operations view needs a token with the read scope.",
    token_bad: "Token refused ({0}). Enter a token with the read scope.",
    cam_online: "online",
    cam_stale: "stale",
    cam_offline: "offline",
    cam_never: "never seen",
    hospital: "Hospital",
    pharmacy: "Pharmacy",
    low: "low",
    lang_switch: "Bahasa Indonesia",
    s: "{0} s", m: "{0} min", h: "{0} h", d: "{0} d",
    rule_low_compliance: "Low compliance",
    rule_bed_occupancy: "Isolation beds full",
    rule_mask_stock: "Low mask stock",
    rule_ppkm_level: "PPKM level",
    rule_rising_cases: "Rising cases",
    sev_info: "info", sev_warn: "warning", sev_critical: "critical",
  },
};

let lang = localStorage.getItem("siaga.lang") === "en" ? "en" : "id";

export function getLang() { return lang; }

export function setLang(l) {
  lang = l === "en" ? "en" : "id";
  localStorage.setItem("siaga.lang", lang);
  document.documentElement.lang = lang;
}

export function t(key, ...args) {
  const s = TEXT[lang][key] ?? TEXT.id[key] ?? key;
  return s.replace(/\{(\d)\}/g, (_, i) => String(args[Number(i)]));
}

const locale = () => (lang === "en" ? "en-GB" : "id-ID");

export function num(n, digits = 0) {
  if (n === null || n === undefined || Number.isNaN(n)) return "–";
  return new Intl.NumberFormat(locale(), { maximumFractionDigits: digits,
    minimumFractionDigits: digits }).format(n);
}

export function pct(x, digits = 0) {
  return x === null || x === undefined ? "–" : `${num(100 * x, digits)} %`;
}

export function age(seconds) {
  if (seconds === null || seconds === undefined) return t("no_data");
  const s = Math.max(0, Math.round(seconds));
  if (s < 120) return t("s", s);
  if (s < 7200) return t("m", Math.round(s / 60));
  if (s < 172800) return t("h", Math.round(s / 3600));
  return t("d", Math.round(s / 86400));
}

export function time(iso) {
  if (!iso) return "–";
  return new Intl.DateTimeFormat(locale(), { dateStyle: "short", timeStyle: "short",
    timeZone: "Asia/Jakarta" }).format(new Date(iso));
}

// Re-label every element that names its text by data-i18n.
export function relabel(root = document) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  document.title = t("title");
}
