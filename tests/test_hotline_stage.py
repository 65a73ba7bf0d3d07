"""Hotline merging, hot spots, routing and the stage the worker runs, on small synthetic calls."""

from __future__ import annotations

import json
import random

import pytest

from detectors.hotline import CallMerger, HotlineClassifier, HotlineStage, HotspotDetector, Router
from detectors.hotline.hotspots import nb_tail
from streams.schemas import HotlineCall
from streams.validation import MAX_MESSAGE_BYTES, Validator

T0 = 1_700_000_000.0
CATS = {
    "waterlogging": ["{p}路口积水很深，车都过不去了", "{p}下大雨水淹到膝盖", "{p}隧道里积水，有车熄火"],
    "fire": ["{p}有栋楼着火了，冒很大黑烟", "{p}一家餐馆起火，火很大", "{p}仓库失火了，快派消防车"],
    "noise": ["{p}工地半夜施工，噪音吵得睡不着", "{p}广场舞音响太吵了", "{p}酒吧每晚音乐很响"],
    "other": ["{p}社保卡怎么补办", "{p}的路灯坏了好久", "{p}物业乱收费想投诉"],
}
PLACES = ["天河区体育西", "越秀区北京路", "海珠区江南西", "白云区三元里", "番禺区市桥"]


def neighbours(cell: str) -> list[str]:
    r, c = int(cell[1:4]), int(cell[5:8])
    return [f"r{r + dr:03d}c{c + dc:03d}" for dr in (-1, 0, 1) for dc in (-1, 0, 1)]


@pytest.fixture(scope="module")
def classifier() -> HotlineClassifier:
    rng = random.Random(0)
    texts, labels = [], []
    for lab, temps in CATS.items():
        for _ in range(10):
            texts.append(rng.choice(temps).format(p=rng.choice(PLACES)))
            labels.append(lab)
    return HotlineClassifier(self_training=False, word_features=False).fit(texts, labels)


def call(i: int, text: str, ts: float, cell: str | None = "r010c010", district: str | None = "440106") -> HotlineCall:
    return HotlineCall(call_id=f"c{i}", ts=ts, text=text, cell=cell, district=district)


# -- merging -----------------------------------------------------------------------------------------

def test_merger_keeps_every_call_id_exactly_once() -> None:
    rng = random.Random(3)
    m = CallMerger(neighbours, window_s=1800)
    ids = []
    for i in range(600):
        cat = rng.choice(list(CATS))
        text = rng.choice(CATS[cat]).format(p=rng.choice(PLACES)) + rng.choice(["", "！", "谢谢"])
        cell = rng.choice(["r010c010", "r010c011", "r020c020", None])
        m.add(f"id{i}", T0 + i * 10, text, cell, rng.choice(["A", "B", None]), cat, confident=rng.random() < 0.7)
        ids.append(f"id{i}")
        if i % 50 == 0:
            m.add(f"id{max(0, i - 3)}", T0 + i * 10, text, cell)  # at-least-once redelivery
    live = [cid for s in m.signals.values() for cid in s.call_ids]
    expired = [cid for s in m.expire(T0 + 10**6) for cid in s.call_ids]
    assert not m.signals
    all_ids = live if not expired else expired
    assert sorted(all_ids) == sorted(ids)  # each once: no loss, no duplicate
    assert len(set(all_ids)) == len(all_ids)
    assert m.merged_calls > 100  # it really merged


def test_merger_rules_place_time_text() -> None:
    m = CallMerger(neighbours, window_s=600)
    a, _ = m.add("a", T0, "体育西路口积水很深，车都过不去了", "r010c010", "A", "waterlogging")
    b, _ = m.add("b", T0 + 60, "体育西路口积水很深，车都过不去了！！", "r010c011", "A", "waterlogging")
    assert b is a and a.count == 2  # same text, neighbouring cell
    far, _ = m.add("c", T0 + 60, "体育西路口积水很深，车都过不去了", "r030c030", "A", "waterlogging")
    assert far is not a  # same text, far away
    late, _ = m.add("d", T0 + 5000, "体育西路口积水很深，车都过不去了", "r010c010", "A", "waterlogging")
    assert late is not a  # same text and place, but the signal went quiet for longer than the window
    other, _ = m.add("e", T0 + 70, "有家餐馆起火，火很大黑烟滚滚", "r010c010", "A", "fire")
    assert other is not a
    same_kind, _ = m.add("f", T0 + 80, "我们这边水淹到膝盖了", "r010c010", "A", "waterlogging", confident=True)
    m2, _ = m.add("g", T0 + 90, "隧道水浸，好深", "r010c011", "A", "waterlogging", confident=True)
    assert m2 is same_kind  # different words, same confident category, adjacent cells
    x1, _ = m.add("h", T0, "社保卡丢了怎么补办", None, None, "other")
    x2, _ = m.add("i", T0 + 30, "社保卡丢了怎么补办呢", None, None, "other")
    assert x1 is x2 and x1.scope == "city"  # no place: merged by text alone
    again, changed = m.add("a", T0 + 100, "体育西路口积水很深，车都过不去了", "r010c010", "A", "waterlogging")
    assert again is a and not changed and a.count == 2


