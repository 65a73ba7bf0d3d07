"""Figure specs are valid plotly figures and show what the state holds."""

from __future__ import annotations

import plotly.graph_objects as go

from dashboard import figures
from dashboard.state import DashboardState
from streams.schemas import Alert
from tests.dashboard_helpers import GEOJSON, incident, metrics

T0 = 1_800_000_000.0


def _state() -> DashboardState:
    s = DashboardState(wall=lambda: T0)
    for k in range(3):
        s.apply_metrics(metrics("440104", ts=T0 + 10 * k, kinds={"pm25": {"mean": 40.0 + k, "max": 90.0}}))
        s.aggregates()
    s.apply_incident(incident("a", opened_at=T0, sources=["video", "sensor"], category="crowd"))
    return s


def test_base_map_has_every_district_and_their_bounds():
    geo = figures.Geo.load(GEOJSON)
    fig = figures.base_map(geo)
    go.Figure(data=fig["data"], layout=fig["layout"])  # raises on any invalid property
    assert fig["data"][0]["locations"] == geo.ids and len(geo.ids) == 11
    assert set(fig["meta"]["bounds"]) == set(geo.ids)
    lo_x, lo_y, hi_x, hi_y = fig["meta"]["city_bounds"]
    assert 112 < lo_x < hi_x < 115 and 22 < lo_y < hi_y < 24.5  # Guangzhou
    assert fig["meta"]["names"]["440104"] == ["越秀区", "Yuexiu"]


def test_panels_are_valid_in_both_languages_and_carry_live_values():
    geo = figures.Geo.load(GEOJSON)
    s = _state()
    panels = figures.panels(s, geo)
    assert set(panels) == {"zh", "en"} and set(panels["zh"]) == set(figures.PANELS)
    for lang in panels:
        for name, fig in panels[lang].items():
            go.Figure(data=fig["data"], layout=fig["layout"])
    air = panels["zh"]["air"]["data"]
    idx = geo.ids.index("440104")
    assert air[0]["y"][idx] == 41.0 and air[0]["x"][idx] == "越秀区"  # merged over the last minute
    assert air[1]["y"] == [40.0, 40.5, 41.0]  # the city trend
    assert panels["en"]["air"]["data"][0]["x"][idx] == "Yuexiu"
    crowd = next(t for t in panels["en"]["safety"]["data"] if t.get("name") == "Crowd")
    assert crowd["y"][idx] == 1


def test_sensor_chart_from_alert_points_and_expected_value():
    s = DashboardState(wall=lambda: T0)
    s.apply_incident(incident("a", opened_at=T0))
    for k, v in enumerate([0.05, 0.12, 0.3]):
        s.apply_alert(Alert(alert_id="a-a1", ts=T0 + 60 * k, source="sensor", kind="operational", category="waterlogging",
                            cell="c", district="440104", lat=23.1, lon=113.3, score=0.5, reason="rise",
                            details={"value": v, "expected": 0.05, "unit": "m", "episode_start": T0}))
    alert = s.incident_detail("a")["alerts"][0]
    chart = figures.sensor_chart(alert, utc_offset_h=8.0)
    go.Figure(data=chart["data"], layout=chart["layout"])
    assert chart["data"][0]["y"] == [0.05, 0.12, 0.3]
    assert chart["data"][0]["x"][0] == (T0 + 8 * 3600) * 1000  # shown in Guangzhou time
    assert any(sh["y0"] == 0.05 for sh in chart["layout"]["shapes"])
    assert figures.sensor_chart({"details": {}, "ts": T0}) is None
