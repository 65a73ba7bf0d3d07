"""Plotly figure specs for the pages: the district base map and the live theme panels.

Figures are plain plotly JSON dicts (``{"data": [...], "layout": {...}}``) so they are cheap to
rebuild every second and go straight to ``Plotly.react`` in the page. The map uses the project's
own district GeoJSON with plotly's `geo` projection (no tile server, works offline); the page
overlays incidents, units and cell heat on it from the live state.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dashboard.state import TERMINAL, DashboardState

LANGS = ("zh", "en")

CATEGORY_LABELS: dict[str, tuple[str, str]] = {
    "waterlogging": ("内涝", "Waterlogging"), "fire": ("火情", "Fire"), "air_pollution": ("空气污染", "Air pollution"),
    "traffic": ("交通", "Traffic"), "crowd": ("人群聚集", "Crowd"), "pipe_burst": ("爆管", "Pipe burst"),
    "manhole": ("井盖", "Manhole"), "noise": ("噪声", "Noise"), "sanitation": ("环境卫生", "Sanitation"),
    "public_safety": ("公共安全", "Public safety"), "other": ("其他", "Other"),
}

_FG = "#c9d4e3"
_GRID = "rgba(120,140,170,0.15)"
_FONT = "Noto Sans CJK SC, Microsoft YaHei, PingFang SC, WenQuanYi Micro Hei, sans-serif"
SEVERITY_COLORS = {1: "#4fc3f7", 2: "#ffd54f", 3: "#ff8a3d", 4: "#ff3b3b"}


def category_label(cat: str, lang: str) -> str:
    pair = CATEGORY_LABELS.get(cat)
    return (pair[0] if lang == "zh" else pair[1]) if pair else cat


@dataclass(frozen=True)
class Geo:
    """The district geometry the figures draw: ids in file order, names in both languages, bounds."""

    geojson: dict[str, Any]
    ids: list[str]
    names: dict[str, tuple[str, str]]
    bounds: dict[str, tuple[float, float, float, float]]  # id -> (min lon, min lat, max lon, max lat)

    @classmethod
    def load(cls, path: Path) -> "Geo":
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        ids, names, bounds = [], {}, {}
        for i, feat in enumerate(data["features"]):
            props = feat.setdefault("properties", {})
            did = str(props.get("id") or props.get("adcode") or i)
            props["id"] = did
            ids.append(did)
            names[did] = (str(props.get("name", did)), str(props.get("name_en", props.get("name", did))))
            bounds[did] = _bounds(feat["geometry"])
        return cls(data, ids, names, bounds)

    def name(self, did: str, lang: str) -> str:
        pair = self.names.get(did)
        return (pair[0] if lang == "zh" else pair[1]) if pair else did


def _bounds(geometry: dict[str, Any]) -> tuple[float, float, float, float]:
    xs: list[float] = []
    ys: list[float] = []

    def walk(c: Any) -> None:
        if c and isinstance(c[0], (int, float)):
            xs.append(float(c[0]))
            ys.append(float(c[1]))
        else:
            for sub in c:
                walk(sub)

    walk(geometry["coordinates"])
    return (min(xs), min(ys), max(xs), max(ys))


def _layout(**extra: Any) -> dict[str, Any]:
    base = {
        "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)",
        "font": {"color": _FG, "family": _FONT, "size": 12},
        "margin": {"l": 40, "r": 10, "t": 8, "b": 36}, "showlegend": False,
    }
    base.update(extra)
    return base


def base_map(geo: Geo) -> dict[str, Any]:
    """The district map without live layers: choropleth outlines, fitted to the city, both languages."""
    trace = {
        "type": "choropleth", "geojson": geo.geojson, "featureidkey": "properties.id",
        "locations": geo.ids, "z": [0] * len(geo.ids), "zmin": 0, "zmax": 1,
        "colorscale": [[0, "#13233a"], [1, "#1f4f7a"]], "showscale": False,
        "marker": {"line": {"color": "#3f6f9f", "width": 1.2}},
        "text": [geo.name(d, "zh") for d in geo.ids], "hoverinfo": "text", "name": "districts",
    }
    minx = min(b[0] for b in geo.bounds.values())
    miny = min(b[1] for b in geo.bounds.values())
    maxx = max(b[2] for b in geo.bounds.values())
    maxy = max(b[3] for b in geo.bounds.values())
    layout = _layout(
        margin={"l": 0, "r": 0, "t": 0, "b": 0}, dragmode="pan", uirevision="map",
        geo={"projection": {"type": "mercator"}, "visible": False, "bgcolor": "rgba(0,0,0,0)",
             "lonaxis": {"range": [minx, maxx]}, "lataxis": {"range": [miny, maxy]},
             "center": {"lon": (minx + maxx) / 2, "lat": (miny + maxy) / 2}},
    )
    return {"data": [trace], "layout": layout,
            "meta": {"names": {d: list(geo.names[d]) for d in geo.ids},
                     "bounds": {d: list(b) for d, b in geo.bounds.items()},
                     "city_bounds": [minx, miny, maxx, maxy]}}


def _local_ms(ts: float, utc_offset_h: float) -> float:
    """Plotly date axes show epoch milliseconds as UTC; shift so they read as the city's local time."""
    return (ts + utc_offset_h * 3600.0) * 1000.0


