"""Protocol mechanics: sequence numbers, replay on resume, per-client coalescing and overflow."""

from __future__ import annotations

import json

from dashboard.protocol import ClientQueue, Hub, ReplayBuffer, deltas_frame, encode_item


def _items(frame: bytes) -> list[dict]:
    msg = json.loads(frame)
    assert msg["type"] == "deltas"
    return msg["items"]


def test_hub_numbers_deltas_and_coalesces_staged_by_key():
    hub = Hub()
    q = ClientQueue()
    hub.clients.add(q)
    hub.publish([("incident", "incident:a", {"v": 1}), ("incident", "incident:b", {"v": 1})])
    hub.publish([("incident", "incident:a", {"v": 2})])
    assert hub.seq == 3 and hub.staged == 2
    assert hub.flush() == 2
    frame, snap = q.take()
    items = _items(frame)
    assert not snap
    assert [(i["key"], i["seq"], i["data"]["v"]) for i in items] == [("incident:b", 2, 1), ("incident:a", 3, 2)]
    assert q.take() == (None, False)


def test_idle_client_gets_the_shared_frame_and_busy_client_a_merged_one():
    hub = Hub()
    idle, busy = ClientQueue(), ClientQueue()
    hub.clients |= {idle, busy}
    hub.publish([("incident", "incident:a", {"v": 1})])
    hub.flush()
    idle.take()  # idle sent its frame; busy has not
    hub.publish([("incident", "incident:a", {"v": 2}), ("kpis", "kpis", {"n": 1})])
    hub.flush()
    f_idle, _ = idle.take()
    f_busy, _ = busy.take()
    assert [i["data"] for i in _items(f_idle)] == [{"v": 2}, {"n": 1}]
    assert [i["data"] for i in _items(f_busy)] == [{"v": 2}, {"n": 1}]  # the stale v=1 was coalesced away
    assert busy.coalesced == 1


def test_slow_client_overflow_turns_into_a_snapshot_request_and_stays_bounded():
    q = ClientQueue(max_pending=5)
    for i in range(6):
        q.offer([(f"incident:{i}", encode_item(i + 1, "incident", f"incident:{i}", {}))])
    assert len(q) == 0 and q.overflows == 1
    q.offer([("incident:x", b"{}")])  # ignored: the snapshot will carry it
    assert q.take() == (None, True)
    assert q.take() == (None, False)


def test_replay_buffer_resumes_or_asks_for_snapshot():
    buf = ReplayBuffer(size=4)
    for seq in range(1, 7):
        buf.append(seq, f"k{seq % 2}", encode_item(seq, "incident", f"k{seq % 2}", {"seq": seq}))
    # buffer holds 3..6; a client at 4 needs 5 and 6 (one per key)
    got = [json.loads(b)["seq"] for b in buf.since(4, 6)]
    assert got == [5, 6]
    assert [json.loads(b)["seq"] for b in buf.since(2, 6)] == [5, 6]  # 3..6 coalesced by key
    assert buf.since(1, 6) is None  # seq 2 is gone
    assert buf.since(6, 6) == []


def test_hub_resume_decisions():
    hub = Hub(replay_items=3)
    for i in range(5):
        hub.publish([("incident", f"incident:{i}", {"i": i})])
    assert hub.resume(None) is None
    assert hub.resume(99) is None  # a sequence from another server run
    assert hub.resume(1) is None
    frames = hub.resume(3)
    assert [i["seq"] for i in _items(frames[0])] == [4, 5]
    assert hub.resume(5) == []


def test_deltas_frame_is_valid_json():
    f = deltas_frame([encode_item(1, "incident", "incident:a", {"why": "水位 \"高\""})])
    assert json.loads(f)["items"][0]["data"]["why"] == '水位 "高"'
