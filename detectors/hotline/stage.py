"""The hotline stage of the worker: classify, route, merge and watch for hot spots, emitting Alerts.

process(calls, now) classifies a batch in one vectorised step, merges each call into a signal
(`CallMerger`), counts it for hot-spot bursts (`HotspotDetector`) and returns the alerts to publish:
a merged signal is emitted when it opens and re-emitted with the SAME alert_id (a longer message_ids
list) when its count doubles (2, 4, 8 ... calls); smaller growth is flushed by tick(now). A burst is a
separate alert whose subject is the hot spot. Text is bounded before any work, and no input can
raise out of process() (validation refuses bad messages earlier; this is the last line of defence).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, Iterable

from detectors.hotline.classifier import HotlineClassifier, Prediction
from detectors.hotline.dedup import CallMerger, Signal, shingles
from detectors.hotline.hotspots import Burst, HotspotDetector
from detectors.hotline.routing import Router
from streams.schemas import Alert, HotlineCall

log = logging.getLogger(__name__)

#: How urgent each category is when one citizen reports it (severity 1..4).
BASE_SEVERITY = {"fire": 3, "pipe_burst": 3, "public_safety": 3, "waterlogging": 2, "manhole": 2, "crowd": 2,
                 "traffic": 2, "air_pollution": 2, "noise": 1, "sanitation": 1, "other": 1}


@dataclass
class _Pending:
    signal: Signal
    emitted_count: int = 0
    route: object = None
    prediction: Prediction | None = None
    lat: float | None = None
    lon: float | None = None


def _growth_step(n: int) -> bool:
    # Re-emit when the count doubles (1, 2, 4, 8 ...): early growth matters, the rest is flushed by tick().
    return n & (n - 1) == 0


class HotlineStage:
    """Pure hotline pipeline stage; `neighbours(cell)` gives the cells within one ring (itself included).

    Optional params: `place_of(key) -> (lat, lon) | None` for a cell id or "district:<id>" (alerts need
    coordinates when calls have none), `max_text_chars`, `window_s` (merging), `hotspot_window_s`,
    `p_alert`, `min_count`, `flush_s`, and `merger` / `hotspots` to supply configured instances.
    """

    def __init__(self, classifier: HotlineClassifier, router: Router | None = None,
                 neighbours: Callable[[str], Iterable[str]] | None = None, **params) -> None:
        self.classifier = classifier
        self.router = router or Router()
        self.neighbours = neighbours or (lambda c: [c])
        self.place_of: Callable[[str], tuple[float, float] | None] = params.pop("place_of", lambda key: None)
        self.max_text_chars = int(params.pop("max_text_chars", 2000))
        self.flush_s = float(params.pop("flush_s", 30.0))
        self.merger: CallMerger = params.pop("merger", None) or CallMerger(
            self.neighbours, window_s=float(params.pop("window_s", 3600.0)))
        self.hotspots: HotspotDetector = params.pop("hotspots", None) or HotspotDetector(
            window_s=float(params.pop("hotspot_window_s", 3600.0)), p_alert=float(params.pop("p_alert", 1e-3)),
            min_count=int(params.pop("min_count", 3)),
            # The first hour of event time has no baseline worth the name: every cell would look hot.
            warmup_s=float(params.pop("warmup_s", 3600.0)))
        if params:
            raise TypeError(f"unknown HotlineStage parameters: {', '.join(sorted(params))}")
        self._pending: dict[str, _Pending] = {}
        self._last_flush = float("-inf")
        self.stats = {"calls": 0, "merged": 0, "alerts": 0, "bursts": 0, "classifier_errors": 0}

    # -- classification ----------------------------------------------------------------------------
    def _classify(self, calls: list[HotlineCall]) -> list[Prediction]:
        texts = [c.text[: self.max_text_chars] for c in calls]
        try:
            return self.classifier.predict_many(texts)
        except Exception:  # a model bug must not stop the stream: classify one by one, "other" on failure
            log.exception("hotline classifier failed on a batch of %d; retrying one by one", len(calls))
        out = []
        for t in texts:
            try:
                out.append(self.classifier.predict(t))
            except Exception as exc:
                self.stats["classifier_errors"] += 1
                out.append(Prediction("other", 0.0, [], True))
                log.warning("hotline classifier failed on one call (%s); routed as 'other'", exc)
        return out

    # -- the stream --------------------------------------------------------------------------------
    def process(self, calls: list[HotlineCall], now: float) -> list[Alert]:
        """Classify, route, merge and count a batch of validated calls; returns the alerts to publish."""
        if not calls:
            return []
        preds = self._classify(calls)
        shingle_sets = [shingles(c.text[: self.max_text_chars]) for c in calls]
        bands = self.merger.bands_many(shingle_sets)
        alerts: list[Alert] = []
        for call, pred, sh, bd in zip(calls, preds, shingle_sets, bands):
            try:
                alerts += self._one(call, pred, sh, bd)
            except Exception:  # last line of defence: log with the call id, never drop silently
                log.exception("hotline stage failed on call %s", call.call_id)
        return alerts

    def _one(self, call: HotlineCall, pred: Prediction, sh: frozenset, bands: list[bytes]) -> list[Alert]:
        self.stats["calls"] += 1
        label = call.category or pred.label
        if call.category:  # an upstream human label wins over the model
            pred = Prediction(call.category, 1.0, [], False)
        route = self.router.route(label)
        category = self.router.category(label)
        text = call.text[: self.max_text_chars]
        sig, changed = self.merger.add(call.call_id, call.ts, text, call.cell, call.district, category,
                                       confident=not pred.needs_human, bands=bands, sh=sh)
        if not changed:
            return []  # a redelivered call: already counted
        if sig.count > 1:
            self.stats["merged"] += 1
        pend = self._pending.get(sig.signal_id)
        if pend is None:
            pend = self._pending[sig.signal_id] = _Pending(sig, route=route, prediction=pred)
        if call.lat is not None and call.lon is not None and pend.lat is None:
            pend.lat, pend.lon = call.lat, call.lon
        out = []
        if _growth_step(sig.count):
            out.append(self._signal_alert(pend))
        place = call.cell or (f"district:{call.district}" if call.district else "city")
        burst = self.hotspots.observe(place, category, call.ts, call.call_id)
        if burst is not None:
            out.append(self._burst_alert(burst, sig, pend))
        return out

    def tick(self, now: float) -> list[Alert]:
        """Flush signals that grew since their last alert; forget what fell out of the windows."""
        out = []
        if now - self._last_flush >= self.flush_s:
            self._last_flush = now
            for pend in self._pending.values():
                if pend.signal.count > pend.emitted_count:
                    out.append(self._signal_alert(pend))
        for sig in self.merger.expire(now):
            pend = self._pending.pop(sig.signal_id, None)
            if pend is not None and sig.count > pend.emitted_count:
                out.append(self._signal_alert(pend))  # its final state: no call id is left behind
        self.hotspots.expire(now)
        return out

    # -- alerts --------------------------------------------------------------------------------------
    def _where(self, sig: Signal, pend: _Pending) -> tuple[float, float]:
        if pend.lat is not None:
            return pend.lat, pend.lon
        for key in ([sig.cell] if sig.cell else []) + ([f"district:{sig.district}"] if sig.district else []):
            found = self.place_of(key)
            if found:
                return found
        return 0.0, 0.0

    def _signal_alert(self, pend: _Pending) -> Alert:
        sig, route, pred = pend.signal, pend.route, pend.prediction
        pend.emitted_count = sig.count
        lat, lon = self._where(sig, pend)
        sev = min(4, BASE_SEVERITY.get(sig.category, 1) + (sig.count >= 5) + (sig.count >= 20))
        score = min(1.0, pred.probability * (0.5 + 0.5 * min(sig.count, 5) / 5))
        where = sig.cell or (f"district {sig.district}" if sig.district else "no place given")
        self.stats["alerts"] += 1
        return Alert(
            alert_id=f"hl-{sig.signal_id}", ts=sig.last_ts, source="hotline", kind="operational",
            category=sig.category, cell=sig.cell or "", district=sig.district or "", lat=lat, lon=lon,
            score=round(score, 4), severity=sev,
            reason=f"{sig.count} hotline call(s) about {sig.category} ({where}); routed to "
                   f"{route.department} / {route.queue}",
            subject_id=sig.signal_id, message_ids=list(sig.call_ids),
            details={"count": sig.count, "label": pred.label, "probability": round(pred.probability, 4),
                     "alternatives": [[lab, round(p, 4)] for lab, p in pred.alternatives],
                     "needs_human": pred.needs_human, "department": route.department, "queue": route.queue,
                     "scope": sig.scope, "first_ts": sig.first_ts, "examples": sig.texts},
        )

    def _burst_alert(self, burst: Burst, sig: Signal, pend: _Pending) -> Alert:
        lat, lon = self._where(sig, pend)
        self.stats["bursts"] += 1
        cell = burst.place if sig.cell and burst.place == sig.cell else (sig.cell or "")
        return Alert(
            alert_id=burst.burst_id, ts=burst.last_ts, source="hotline", kind="operational",
            category=burst.category, cell=cell, district=sig.district or "", lat=lat, lon=lon,
            score=round(min(1.0, 1.0 - burst.p_value), 4),
            severity=min(4, BASE_SEVERITY.get(burst.category, 1) + 1),
            reason=f"hot spot: {burst.count} {burst.category} calls in {self.hotspots.window_s / 60:.0f} min at "
                   f"{burst.place} (usually {burst.expected:.2f}; p={burst.p_value:.1e})",
            subject_id=f"hotspot:{burst.place}:{burst.category}", message_ids=list(burst.call_ids),
            details={"hotspot": True, "count": burst.count, "expected": round(burst.expected, 4),
                     "p_value": burst.p_value, "place": burst.place, "first_ts": burst.first_ts,
                     "baseline_per_day": round(burst.baseline_rate_per_day, 4)},
        )