def _bars_with_trend(x: list[str], y: list[float | None], colors: list[str], unit: str,
                     hist_ts: list[float], hist: list[float | None], trend_color: str) -> dict[str, Any]:
    """District bars on the left, the city trend over the last hour on the right."""
    data = [
        {"type": "bar", "x": x, "y": y, "marker": {"color": colors}, "hovertemplate": f"%{{x}}: %{{y}} {unit}<extra></extra>"},
        {"type": "scatter", "mode": "lines", "x": hist_ts, "y": hist, "xaxis": "x2", "yaxis": "y2",
         "line": {"color": trend_color, "width": 2}, "fill": "tozeroy", "fillcolor": "rgba(79,195,247,0.08)",
         "hovertemplate": f"%{{y}} {unit}<extra></extra>", "connectgaps": True},
    ]
    layout = _layout(
        xaxis={"domain": [0, 0.6], "tickangle": -40, "tickfont": {"size": 10}, "gridcolor": _GRID},
        yaxis={"gridcolor": _GRID, "zeroline": False, "title": {"text": unit, "font": {"size": 10}}},
        xaxis2={"domain": [0.68, 1], "type": "date", "gridcolor": _GRID, "tickfont": {"size": 9}, "nticks": 3,
                "tickformat": "%H:%M"},
        yaxis2={"anchor": "x2", "gridcolor": _GRID, "zeroline": False, "tickfont": {"size": 9}},
    )
    return {"data": data, "layout": layout}


def _kind_by_district(state: DashboardState, geo: Geo, kind: str, stat: str) -> list[float | None]:
    out = []
    for did in geo.ids:
        m = state.metrics.get(did)
        v = m["kinds"].get(kind, {}).get(stat) if m else None
        out.append(round(v, 2) if v is not None else None)
    return out


def _band(v: float | None, bands: list[tuple[float, str]], none: str = "#44546a") -> str:
    if v is None:
        return none
    for limit, color in bands:
        if v <= limit:
            return color
    return bands[-1][1]


_PM25_BANDS = [(35, "#3ddc84"), (75, "#ffd54f"), (115, "#ff8a3d"), (150, "#ff3b3b"), (1e9, "#b455ff")]
_WATER_BANDS = [(0.1, "#4fc3f7"), (0.25, "#ffd54f"), (0.4, "#ff8a3d"), (1e9, "#ff3b3b")]
_SPEED_BANDS = [(15, "#ff3b3b"), (25, "#ff8a3d"), (35, "#ffd54f"), (1e9, "#3ddc84")]


