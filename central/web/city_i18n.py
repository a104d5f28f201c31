"""The city page's words and number formats: Bahasa Indonesia first, English on `?lang=en`.

Indonesian writes 1.234.567 and 67,5 %; English 1,234,567 and 67.5%. Dates are short and local
("5 Des 2026"). Labels of stored codes (aid sources, room types) are translated here; names the
data itself carries (markets, entry points, commodities) are shown as stored, tidied.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

Lang = Literal["id", "en"]
LANGS: tuple[Lang, ...] = ("id", "en")

MONTHS = {
    "id": ("Jan", "Feb", "Mar", "Apr", "Mei", "Jun", "Jul", "Agu", "Sep", "Okt", "Nov", "Des"),
    "en": ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
}

TEXT: dict[str, tuple[str, str]] = {  # key: (Bahasa Indonesia, English)
    "title": ("Data Kota Semarang", "City of Semarang data"),
    "subtitle": (
        "Kasus COVID-19, orang masuk kota, bahan pokok dan bantuan, dari data sipil "
        "yang dihimpun Siaga",
        "COVID-19 cases, people entering the city, staple goods "
        "and aid, from the civic data Siaga collects",
    ),
    "window": ("Periode", "Period"),
    "days": ("hari", "days"),
    "no_data": ("Belum ada data", "No data yet"),
    "no_data_window": ("belum ada data untuk periode ini", "no data for this period yet"),
    "cases": ("Kasus COVID-19 warga kota", "COVID-19 cases among city residents"),
    "confirmed": ("Terkonfirmasi", "Confirmed"),
    "active": ("Dirawat / isolasi", "Active"),
    "recovered": ("Sembuh", "Recovered"),
    "deaths": ("Meninggal", "Deaths"),
    "recovery_rate": ("Tingkat kesembuhan", "Recovery rate"),
    "cases_over_time": ("Kasus kumulatif per hari", "Cumulative cases per day"),
    "recovery_over_time": ("Tingkat kesembuhan per hari", "Recovery rate per day"),
    "new_in_window": ("baru dalam periode", "new in the period"),
    "entries": ("Orang masuk kota", "People entering the city"),
    "entries_per_day": (
        "Orang masuk per hari, per pintu masuk",
        "People entering per day, by entry point",
    ),
    "entries_by_point": ("Jumlah per pintu masuk", "Total by entry point"),
    "entries_total": ("Total dalam periode", "Total in the period"),
    "people": ("orang", "people"),
    "staples": ("Harga dan stok bahan pokok", "Staple goods: prices and stock"),
    "price_per_market": ("Harga per pasar", "Price per market"),
    "stock_per_market": ("Stok per pasar (terbaru)", "Stock per market (newest)"),
    "market": ("Pasar / distributor", "Market / distributor"),
    "price": ("Harga", "Price"),
    "stock": ("Stok", "Stock"),
    "as_of": ("per", "as of"),
    "aid": ("Bantuan diterima dan disalurkan", "Aid received and distributed"),
    "aid_note": ("Jumlah dalam periode, menurut sumber", "Totals over the period, by source"),
    "received": ("Diterima", "Received"),
    "distributed": ("Disalurkan", "Distributed"),
    "source": ("Sumber", "Source"),
    "regional_government": ("Pemerintah daerah", "Regional government"),
    "central_government": ("Pemerintah pusat", "Central government"),
    "private": ("Swasta", "Private"),
    "health": ("Tempat tidur isolasi dan apotek", "Isolation beds and pharmacies"),
    "beds": ("Tempat tidur isolasi", "Isolation beds"),
    "beds_used": ("terpakai", "in use"),
    "beds_free": ("kosong", "free"),
    "occupancy": ("Keterisian", "Occupancy"),
    "hospitals": ("rumah sakit melapor", "hospitals reporting"),
    "pharmacy": ("Stok apotek", "Pharmacy stock"),
    "masks": ("Masker", "Masks"),
    "sanitizer": ("Hand sanitizer", "Hand sanitizer"),
    "pharmacies": ("apotek melapor", "pharmacies reporting"),
    "low_mask": ("apotek dengan stok masker rendah", "pharmacies low on masks"),
    "dashboard": ("Dasbor kepatuhan masker", "Mask compliance dashboard"),
    "report": ("Laporan harian", "Daily report"),
    "opendata": ("Data terbuka", "Open data"),
    "source_note": (
        "Sumber: modul data sipil Siaga (Dinas Kesehatan, rumah sakit, apotek, pasar, "
        "pintu masuk kota, penyalur bantuan). Angka per kota; tanpa data pribadi.",
        "Source: Siaga's civic data modules (health office, hospitals, pharmacies, "
        "markets, city entry points, aid distributors). City figures; no personal "
        "data.",
    ),
    "lang_switch": ("English", "Bahasa Indonesia"),
    "table_view": ("Tabel", "Table"),
    "date": ("Tanggal", "Date"),
}


def text(key: str, lang: Lang) -> str:
    """The label `key` in `lang` (KeyError on an unknown key: a template typo fails the tests)."""
    return TEXT[key][LANGS.index(lang)]


def number(value: float | None, lang: Lang, decimals: int = 0) -> str:
    """1.234,5 (id) or 1,234.5 (en); an en dash for no value."""
    if value is None:
        return "–"
    s = f"{value:,.{decimals}f}"
    return s.translate(str.maketrans(",.", ".,")) if lang == "id" else s


def percent(ratio: float | None, lang: Lang, decimals: int = 1) -> str:
    """67,5 % (id) or 67.5% (en) for 0.675; an en dash for no value."""
    if ratio is None:
        return "–"
    return f"{number(ratio * 100, lang, decimals)}{' %' if lang == 'id' else '%'}"


def rupiah(value: float | None, lang: Lang) -> str:
    """Rp 10.500 (id) or Rp 10,500 (en)."""
    return "–" if value is None else f"Rp {number(value, lang)}"


def day(d: date, lang: Lang, *, year: bool = True) -> str:
    """5 Des 2026 (id) / 5 Dec 2026 (en); without the year for chart ticks."""
    s = f"{d.day} {MONTHS[lang][d.month - 1]}"
    return f"{s} {d.year}" if year else s


def tidy(name: str) -> str:
    """A stored identifier as a label: stasiun-tawang → Stasiun tawang."""
    words = name.replace("_", " ").replace("-", " ").split()
    return " ".join(words)[:1].upper() + " ".join(words)[1:] if words else name
