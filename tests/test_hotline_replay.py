"""Replay of hotline exports: column mappings, relocation onto the city, time compression, Kafka output."""

from __future__ import annotations

import json

from cityops.cli import main
from streams import catalog
from streams.hotline_replay import MAPPINGS, ReplayStats, calls_from_rows, detect_mapping, read_export, relocator, replay
from streams.schemas import HotlineCall
from streams.tools import tail

BOSTON = ("CASE_ENQUIRY_ID,OPEN_DT,CASE_TITLE,TYPE,QUEUE,Location,neighborhood,LATITUDE,LONGITUDE,Source\n"
          "1,2015-01-01 00:20:09,Street Light Outages,Street Light Outages,PWDx,1 A St,Downtown,42.3574,-71.0648,App\n"
          "2,2015-01-01 00:10:00,Pothole,Request for Pothole Repair,PWDx,2 B St,Fenway,42.3474,-71.0944,Call\n"
          "3,not a date,Pothole,Request for Pothole Repair,PWDx,3 C St,Fenway,42.34,-71.09,Call\n"
          "4,2015-01-01 01:00:00,,Request for Pothole Repair,PWDx,4 D St,Fenway,42.30,-71.05,Call\n"
          "5,2015-01-01 02:00:00,Graffiti,Graffiti Removal,PROP,5 E St,Roxbury,,,Call\n")
TEDDY = "留言编号,留言用户,留言主题,留言时间,留言详情\n7,u,小区积水,2019-05-01 10:00:00,下雨后小区门口积水很深\n"


def test_mapping_detection_and_bad_rows(tmp_path) -> None:
    f = tmp_path / "b.csv"
    f.write_text(BOSTON, encoding="utf-8-sig")
    header, rows = read_export(f)
    m = detect_mapping(header)
    assert m.name == "boston311"
    stats = ReplayStats()
    calls = list(calls_from_rows(rows, m, stats))
    assert [c.call_id for c in calls] == ["boston311-2", "boston311-1", "boston311-5"]  # time order
    assert stats.refused["bad or missing time"] == 1
    assert sum(stats.refused.values()) == 2  # the empty title is refused with its reason, not lost
    assert calls[0].lat == 42.3474 and calls[2].lat is None and calls[0].channel == "Call"
    g = tmp_path / "t.csv"
    g.write_bytes(TEDDY.encode("gb18030"))
    header, rows = read_export(g)
    assert detect_mapping(header) is MAPPINGS["teddycup"]
    (c,) = calls_from_rows(rows, MAPPINGS["teddycup"], ReplayStats())
    assert c.text.startswith("小区积水。") and c.lang == "zh"


def test_relocation_lands_inside_the_box() -> None:
    move = relocator([(42.30, -71.10), (42.40, -71.00), (42.35, -71.05)], (113.0, 22.5, 114.0, 23.5))
    lat, lon = move(42.35, -71.05)
    assert 22.5 < lat < 23.5 and 113.0 < lon < 114.0
    a, b = move(42.30, -71.10), move(42.40, -71.00)
    assert a[0] < b[0] and a[1] < b[1]  # keeps the layout


def test_replay_compresses_time_and_rebases() -> None:
    calls = [HotlineCall(call_id=f"c{i}", ts=1_400_000_000 + 60 * i, text="x") for i in range(4)]
    now = [1_800_000_000.0]
    slept = []
    sent = []
    stats = replay(iter(calls), lambda k, v: sent.append((k, json.loads(v))), ReplayStats(), speed=60.0,
                   clock=lambda: now[0], sleep=lambda s: (slept.append(s), now.__setitem__(0, now[0] + s)))
    assert stats.sent == 4 and [k for k, _ in sent] == ["none"] * 4
    assert [round(v["ts"] - 1_800_000_000.0, 6) for _, v in sent] == [0.0, 1.0, 2.0, 3.0]
    assert [round(s, 6) for s in slept] == [1.0, 1.0, 1.0]


def test_replay_command_dry_run_and_kafka(tmp_path, broker, capsys) -> None:
    f = tmp_path / "b.csv"
    f.write_text(BOSTON, encoding="utf-8")
    out = tmp_path / "calls.jsonl"
    assert main(["replay", "hotline", "--csv", str(f), "--speed", "0", "--out", str(out)]) == 0
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 3 and "refused 2" in capsys.readouterr().out
    located = [x for x in lines if x["value"]["cell"]]
    assert located and all(x["key"] == x["value"]["cell"] for x in located)  # keyed by cell, moved onto the city
    assert main(["replay", "hotline", "--csv", str(f), "--speed", "0", "--bootstrap", broker]) == 0
    got = [json.loads(line) for line in tail(broker, catalog.HOTLINE_CALLS.name, from_beginning=True,
                                              idle_timeout=3.0)]
    ids = {g.get("call_id") or g.get("value", {}).get("call_id") for g in got}
    assert {"boston311-1", "boston311-2", "boston311-5"} <= ids