def _history(state: DashboardState, name: str) -> tuple[list[float], list[float | None]]:
    """The city series `name` over the last hour, times as local-time milliseconds for plotly."""
    h = state.history
    return ([_local_ms(t, state.utc_offset_h) for t in h.ts], list(h.series.get(name, [None] * len(h.ts))))


def water_panel(state: DashboardState, geo: Geo, lang: str) -> dict[str, Any]:
    y = _kind_by_district(state, geo, "water_level", "max")
    ts, hist = _history(state, "water_level.max")
    return _bars_with_trend([geo.name(d, lang) for d in geo.ids], y, [_band(v, _WATER_BANDS) for v in y],
                            "m", ts, hist, "#4fc3f7")


def air_panel(state: DashboardState, geo: Geo, lang: str) -> dict[str, Any]:
    y = _kind_by_district(state, geo, "pm25", "mean")
    ts, hist = _history(state, "pm25.mean")
    return _bars_with_trend([geo.name(d, lang) for d in geo.ids], y, [_band(v, _PM25_BANDS) for v in y],
                            "µg/m³", ts, hist, "#ffd54f")


def traffic_panel(state: DashboardState, geo: Geo, lang: str) -> dict[str, Any]:
    y = _kind_by_district(state, geo, "traffic_speed", "mean")
    ts, hist = _history(state, "traffic_speed.mean")
    return _bars_with_trend([geo.name(d, lang) for d in geo.ids], y, [_band(v, _SPEED_BANDS) for v in y],
                            "km/h", ts, hist, "#3ddc84")


_SAFETY_CATEGORIES = ("crowd", "public_safety", "fire", "traffic")


def safety_panel(state: DashboardState, geo: Geo, lang: str) -> dict[str, Any]:
    """Video events per district, with open video-backed incidents stacked by category."""
    x = [geo.name(d, lang) for d in geo.ids]
    video = [state.metrics.get(d, {}).get("video_events", 0) for d in geo.ids]
    open_by = {c: Counter() for c in _SAFETY_CATEGORIES}
    for v in state.incidents.values():
        if v["status"] not in TERMINAL and "video" in v["sources"] and v["category"] in open_by:
            open_by[v["category"]][v["district"]] += 1
    palette = {"crowd": "#b455ff", "public_safety": "#ff5c8a", "fire": "#ff3b3b", "traffic": "#ff8a3d"}
    data: list[dict[str, Any]] = [{"type": "bar", "x": x, "y": video, "name": "video", "marker": {"color": "#2e6da4"},
                                   "hovertemplate": "%{x}: %{y}<extra></extra>"}]
    for cat, counts in open_by.items():
        data.append({"type": "bar", "x": x, "y": [counts.get(d, 0) for d in geo.ids], "yaxis": "y2",
                     "name": category_label(cat, lang), "marker": {"color": palette[cat]}, "opacity": 0.9})
    layout = _layout(barmode="stack", showlegend=True, margin={"l": 30, "r": 30, "t": 22, "b": 36},
                     legend={"orientation": "h", "y": 1.22, "x": 0, "font": {"size": 10}},
                     xaxis={"tickangle": -40, "tickfont": {"size": 10}},
                     yaxis={"gridcolor": _GRID, "domain": [0, 1]},
                     yaxis2={"overlaying": "y", "side": "right", "showgrid": False, "rangemode": "tozero"})
    return {"data": data, "layout": layout}


