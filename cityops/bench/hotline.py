"""`cityops bench hotline`: calls per second classified, routed and merged by the hotline stage on one core."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

from detectors.hotline import CallMerger, HotlineStage, Router
from detectors.hotline.dedup import shingles
from streams.hotline_model import seed_rows, train_seed
from streams.schemas import HotlineCall

PLACES = ["天河区", "越秀区", "海珠区", "荔湾区", "白云区", "黄埔区", "番禺区", "花都区", "南沙区", "从化区", "增城区"]
T0 = 1_750_000_000.0


def synthetic_calls(n: int, rate_per_s: float = 50.0, cells: int = 2000, seed: int = 0) -> list[HotlineCall]:
    """Calls built from the seed texts with varied places, openers and cells, at `rate_per_s` event time."""
    rng = random.Random(seed)
    texts, _ = seed_rows()
    out = []
    t = T0
    for i in range(n):
        t += rng.expovariate(rate_per_s)
        base = rng.choice(texts)
        text = rng.choice(["", "喂，", "你好，", "麻烦一下，"]) + base.replace("天河区", rng.choice(PLACES)) \
            + rng.choice(["", "。", "！", f"，{rng.randrange(1, 300)}号附近"])
        cell = f"r{rng.randrange(int(cells ** 0.5)):03d}c{rng.randrange(int(cells ** 0.5)):03d}"
        out.append(HotlineCall(call_id=f"b{i}", ts=t, text=text, cell=cell if rng.random() < 0.9 else None,
                               district=rng.choice(PLACES)))
    return out


def _neighbours(cell: str) -> list[str]:
    r, c = int(cell[1:4]), int(cell[5:8])
    return [f"r{r + dr:03d}c{c + dc:03d}" for dr in (-1, 0, 1) for dc in (-1, 0, 1)]


def run(n: int = 20_000, batch: int = 500, json_out: str | None = None) -> dict:
    model = train_seed()
    calls = synthetic_calls(n)
    # Warm up (jieba / vocabulary caches) outside the timed part.
    model.predict_many([c.text for c in calls[:200]])

    t = time.process_time()
    for i in range(0, n, batch):
        model.predict_many([c.text for c in calls[i:i + batch]])
    classify_s = time.process_time() - t

    merger = CallMerger(_neighbours)
    t = time.process_time()
    for i in range(0, n, batch):
        chunk = calls[i:i + batch]
        sets = [shingles(c.text) for c in chunk]
        for c, sh, bands in zip(chunk, sets, merger.bands_many(sets)):
            merger.add(c.call_id, c.ts, c.text, c.cell, c.district, "other", False, bands=bands, sh=sh)
    merge_s = time.process_time() - t

    stage = HotlineStage(model, Router(), _neighbours)
    alerts = 0
    t = time.process_time()
    for i in range(0, n, batch):
        chunk = calls[i:i + batch]
        alerts += len(stage.process(chunk, chunk[-1].ts))
        alerts += len(stage.tick(chunk[-1].ts))
    stage_s = time.process_time() - t
    res = {
        "calls": n, "batch": batch,
        "classify_per_s": round(n / classify_s, 1), "merge_per_s": round(n / merge_s, 1),
        "stage_per_s": round(n / stage_s, 1), "stage_seconds": round(stage_s, 3),
        "merged_share": round(stage.stats["merged"] / n, 4), "alerts": alerts, "bursts": stage.stats["bursts"],
        "target_per_s": 5000, "meets_target": n / stage_s >= 5000,
        "clock": "process CPU time (one core)",
    }
    if json_out:
        Path(json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(json_out).write_text(json.dumps(res, indent=2), encoding="utf-8")
    return res


def table(res: dict) -> str:
    return "\n".join([
        f"bench hotline: {res['calls']} calls, batches of {res['batch']} ({res['clock']})",
        f"  classify only          {res['classify_per_s']:>10,.0f} calls/s",
        f"  merge only             {res['merge_per_s']:>10,.0f} calls/s",
        f"  stage (classify+route+merge+hot spots) {res['stage_per_s']:>10,.0f} calls/s "
        f"(target 5,000: {'met' if res['meets_target'] else 'NOT met'})",
        f"  merged into existing signals {res['merged_share']:.1%}; alerts {res['alerts']}; bursts {res['bursts']}",
    ])
