"""The city page rendered: figures (central/web/city.py) → charts and labels → Jinja2 template.

Server-rendered on purpose: the page needs no script, no font and no request but its own, so it
reads the same on a phone over a weak link, on the operations room's 1366×768 screen, in a
browser with JavaScript off, and when printed. The template is `templates/city.html`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from central.web import city_i18n as i18n
from central.web.city import MAX_DAYS, AidItem, CityFigures, Commodity
from central.web.city_charts import Series, bars, colours, grouped_bars, line_chart, stacked_bars
from central.web.city_i18n import Lang

WINDOW_CHOICES = (7, 28, MAX_DAYS)
_ENV = Environment(
    loader=PackageLoader("central.web", "templates"),
    autoescape=select_autoescape(("html",)),
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True, slots=True)
class Links:
    """Where the page links to (the dashboard, the day's report, open data)."""

    dashboard: str = "/dashboard"
    report: str | None = None
    opendata: str | None = None


def _aligned(days: list[date], points: dict[date, float | None]) -> list[float | None]:
    return [points.get(d) for d in days]


def _cases(f: CityFigures, lang: Lang, labels: list[str]) -> dict[str, Any] | None:
    if not f.cases:
        return None
    t = lambda k: i18n.text(k, lang)  # noqa: E731
    days = f.window.days
    keys = ("confirmed", "active", "recovered", "deaths")
    series = [Series(t(k), _aligned(days, {c.day: getattr(c, k) for c in f.cases}), colour)
              for k, colour in zip(keys, colours(4), strict=True)]  # fmt: skip
    rate = Series(t("recovery_rate"), _aligned(days, {c.day: c.recovery_rate for c in f.cases}))
    latest, first = f.cases[-1], f.cases[0]
    return {
        "latest": latest, "first": first, "new": latest.confirmed - first.confirmed,
        "series": series,
        "chart": line_chart(t("cases_over_time"), labels, series, lambda v: i18n.number(v, lang)),
        "rate_chart": line_chart(t("recovery_over_time"), labels, [rate],
                                 lambda v: i18n.percent(v, lang, 0), top=1.0),
        "rows": list(reversed(f.cases)),
    }  # fmt: skip


def _entries(f: CityFigures, lang: Lang, labels: list[str]) -> dict[str, Any] | None:
    e = f.entries
    if not e.per_day:
        return None
    num: Callable[[float], str] = lambda v: i18n.number(v, lang)  # noqa: E731
    per_day = dict(e.per_day)
    names = [i18n.tidy(p) for p in e.points]
    series = [Series(n, [(per_day.get(d) or {}).get(p) for d in f.window.days], c)
              for p, n, c in zip(e.points, names, colours(len(e.points)), strict=True)]  # fmt: skip
    return {
        "total": e.total, "series": series, "points": list(zip(e.points, names, strict=True)),
        "per_day": list(reversed(e.per_day)),
        "chart": stacked_bars(i18n.text("entries_per_day", lang), labels, series, num),
        "by_point": bars(i18n.text("entries_by_point", lang), names,
                         [e.by_point[p] for p in e.points], num,
                         missing=i18n.text("no_data", lang)),
    }  # fmt: skip


def _commodity(c: Commodity, f: CityFigures, lang: Lang, labels: list[str]) -> dict[str, Any]:
    markets = sorted(c.prices)
    series = [Series(m, _aligned(f.window.days, dict(c.prices[m])), col)
              for m, col in zip(markets, colours(len(markets)), strict=True)]  # fmt: skip
    name = i18n.tidy(c.name)
    return {
        "name": name, "unit": c.unit, "series": series, "newest": c.newest, "stock": c.stock,
        # axis in plain numbers (Rp per unit said beside the chart): narrow screens keep them
        "price_chart": line_chart(f"{name}: {i18n.text('price_per_market', lang)} (Rp/{c.unit})",
                                  labels, series, lambda v: i18n.number(v, lang)),
        "stock_chart": bars(f"{name}: {i18n.text('stock_per_market', lang)}",
                            [m.market_name for m in c.newest], [m.stock for m in c.newest],
                            lambda v: f"{i18n.number(v, lang)} {c.unit}",
                            missing=i18n.text("no_data", lang)),
    }  # fmt: skip


def _aid(item: AidItem, lang: Lang) -> dict[str, Any]:
    sources = list(item.received)
    names = [i18n.text(s, lang) for s in sources]
    series = [Series(i18n.text("received", lang), [item.received[s] for s in sources], "#1f6feb"),
              Series(i18n.text("distributed", lang), [item.distributed[s] for s in sources],
                     "#1a7f37")]  # fmt: skip
    name = i18n.tidy(item.item)
    return {
        "name": name, "unit": item.unit, "series": series,
        "rows": [(n, item.received[s], item.distributed[s]) for s, n in zip(sources, names,
                                                                            strict=True)],
        "chart": grouped_bars(f"{name} ({item.unit})", names, series,
                       lambda v: f"{i18n.number(v, lang)} {item.unit}"),
    }  # fmt: skip


def render_city(f: CityFigures, lang: Lang, *, days: int, links: Links = Links()) -> str:
    """The whole page as HTML."""
    labels = [i18n.day(d, lang, year=False) for d in f.window.days]

    def t(key: str) -> str:
        return i18n.text(key, lang)

    return _ENV.get_template("city.html").render(
        lang=lang, other="en" if lang == "id" else "id", days=days, choices=WINDOW_CHOICES,
        window=f.window, links=links, t=t,
        num=lambda v, d=0: i18n.number(v, lang, d), pct=lambda v, d=1: i18n.percent(v, lang, d),
        rp=lambda v: i18n.rupiah(v, lang), day=lambda d: i18n.day(d, lang), tidy=i18n.tidy,
        cases=_cases(f, lang, labels), entries=_entries(f, lang, labels),
        staples=[_commodity(c, f, lang, labels) for c in f.staples],
        aid=[_aid(a, lang) for a in f.aid], beds=f.beds, pharmacies=f.pharmacies,
        swatch=lambda colour: Markup('<span class="sw" style="background:{}"></span>').format(
            colour),
    )  # fmt: skip