def hotline_panel(state: DashboardState, geo: Geo, lang: str) -> dict[str, Any]:
    """Hotline hot spots: top categories (left) and top grid cells (right) over the metrics window."""
    cats: Counter = Counter()
    cells: Counter = Counter()
    for m in state.metrics.values():
        for row in m.get("hotline_top", []):
            n = int(row.get("count", 0) or 0)
            if row.get("category"):
                cats[str(row["category"])] += n
            if row.get("cell"):
                cells[f"{row['cell']} · {geo.name(m['district'], lang)}"] += n
    top_c = cats.most_common(6)[::-1]
    top_cells = cells.most_common(6)[::-1]
    data = [
        {"type": "bar", "orientation": "h", "y": [category_label(c, lang) for c, _ in top_c], "x": [n for _, n in top_c],
         "marker": {"color": "#ff8a3d"}, "hovertemplate": "%{y}: %{x}<extra></extra>"},
        {"type": "bar", "orientation": "h", "y": [c for c, _ in top_cells], "x": [n for _, n in top_cells],
         "xaxis": "x2", "yaxis": "y2", "marker": {"color": "#ffd54f"}, "hovertemplate": "%{y}: %{x}<extra></extra>"},
    ]
    layout = _layout(margin={"l": 70, "r": 10, "t": 8, "b": 24},
                     xaxis={"domain": [0, 0.42], "gridcolor": _GRID},
                     xaxis2={"domain": [0.68, 1], "gridcolor": _GRID},
                     yaxis={"tickfont": {"size": 10}}, yaxis2={"anchor": "x2", "tickfont": {"size": 9}})
    return {"data": data, "layout": layout}


PANELS = {"water": water_panel, "air": air_panel, "traffic": traffic_panel,
          "safety": safety_panel, "hotline": hotline_panel}


def panels(state: DashboardState, geo: Geo) -> dict[str, dict[str, Any]]:
    """Every theme panel in both languages: {"zh": {name: figure}, "en": {...}}."""
    return {lang: {name: fn(state, geo, lang) for name, fn in PANELS.items()} for lang in LANGS}


def sensor_chart(alert: dict[str, Any], utc_offset_h: float = 8.0) -> dict[str, Any] | None:
    """The sensor values around an anomaly: the alert's own series if a detector attached one
    (``details.series: [[ts, value], ...]``), else the values of its successive re-emissions
    (``points``, kept by the state), against the detector's expected value."""
    d = alert.get("details") or {}
    pts: list[tuple[float, Any]] = []
    if isinstance(d.get("series"), list):
        pts = [(float(p[0]), p[1]) for p in d["series"] if isinstance(p, (list, tuple)) and len(p) >= 2]
    elif alert.get("points"):
        pts = [(float(t), v) for t, v in alert["points"]]
    if not pts:
        return None
    data: list[dict[str, Any]] = [{"type": "scatter", "mode": "lines+markers", "x": [_local_ms(t, utc_offset_h) for t, _ in pts],
                                   "y": [v for _, v in pts], "line": {"color": "#4fc3f7"}, "marker": {"size": 4},
                                   "name": "value"}]
    shapes = []
    start = d.get("episode_start")
    if isinstance(start, (int, float)):
        x0 = _local_ms(start, utc_offset_h)
        shapes.append({"type": "line", "x0": x0, "x1": x0, "yref": "paper", "y0": 0, "y1": 1,
                       "line": {"color": "#ff3b3b", "dash": "dot"}})
    for key in ("expected", "baseline", "threshold"):
        if isinstance(d.get(key), (int, float)):
            shapes.append({"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": d[key], "y1": d[key],
                           "line": {"color": "#ffd54f", "dash": "dash", "width": 1}})
    return {"data": data, "layout": _layout(shapes=shapes, margin={"l": 40, "r": 10, "t": 6, "b": 28},
                                            xaxis={"type": "date", "gridcolor": _GRID, "tickformat": "%H:%M:%S"},
                                            yaxis={"gridcolor": _GRID, "title": {"text": str(d.get("unit", ""))}})}


def district_summary(state: DashboardState) -> dict[str, dict[str, int]]:
    """Open incidents per district and priority, for the map's district tint."""
    out: dict[str, dict[str, int]] = defaultdict(lambda: {"open": 0, "p1": 0, "breaches": 0})
    for v in state.incidents.values():
        if v["status"] in TERMINAL:
            continue
        s = out[v["district"]]
        s["open"] += 1
        s["p1"] += v["priority"] == 1
        s["breaches"] += bool(v["sla_breaches"])
    return dict(out)