# -- hot spots ---------------------------------------------------------------------------------------

def test_nb_tail_matches_scipy() -> None:
    from scipy.stats import nbinom

    for x, r, p in [(3, 2.0, 0.7), (10, 0.5, 0.9), (1, 5.0, 0.2)]:
        assert nb_tail(x, r, p) == pytest.approx(nbinom.sf(x - 1, r, p), rel=1e-9)


def test_hotspot_burst_raised_but_flat_baseline_quiet() -> None:
    det = HotspotDetector(window_s=3600, min_count=3)
    rng = random.Random(1)
    bursts = []
    # Four weeks of a steady background: ~1 noise call every 2 h per cell in 20 cells.
    t = T0
    n = 0
    while t < T0 + 28 * 86400:
        t += rng.expovariate(10 / 3600)
        cell = f"r{rng.randrange(20):03d}c000"
        n += 1
        if det.observe(cell, "noise", t, f"b{n}") is not None:
            bursts.append(cell)
    assert not bursts  # a flat baseline never raises
    # Then 8 calls within 30 minutes in one cell.
    got = [det.observe("r005c000", "noise", t + 200 * k, f"x{k}") for k in range(1, 9)]
    raised = [b for b in got if b is not None]
    assert raised and raised[-1].count >= 6
    assert len({b.burst_id for b in raised}) == 1  # one burst, growing
    assert set(raised[-1].call_ids) >= {f"x{k}" for k in range(3, 9)}


def test_hotspot_uses_the_place_own_baseline() -> None:
    det = HotspotDetector(window_s=3600, min_count=3)
    rng = random.Random(4)
    t = T0
    # Two weeks: a busy cell gets ~6 traffic calls an hour, ten quiet cells ~1 a day each.
    while t < T0 + 14 * 86400:
        t += rng.expovariate(7 / 3600)
        place = "busy" if rng.random() < 6 / 7 else f"quiet{rng.randrange(10)}"
        got = det.observe(place, "traffic", t, f"b{t}")
        assert got is None or t < T0 + 86400, (place, got)  # after a day of learning: no false alarm
    seven_busy = [det.observe("busy", "traffic", t + 60 * k, f"nb{k}") for k in range(1, 8)]
    seven_quiet = [det.observe("quiet3", "traffic", t + 60 * k, f"nq{k}") for k in range(1, 8)]
    assert all(b is None for b in seven_busy)  # 7 an hour is the busy cell's normal
    assert any(b is not None for b in seven_quiet)  # but not the quiet one's


# -- routing -----------------------------------------------------------------------------------------

def test_router_defaults_overrides_and_fallback() -> None:
    r = Router()
    assert r.route("waterlogging").department == "市水务局"
    assert r.route("劳动和社会保障").department == "市人力资源和社会保障局"
    assert r.route("城乡建设", "安全生产").department == "市应急管理局"
    assert r.route("城乡建设/安全生产").category == "public_safety"
    fb = r.route("no such label")
    assert fb.matched == "" and fb.category == "other" and fb.department
    city = Router.from_records([{"label": "noise", "department": "区环保分局", "queue": "夜间噪声"},
                                {"label": "路灯", "department": "市城管局", "queue": "照明", "category": "other"}])
    assert city.route("noise").department == "区环保分局" and city.route("noise").category == "noise"
    assert city.route("路灯").queue == "照明"
    assert city.route("fire").department == r.route("fire").department  # defaults kept
    with pytest.raises(ValueError):
        Router({"x": {"department": "d", "category": "not_a_category"}})
    with pytest.raises(ValueError):
        Router.from_records([{"department": "d"}])


# -- the stage ---------------------------------------------------------------------------------------

