"""Recurring real issues in a message archive, found by the hot-spot detector with their first-detection date.

The 12345 archive (Teddy Cup) has no coordinates; its place is the housing estate, school or campus the
message names. A named place is taken from the subject line (else the start of the text), with the
administrative prefixes removed ("A市A2区丽发新城" -> "丽发新城"), and the messages are fed in time
order to `HotspotDetector` with that name as the place: an issue is "detected" on the first day its
place's count in the window is improbable under that place's own baseline.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timezone

from detectors.hotline.hotspots import HotspotDetector

_SUFFIX = ("小区|花园|新城|家园|公寓|大厦|广场|华苑|雅苑|嘉园|名城|世家|天地|万境|山庄|公馆|商城|国际|学院|大学|中学|小学|"
           "医院|工业园|市场|滨河苑|之城|苑")
_NAME = re.compile(rf"([\u4e00-\u9fa5A-Za-z0-9]{{2,12}}?(?:{_SUFFIX}))")
_PREFIX = re.compile(r"^(?:关于|投诉|举报|反映|反对|请求|希望|建议|咨询|请问|要求|在|对)+")
_ADMIN = re.compile(r"^(?:[\u4e00-\u9fa5]{2}省)?(?:[A-Z]\d*市)?(?:[A-Z]\d+[区县])?(?:[\u4e00-\u9fa5]{2,4}(?:街道|镇|乡))?"
                    r"(?:[\u4e00-\u9fa5]{2,5}(?:路|街|大道))?")
_GENERIC = {"小区", "安置小区", "学院", "大学", "中学", "小学", "中小学", "医院", "人民医院", "中医院", "市场", "广场",
            "公寓", "国际", "政府"}
_DEICTIC = ("我们", "我", "本", "该", "这个", "那个", "附近", "周边", "各")


def place_of(subject: str, text: str = "") -> str | None:
    """The named place a message is about, normalised; None when it names none."""
    for source in (subject, text[:200]):
        for raw in _NAME.findall(source or ""):
            name = _ADMIN.sub("", _PREFIX.sub("", raw))
            name = _PREFIX.sub("", name)
            if len(name) >= 3 and name not in _GENERIC and not name.startswith(_DEICTIC) \
                    and not name.endswith("政府"):
                return name
    return None


@dataclass
class Issue:
    place: str
    messages: int
    first_message: str
    last_message: str
    first_detected: str | None
    detections: int
    example: str


def find_recurring(messages: list[tuple[float, str, str]], window_days: float = 30.0, min_count: int = 3,
                   p_alert: float = 1e-3, top: int = 15) -> list[Issue]:
    """messages: (ts, subject, text). Returns the places with the most messages, with detection dates."""
    det = HotspotDetector(window_s=window_days * 86400.0, p_alert=p_alert, min_count=min_count,
                          prior_strength_days=60.0, cooldown_s=window_days * 86400.0)
    counts: Counter = Counter()
    first: dict[str, float] = {}
    last: dict[str, float] = {}
    detected: dict[str, float] = {}
    bursts: dict[str, set] = defaultdict(set)
    example: dict[str, str] = {}
    for i, (ts, subject, text) in enumerate(sorted(messages, key=lambda m: m[0])):
        place = place_of(subject, text)
        if place is None:
            continue
        counts[place] += 1
        first.setdefault(place, ts)
        last[place] = ts
        example.setdefault(place, subject[:60])
        b = det.observe(place, "any", ts, str(i))
        if b is not None:
            detected.setdefault(place, ts)
            bursts[place].add(b.burst_id)
    day = lambda t: datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d")  # noqa: E731
    return [Issue(p, n, day(first[p]), day(last[p]), day(detected[p]) if p in detected else None,
                  len(bursts[p]), example[p]) for p, n in counts.most_common(top)]


def format_issues(issues: list[Issue]) -> str:
    lines = [f"  {'place':<16} {'msgs':>5} {'first msg':>10} {'detected':>10} {'last msg':>10} {'bursts':>6}  example"]
    for it in issues:
        lines.append(f"  {it.place[:16]:<16} {it.messages:>5} {it.first_message:>10} {it.first_detected or '-':>10} "
                     f"{it.last_message:>10} {it.detections:>6}  {it.example}")
    return "\n".join(lines)
