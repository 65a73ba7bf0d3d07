"""Fusion: corroboration rules, attachment, evidence bookkeeping, severity, merge/split, determinism."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.fusion import DEFAULT_RULES, CategoryRule, FusionConfig, Fuser, incident_id_for
from streams.schemas import Alert

T0 = 1_790_000_000.0


def grid_neighbours(cell: str) -> list[str]:
    """Cells `r<row>c<col>` on an unbounded grid, one ring, itself included."""
    r, c = int(cell[1:4]), int(cell[5:8])
    return [f"r{r + dr:03d}c{c + dc:03d}" for dr in (-1, 0, 1) for dc in (-1, 0, 1)]


def alert(aid: str, source: str = "sensor", category: str = "waterlogging", cell: str = "r010c010",
          ts: float = T0, score: float = 0.95, severity: int = 2, subject: str | None = None,
          ids: list[str] | None = None, kind: str = "operational", **details) -> Alert:
    if source == "sensor":
        details.setdefault("excess", 0.1)  # a clear rise in the kind's unit, unless a test says otherwise
    return Alert(alert_id=aid, ts=ts, source=source, kind=kind, category=category, cell=cell, district="d1",
                 lat=23.1, lon=113.3, score=score, severity=severity, reason=f"{source} {aid}",
                 subject_id=subject if subject is not None else aid,
                 message_ids=ids if ids is not None else [f"m-{aid}"], details=details)


def fuser(**rules: CategoryRule) -> Fuser:
    cfg = FusionConfig()
    cfg.rules.update(rules)
    return Fuser(neighbours=grid_neighbours, config=cfg)


def test_lone_uncorroborated_sensor_never_opens() -> None:
    f = fuser()
    assert f.add(alert("s1", corroborated=False, agreeing_sensors=[]), T0) == []
    assert f.add(alert("s1", ids=["m-s1", "m-s1b"], score=0.99, severity=4), T0 + 60) == []
    assert f.incidents() == []
    assert f.where("s1") is not None and f.where("s1").startswith("pending")


def test_two_agreeing_sensors_open_and_third_attaches() -> None:
    f = fuser()
    assert f.add(alert("s1"), T0) == []
    ups = f.add(alert("s2", cell="r010c011", ts=T0 + 30), T0 + 30)
    assert len(ups) == 1
    inc = ups[0]
    assert inc.incident_id == incident_id_for("s1")
    assert inc.revision == 1 and {e.alert_id for e in inc.evidence} == {"s1", "s2"}
    assert "2 sensors" in inc.why and inc.opened_at == T0 + 30
    ups = f.add(alert("v1", source="video", cell="r011c011", ts=T0 + 90), T0 + 90)
    assert [u.incident_id for u in ups] == [inc.incident_id] and ups[0].revision == 2
    assert ups[0].sources == ["sensor", "video"] and len(f.incidents()) == 1


def test_agreeing_neighbours_count_only_when_trusted() -> None:
    f = fuser()
    assert f.add(alert("s1", corroborated=True, agreeing_sensors=["s9"]), T0) == []
    cfg = FusionConfig(trust_agreeing=True)
    g = Fuser(neighbours=grid_neighbours, config=cfg)
    assert len(g.add(alert("s1", corroborated=True, agreeing_sensors=["s9"]), T0)) == 1


def test_multi_source_opens_immediately_and_min_calls_configurable() -> None:
    f = fuser(noise=CategoryRule(min_calls=3))
    assert f.add(alert("h1", source="hotline", category="noise", ids=["c1", "c2"]), T0) == []
    ups = f.add(alert("h1", source="hotline", category="noise", ids=["c1", "c2", "c3"]), T0 + 5)
    assert len(ups) == 1 and ups[0].evidence[0].message_ids == ["c1", "c2", "c3"]
    g = fuser()
    g.add(alert("s1", category="fire"), T0)
    ups = g.add(alert("h1", source="hotline", category="fire", ids=["c1"]), T0 + 10)
    assert len(ups) == 1 and ups[0].sources == ["sensor", "hotline"]


def test_rainfall_supports_but_never_opens() -> None:
    f = fuser()
    for i in range(5):
        assert f.add(alert(f"r{i}", cell=f"r010c01{i}", sensor_kind="rainfall"), T0 + i) == []
    assert f.incidents() == []


def test_far_away_or_late_evidence_opens_separately() -> None:
    f = fuser()
    f.add(alert("s1"), T0)
    a = f.add(alert("s2"), T0 + 1)[0]
    f.add(alert("s3", cell="r020c020", ts=T0 + 2), T0 + 2)
    b = f.add(alert("s4", cell="r020c020", ts=T0 + 3), T0 + 3)[0]
    assert a.incident_id != b.incident_id
    late = T0 + 4 * 3600
    f.add(alert("s5", ts=late), late)
    c = f.add(alert("s6", ts=late + 1), late + 1)[0]
    assert c.incident_id not in (a.incident_id, b.incident_id)


def test_other_category_does_not_join_but_affine_does() -> None:
    f = fuser()
    f.add(alert("s1"), T0)
    inc = f.add(alert("s2"), T0 + 1)[0]
    assert f.add(alert("t1", category="traffic"), T0 + 2) == []
    ups = f.add(alert("p1", category="pipe_burst", source="hotline"), T0 + 3)
    assert ups[0].incident_id == inc.incident_id and ups[0].category == "pipe_burst"


def test_affine_evidence_joins_only_within_the_shorter_window() -> None:
    # a pipe burst (2 h window) gone quiet for 2.5 h does not swallow standing water (given a 3 h window)
    # at the same place: that is a new event; the water's own kind still joins within its 3 h
    water = replace(DEFAULT_RULES["waterlogging"], window_s=3 * 3600)
    f = fuser(waterlogging=water)
    f.add(alert("p1", category="pipe_burst", source="video", frames=5, camera_id="c1"), T0)
    burst = f.add(alert("p2", category="pipe_burst", source="hotline"), T0 + 1)[0]
    later = T0 + 2.5 * 3600
    ups = f.add(alert("w1", source="hotline", ts=later), later)
    assert all(u.incident_id != burst.incident_id for u in ups)
    assert f.where("w1") != f.where("p1")
    g = fuser(waterlogging=water)
    g.add(alert("s1"), T0)
    flood = g.add(alert("s2"), T0 + 1)[0]
    ups = g.add(alert("s3", ts=later), later)
    assert ups and ups[0].incident_id == flood.incident_id


def test_reemitted_alert_updates_evidence_not_duplicates() -> None:
    f = fuser()
    f.add(alert("s1"), T0)
    f.add(alert("s2"), T0 + 1)
    ups = f.add(alert("h1", source="hotline", ids=["c1", "c2"]), T0 + 2)
    again = f.add(alert("h1", source="hotline", ids=["c1", "c2"]), T0 + 3)
    assert again == []  # redelivery changes nothing
    grown = f.add(alert("h1", source="hotline", ids=["c2", "c3", "c3"]), T0 + 4)[0]
    items = [e for e in grown.evidence if e.alert_id == "h1"]
    assert len(items) == 1 and items[0].message_ids == ["c1", "c2", "c3"]
    assert grown.revision == ups[0].revision + 1


def test_severity_never_drops() -> None:
    f = fuser()
    f.add(alert("s1", severity=4, score=0.9), T0)
    first = f.add(alert("s2", severity=1), T0 + 1)[0]
    sevs = [first.severity]
    for i in range(5):
        sevs += [u.severity for u in f.add(alert(f"x{i}", severity=1, score=0.1, source="hotline"), T0 + 2 + i)]
    assert sevs == sorted(sevs) and sevs[0] == 4


def test_severity_rises_with_independent_sources() -> None:
    f = fuser()
    f.add(alert("s1", severity=2), T0)
    a = f.add(alert("s2", severity=2), T0 + 1)[0]
    b = f.add(alert("v1", source="video", severity=2), T0 + 2)[0]
    c = f.add(alert("h1", source="hotline", severity=2), T0 + 3)[0]
    assert (a.severity, b.severity, c.severity) == (2, 3, 4)
    assert a.confidence < b.confidence < c.confidence and c.priority == 1


def test_maintenance_alert_refused() -> None:
    f = fuser()
    assert f.add(alert("f1", kind="maintenance", category="sensor_fault"), T0) == []
    assert f.refused and f.refused[0][0] == "f1"


def _two_incidents() -> tuple[Fuser, str, str]:
    f = fuser()
    f.add(alert("s1"), T0)
    a = f.add(alert("s2"), T0 + 1)[0].incident_id
    f.add(alert("s3", cell="r030c030"), T0 + 2)
    b = f.add(alert("s4", cell="r030c030", severity=3), T0 + 3)[0].incident_id
    return f, a, b


def _state(f: Fuser) -> dict[str, tuple]:
    return {u.incident_id: (u.severity, u.category, tuple((e.alert_id, tuple(e.message_ids)) for e in u.evidence))
            for u in f.incidents()}


def test_merge_then_split_is_reversible() -> None:
    f, a, b = _two_incidents()
    before = _state(f)
    merged = f.apply_merge(a, b)
    assert [u.incident_id for u in merged] == [b] and len(merged[0].evidence) == 4
    assert [u.incident_id for u in f.incidents()] == [b]
    # later evidence near the merged-away incident goes to the survivor
    ups = f.add(alert("s1", ids=["m-s1", "m-s1x"]), T0 + 5)
    assert ups[0].incident_id == b
    f2, a2, b2 = _two_incidents()
    f2.apply_merge(a2, b2)
    split = f2.apply_split(b2, ["s1", "s2"], a2)
    assert {u.incident_id for u in split} == {a2, b2}
    assert _state(f2) == before
    assert f2.apply_merge(a2, a2) == [] and f2.apply_split(b2, ["nope"], "INC-x") == []


def test_split_off_new_incident_and_later_evidence_follows_alert() -> None:
    f, a, _ = _two_incidents()
    f.add(alert("h1", source="hotline", ids=["c1"]), T0 + 4)
    ups = f.apply_split(a, ["h1"], "INC-split-1")
    assert {u.incident_id for u in ups} == {a, "INC-split-1"}
    grown = f.add(alert("h1", source="hotline", ids=["c1", "c2"]), T0 + 6)
    assert grown[0].incident_id == "INC-split-1"


def _stream(seed_alerts: list[tuple[int, int, int, int, int]]) -> list[Alert]:
    """Small alert streams from integers: (alert no., source, cell offset, dt, id growth)."""
    out = []
    t = T0
    sources = ["sensor", "video", "hotline"]
    for n, src, off, dt, grow in seed_alerts:
        t += dt
        ids = [f"m{n}-{k}" for k in range(grow + 1)]
        out.append(alert(f"a{n}", source=sources[src], cell=f"r010c{10 + off:03d}", ts=t, ids=ids,
                         subject=f"sub{n}", score=0.5 + 0.1 * src))
    return out


STREAMS = st.lists(st.tuples(st.integers(0, 6), st.integers(0, 2), st.integers(0, 6), st.integers(0, 900),
                             st.integers(0, 3)), min_size=1, max_size=30)


@settings(max_examples=60, deadline=None)
@given(STREAMS)
def test_evidence_ids_never_lost_or_duplicated(spec) -> None:
    f = fuser()
    sent: dict[str, set[str]] = {}
    for a in _stream(spec):
        f.add(a, a.ts)
        sent.setdefault(a.alert_id, set()).update(a.message_ids)
    seen: dict[str, list[str]] = {}
    for inc in f.incidents():
        for e in inc.evidence:
            assert e.alert_id not in seen, "an alert appears in two incidents"
            assert len(e.message_ids) == len(set(e.message_ids))
            seen[e.alert_id] = e.message_ids
    for aid, ids in sent.items():
        where = f.where(aid)
        assert where is not None
        if aid in seen:
            assert set(seen[aid]) == ids
        else:
            assert where.startswith("pending")


@settings(max_examples=30, deadline=None)
@given(STREAMS)
def test_deterministic_for_a_given_input_order(spec) -> None:
    def run() -> list[str]:
        f = fuser()
        return [u.model_dump_json() for a in _stream(spec) for u in f.add(a, a.ts)]

    assert run() == run()


def test_supporting_evidence_never_opens_but_joins_and_raises_confidence() -> None:
    f = fuser(traffic=CategoryRule())  # two agreeing sensors suffice
    for i in range(3):
        assert f.add(alert(f"p{i}", source="video", category="traffic", subject=f"cam{i}", supporting=True),
                     T0 + i) == []
    assert f.add(alert("s1", category="traffic", corroborated=False), T0 + 10) == []
    ups = f.add(alert("s2", category="traffic"), T0 + 20)
    assert len(ups) == 1 and ups[0].sources == ["sensor", "video"] and len(ups[0].evidence) == 5
    plain = fuser(traffic=CategoryRule())
    plain.add(alert("s1", category="traffic"), T0 + 10)
    assert ups[0].confidence > plain.add(alert("s2", category="traffic"), T0 + 20)[0].confidence


def test_rings_per_category_widen_the_cluster() -> None:
    f = fuser(air_pollution=CategoryRule(window_s=6 * 3600, rings=3))
    f.add(alert("p1", category="air_pollution"), T0)
    ups = f.add(alert("p2", category="air_pollution", cell="r013c010"), T0 + 60)  # 3 rings away
    assert len(ups) == 1 and len(ups[0].evidence) == 2
    g = fuser(air_pollution=CategoryRule(window_s=6 * 3600, rings=2))
    g.add(alert("p1", category="air_pollution"), T0)
    assert g.add(alert("p2", category="air_pollution", cell="r013c010"), T0 + 60) == []


def test_persistent_track_opens_but_a_glimpse_only_supports() -> None:
    f = fuser(fire=CategoryRule(min_frames=4))
    assert f.add(alert("g1", source="video", category="fire", ids=["e1"], frames=1), T0) == []
    assert f.add(alert("g2", source="video", category="fire", ids=["e2"], frames=1, subject="cam2"), T0 + 5) == []
    assert f.incidents() == []  # two single-frame glimpses by two cameras: not enough
    ups = f.add(alert("t1", source="video", category="fire", ids=[f"f{i}" for i in range(4)], frames=4,
                      subject="cam3"), T0 + 10)
    assert len(ups) == 1 and len(ups[0].evidence) == 3


def test_routine_calls_open_only_as_a_hot_spot_when_configured() -> None:
    f = fuser(noise=CategoryRule(min_calls=0, hotspot_opens=True))
    ids = [f"c{i}" for i in range(6)]
    assert f.add(alert("h1", source="hotline", category="noise", ids=ids), T0) == []
    ups = f.add(alert("hs1", source="hotline", category="noise", ids=ids[:5], hotspot=True), T0 + 60)
    assert len(ups) == 1 and ups[0].category == "noise"


def test_no_chaining_across_the_city_and_supporting_evidence_does_not_stretch() -> None:
    f = fuser(traffic=CategoryRule())
    f.add(alert("s1", category="traffic"), T0)
    inc = f.add(alert("s2", category="traffic"), T0 + 1)[0].incident_id
    # parked cars step by step away from the incident, and later in time
    for k in range(1, 6):
        f.add(alert(f"p{k}", source="video", category="traffic", cell=f"r010c{10 + k:03d}", ts=T0 + k * 3000,
                    supporting=True), T0 + k * 3000)
    # a jam far along that chain, hours later, is a new incident, not evidence of the old one
    f.add(alert("s3", category="traffic", cell="r010c015", ts=T0 + 15_000), T0 + 15_000)
    ups = f.add(alert("s4", category="traffic", cell="r010c015", ts=T0 + 15_001), T0 + 15_001)
    assert ups and ups[0].incident_id != inc
    # a chain of real evidence stops at twice the radius from where the incident began
    g = fuser(traffic=CategoryRule())
    g.add(alert("a0", category="traffic"), T0)
    first = g.add(alert("a1", category="traffic", cell="r010c011"), T0 + 1)[0].incident_id
    g.add(alert("a2", category="traffic", cell="r010c012"), T0 + 2)
    g.add(alert("a3", category="traffic", cell="r010c013"), T0 + 3)
    assert g.where("a2") == first and g.where("a3") != first


def test_routine_calls_never_open_by_default() -> None:
    f = fuser()
    ids = [f"c{i}" for i in range(6)]
    assert f.add(alert("h1", source="hotline", category="sanitation", ids=ids), T0) == []
    assert f.add(alert("hs1", source="hotline", category="sanitation", ids=ids, hotspot=True), T0 + 60) == []


def test_faint_smoke_alone_never_opens_a_fire_but_a_call_or_a_second_clear_detector_does() -> None:
    f = fuser()  # cooking puffs: three detectors reading a little (0.05 %/m over their usual)
    assert f.add(alert("smoke1", category="fire", excess=0.05), T0) == []
    assert f.add(alert("smoke2", category="fire", cell="r010c011", ts=T0 + 30, excess=0.05), T0 + 30) == []
    assert f.add(alert("smoke3", category="fire", cell="r011c011", ts=T0 + 40, excess=0.05), T0 + 40) == []
    ups = f.add(alert("call1", source="hotline", category="fire", ts=T0 + 60), T0 + 60)
    assert len(ups) == 1 and ups[0].category == "fire" and set(ups[0].sources) == {"hotline", "sensor"}
    g = fuser()  # one detector reading clearly is a fault or a pan: it waits
    assert g.add(alert("smoke1", category="fire", score=1.0, excess=0.3), T0) == []
    ups = g.add(alert("smoke2", category="fire", cell="r010c011", score=0.95, ts=T0 + 30, excess=0.2), T0 + 30)
    assert len(ups) == 1 and ups[0].sources == ["sensor"]  # a second clear one beside it: smouldering


def test_near_threshold_sensors_side_by_side_do_not_open_but_a_clear_rise_does() -> None:
    f = fuser()
    assert f.add(alert("s1", score=0.5), T0) == []
    assert f.add(alert("s2", cell="r010c011", score=0.55, ts=T0 + 30), T0 + 30) == []
    assert f.incidents() == []
    # one of them grows into a clear rise: still only one strong sensor
    assert f.add(alert("s1", score=0.97, ids=["m-s1", "m-s1b"], ts=T0 + 60), T0 + 60) == []
    ups = f.add(alert("s2", cell="r010c011", score=0.95, ids=["m-s2", "m-s2b"], ts=T0 + 90), T0 + 90)
    assert len(ups) == 1 and {e.alert_id for e in ups[0].evidence} == {"s1", "s2"}
    # a weak sensor still counts as a source next to a camera
    g = fuser()
    g.add(alert("s1", score=0.5), T0)
    assert len(g.add(alert("v1", source="video", frames=2, ts=T0 + 10), T0 + 10)) == 1


def test_calls_the_classifier_is_unsure_of_only_support() -> None:
    f = fuser()
    assert f.add(alert("h1", source="hotline", category="public_safety", ids=["c1", "c2", "c3"],
                       probability=0.35), T0) == []
    assert f.incidents() == []
    assert len(f.add(alert("h2", source="hotline", category="public_safety", ids=["c4", "c5"],
                           probability=0.9, ts=T0 + 5), T0 + 5)) == 1


def test_air_pollution_calls_alone_never_open() -> None:
    f = fuser()
    assert f.add(alert("h1", source="hotline", category="air_pollution", ids=["c1", "c2", "c3"],
                       probability=0.95), T0) == []
    ups = f.add(alert("p1", category="air_pollution", cell="r011c012", ts=T0 + 60), T0 + 60)
    assert len(ups) == 1 and ups[0].sources == ["sensor", "hotline"]


def test_one_clear_drain_opens_only_beside_pouring_rain_gauges() -> None:
    f = fuser()
    assert f.add(alert("wl1", score=0.97, sensor_kind="water_level"), T0) == []
    assert f.incidents() == []  # one drain alone: a tide, a blockage or a fault
    ups = f.add(alert("rain1", cell="r010c011", ts=T0 + 60, sensor_kind="rainfall"), T0 + 60)
    assert len(ups) == 1 and {e.alert_id for e in ups[0].evidence} == {"wl1", "rain1"}
    g = fuser()
    g.add(alert("wl1", score=0.6, sensor_kind="water_level"), T0)  # a near-threshold drift stays pending
    assert g.add(alert("rain1", cell="r010c011", ts=T0 + 60, sensor_kind="rainfall"), T0 + 60) == []


def test_three_fairly_clear_pm25_stations_open_two_do_not() -> None:
    f = fuser()
    for i, cell in enumerate(("r010c010", "r012c013")):
        assert f.add(alert(f"p{i}", category="air_pollution", cell=cell, score=0.82, ts=T0 + i, excess=20.0),
                     T0 + i) == []
    ups = f.add(alert("p2", category="air_pollution", cell="r014c011", score=0.83, ts=T0 + 9, excess=20.0), T0 + 9)
    assert len(ups) == 1 and len(ups[0].evidence) == 3
    g = fuser()
    for i, cell in enumerate(("r010c010", "r012c013", "r014c011")):
        assert g.add(alert(f"p{i}", category="air_pollution", cell=cell, score=0.7, ts=T0 + i), T0 + i) == []
    h = fuser()  # clear scores, but none of the stations held 15 µg/m³ above its usual level: a puff
    for i, cell in enumerate(("r010c010", "r012c013", "r014c011")):
        puff = alert(f"p{i}", category="air_pollution", cell=cell, score=1.0, ts=T0 + i, excess=8.0)
        assert h.add(puff, T0 + i) == []


def test_isolated_sensor_counts_as_a_source_only_when_configured() -> None:
    smoke = dict(category="sensor_fault", kind="maintenance", sensor_kind="smoke", isolated=True,
                 event_category="fire")
    call = dict(source="hotline", category="fire", cell="r010c011", ts=T0 + 60, probability=0.95)
    f = fuser()
    assert f.add(alert("smoke1", **smoke), T0) == []
    assert f.add(alert("call1", **call), T0 + 60) == []  # by default a maintenance alert stays out
    g = Fuser(neighbours=grid_neighbours, config=FusionConfig(isolated_evidence=True))
    assert g.add(alert("smoke1", **smoke), T0) == []  # an isolated sensor alone never opens
    ups = g.add(alert("call1", **call), T0 + 60)
    assert len(ups) == 1 and ups[0].category == "fire" and ups[0].sources == ["sensor", "hotline"]
    # a fault diagnosis (no event category) is refused even when configured
    h = Fuser(neighbours=grid_neighbours, config=FusionConfig(isolated_evidence=True))
    h.add(alert("stuck1", category="sensor_fault", kind="maintenance", sensor_kind="smoke", isolated=True), T0)
    assert h.add(alert("call1", **call), T0 + 60) == [] and h.where("stuck1") is None


def test_a_new_fire_after_half_an_hour_of_silence_is_a_new_incident() -> None:
    # the default fire rule, as the pipeline runs it: a fire whose evidence went quiet 40 min ago does
    # not swallow calls and a camera seeing smoke two streets away (within its two rings)
    f = Fuser(neighbours=grid_neighbours)
    first = f.add(alert("c1", source="hotline", category="fire", ts=T0, ids=["m1", "m2"]), T0)
    assert len(first) == 1
    later = T0 + 2400
    f.add(alert("c2", source="hotline", category="fire", cell="r012c011", ts=later, ids=["m3", "m4"]), later)
    assert f.where("c2") != f.where("c1")
    assert {u.incident_id for u in f.incidents()} == {f.where("c1"), f.where("c2")}
    # while it burns, evidence minutes apart stays one incident
    f.add(alert("v1", source="video", category="fire", cell="r011c011", ts=later + 300, frames=5), later + 300)
    assert f.where("v1") == f.where("c2")


def test_one_counter_far_above_its_usual_count_opens_a_rush_hour_does_not() -> None:
    f = fuser()  # counters alone open a crowd incident only on a rise far beyond a rush hour's
    kw = dict(category="crowd", sensor_kind="passenger_flow", episode_start=T0)
    assert f.add(alert("pf1", excess=150.0, **kw), T0) == []
    ups = f.add(alert("pf1", excess=260.0, ts=T0 + 240, **kw), T0 + 240)  # the same counter, filling up
    assert len(ups) == 1 and [e.alert_id for e in ups[0].evidence] == ["pf1"]
    g = fuser()  # an isolated counter (its neighbours read normally) never opens on its size alone
    assert g.add(alert("pf2", excess=900.0, isolated=True, **kw), T0) == []
    h = fuser()  # a rise that took an hour to get there is a drifting counter, not a surge
    assert h.add(alert("pf3", excess=400.0, ts=T0 + 3600, **kw), T0 + 3600) == []
    assert fuser(crowd=CategoryRule(min_sensors=0, min_calls=3)).add(alert("pf4", excess=900.0, **kw), T0) == []


def test_drains_alone_open_only_when_one_held_well_above_its_usual_level() -> None:
    f = fuser()  # a shower lifts two drains 1 cm: both score 1.0, no flood
    assert f.add(alert("wl1", score=1.0, sensor_kind="water_level", excess=0.01), T0) == []
    assert f.add(alert("wl2", cell="r010c011", score=1.0, sensor_kind="water_level", excess=0.012), T0 + 60) == []
    ups = f.add(alert("wl2", cell="r010c011", score=1.0, sensor_kind="water_level", excess=0.04), T0 + 180)
    assert len(ups) == 1 and {e.alert_id for e in ups[0].evidence} == {"wl1", "wl2"}
    g = fuser()  # the rule's size condition is per category: traffic speed has none
    g.add(alert("ts1", category="traffic", sensor_kind="traffic_speed", excess=0.0), T0)
    g.add(alert("ts2", category="traffic", cell="r010c011", sensor_kind="traffic_speed", excess=0.0), T0)
    assert len(g.add(alert("ts3", category="traffic", cell="r011c011", sensor_kind="traffic_speed"), T0)) == 1

def test_a_new_flood_after_two_quiet_hours_is_a_new_incident() -> None:
    # the default waterlogging rule: the street flooded, the water went, and the next downpour floods it
    # again 2.5 h later; the second flood is its own incident, not a revision of the first
    f = Fuser(neighbours=grid_neighbours)
    f.add(alert("w1", sensor_kind="water_level"), T0)
    assert len(f.add(alert("w2", cell="r010c011", sensor_kind="water_level", ts=T0 + 60), T0 + 60)) == 1
    later = T0 + 60 + 2.5 * 3600
    f.add(alert("w3", sensor_kind="water_level", ts=later), later)
    f.add(alert("w4", cell="r010c011", sensor_kind="water_level", ts=later + 60), later + 60)
    assert f.where("w3") == f.where("w4") != f.where("w1")
    assert len(f.incidents()) == 2
    # while the water stands, evidence an hour apart stays one incident
    f.add(alert("h1", source="hotline", ts=later + 3660, ids=["m9"]), later + 3660)
    assert f.where("h1") == f.where("w3")


def test_isolated_evidence_can_be_switched_on_for_one_category() -> None:
    counter = dict(category="sensor_fault", kind="maintenance", sensor_kind="passenger_flow", isolated=True,
                   event_category="crowd")
    smoke = dict(counter, sensor_kind="smoke", event_category="fire")
    call = dict(source="hotline", cell="r010c011", ts=T0 + 60, probability=0.95)
    f = fuser(crowd=replace(DEFAULT_RULES["crowd"], isolated_evidence=True))
    assert f.add(alert("pf1", **counter), T0) == []
    ups = f.add(alert("call1", category="crowd", **call), T0 + 60)
    assert len(ups) == 1 and ups[0].category == "crowd" and ups[0].sources == ["sensor", "hotline"]
    # other categories keep the config-wide default: an isolated smoke sensor stays out of a fire
    assert f.add(alert("smoke1", **smoke), T0) == []
    assert f.add(alert("call2", category="fire", **call), T0 + 60) == [] and f.where("smoke1") is None


def test_a_sensor_still_alerting_keeps_its_pending_evidence_alive() -> None:
    # a PM2.5 station re-emits its alert as its episode goes on: a call 2.5 h after the episode began
    # (past the 2 h window from its first reading, within it from its latest) joins it and opens
    f = Fuser(neighbours=grid_neighbours)
    pm = dict(category="air_pollution", sensor_kind="pm25", score=1.0, excess=40.0)
    for minutes in (0, 30, 60, 90):
        assert f.add(alert("pm1", ts=T0 + 60 * minutes, **pm), T0 + 60 * minutes) == []
    later = T0 + 150 * 60
    ups = f.add(alert("call1", source="hotline", category="air_pollution", ts=later, probability=0.95), later)
    assert len(ups) == 1 and {e.alert_id for e in ups[0].evidence} == {"pm1", "call1"}
    g = Fuser(neighbours=grid_neighbours)  # the same station alerting once, then silent: the call is new
    g.add(alert("pm1", **pm), T0)
    assert g.add(alert("call1", source="hotline", category="air_pollution", ts=later, probability=0.95), later) == []


def test_one_caller_the_classifier_is_sure_of_opens_where_the_rule_says_so() -> None:
    rule = replace(DEFAULT_RULES["pipe_burst"], sure_call=0.98)
    call = dict(source="hotline", category="pipe_burst")
    f = fuser(pipe_burst=rule)
    ups = f.add(alert("c1", probability=0.99, **call), T0)
    assert len(ups) == 1 and ups[0].sources == ["hotline"]
    g = fuser(pipe_burst=rule)  # a call the classifier is less sure of waits for a second signal
    assert g.add(alert("c1", probability=0.9, **call), T0) == []
    h = fuser(pipe_burst=replace(rule, sure_call=0.0))  # off: one call is never enough
    assert h.add(alert("c1", probability=0.99, **call), T0) == []
    k = fuser(pipe_burst=rule)  # a sure call of another category does not open this one's cluster
    assert k.add(alert("c1", source="hotline", category="noise", probability=0.99), T0) == []