def test_stage_merges_routes_and_reports_every_call_once(classifier: HotlineClassifier) -> None:
    stage = HotlineStage(classifier, Router(), neighbours, flush_s=0.0)
    calls = [call(i, "体育西路口积水很深，车都过不去了" + "！" * (i % 3), T0 + i * 20) for i in range(7)]
    calls.append(call(100, "北京路有栋楼着火了，冒很大黑烟", T0 + 30, cell="r040c040", district="440104"))
    calls.append(call(101, "社保卡怎么补办", T0 + 40, cell=None, district=None))
    alerts = stage.process(calls, T0 + 200) + stage.tick(T0 + 300) + stage.tick(T0 + 10**6)
    signals = {}
    for a in alerts:
        assert a.source == "hotline" and a.kind == "operational"
        if not a.details.get("hotspot"):
            signals[a.alert_id] = a  # later emissions of the same alert replace earlier ones
    final_ids = [cid for a in signals.values() for cid in a.message_ids]
    assert sorted(final_ids) == sorted(c.call_id for c in calls)
    water = [a for a in signals.values() if a.category == "waterlogging"]
    assert len(water) == 1 and water[0].details["count"] == 7
    assert water[0].details["department"] == "市水务局" and water[0].subject_id.startswith("sig-")
    fire = [a for a in signals.values() if a.category == "fire"]
    assert fire and fire[0].severity >= 3 and fire[0].cell == "r040c040"
    assert any(a.cell == "" and a.message_ids == ["c101"] for a in signals.values())


def test_stage_redelivery_and_hostile_text_never_crash(classifier: HotlineClassifier) -> None:
    stage = HotlineStage(classifier, Router(), neighbours)
    huge = "积水" * 10_000  # the schema's maximum length
    odd = "\x01\x02" + "🙂" * 50 + "\u200b" * 100
    calls = [call(1, huge, T0), call(2, odd, T0 + 1), call(3, "a", T0 + 2, cell=None, district=None)]
    alerts = stage.process(calls, T0 + 5)
    assert {cid for a in alerts for cid in a.message_ids} == {"c1", "c2", "c3"}
    assert stage.process(calls, T0 + 6) == []  # redelivered: nothing new
    assert stage.process([], T0 + 7) == []


def test_stage_survives_a_broken_classifier(classifier: HotlineClassifier) -> None:
    class Broken:
        def predict_many(self, texts):
            raise RuntimeError("boom")

        def predict(self, text):
            raise RuntimeError("boom")

    stage = HotlineStage(Broken(), Router(), neighbours)  # type: ignore[arg-type]
    alerts = stage.process([call(1, "路口积水", T0)], T0)
    assert alerts and alerts[0].category == "other" and alerts[0].details["needs_human"]
    assert stage.stats["classifier_errors"] == 1


def test_stage_raises_a_hotspot_alert(classifier: HotlineClassifier) -> None:
    stage = HotlineStage(classifier, Router(), neighbours, hotspot_window_s=3600, min_count=4)
    rng = random.Random(2)
    t = T0
    for i in range(400):  # two days of scattered background calls
        t += 400
        cell = f"r{rng.randrange(30):03d}c{rng.randrange(30):03d}"
        stage.process([call(i, rng.choice(CATS["noise"]).format(p="某处"), t, cell=cell)], t)
    burst = []
    for k in range(10):
        burst += stage.process([call(1000 + k, f"体育西路口积水很深{k}号车熄火了", t + 60 * k, cell="r050c050")], t)
    hot = [a for a in burst if a.details.get("hotspot")]
    assert hot and hot[-1].category == "waterlogging" and hot[-1].cell == "r050c050"
    assert hot[-1].details["count"] >= 4 and hot[-1].subject_id == "hotspot:r050c050:waterlogging"


def test_stage_rejects_unknown_parameters(classifier: HotlineClassifier) -> None:
    with pytest.raises(TypeError):
        HotlineStage(classifier, Router(), neighbours, no_such_knob=1)


# -- validation: what never reaches the stage --------------------------------------------------------

@pytest.mark.parametrize("text,reason", [
    ("", "text"),
    ("   ", "blank"),
    ("\x00\x01\x02\x03" * 50, "binary"),
    ("x" * 20_001, "text"),
])
def test_bad_texts_become_dead_letters_with_reasons(text: str, reason: str) -> None:
    v = Validator("r", "v", "city.hotline.calls")
    raw = json.dumps({"call_id": "c1", "ts": T0, "text": text}).encode()
    out = v.hotline(raw, now=T0 + 1)
    assert not out.good and len(out.refused) == 1
    dl = out.refused[0]
    assert dl.topic == "city.hotline.calls" and reason in dl.reason


def test_one_megabyte_and_binary_messages_become_dead_letters() -> None:
    v = Validator("r", "v", "city.hotline.calls")
    big = json.dumps({"call_id": "c1", "ts": T0, "text": "积" * (MAX_MESSAGE_BYTES // 3 + 10)}).encode()
    out = v.hotline(big, now=T0)
    assert not out.good and "bytes" in out.refused[0].reason
    out = v.hotline(bytes(range(256)) * 10, now=T0)
    assert not out.good and "JSON" in out.refused[0].reason
    out = v.hotline(b"", now=T0)
    assert not out.good and "empty" in out.refused[0].reason
