"""Merging near-duplicate calls into signals: same place, close in time, similar text -> one signal.

Text similarity is found with MinHash LSH over character shingles, so a new call is compared only with
the few signals that share a band bucket in its place scope (its cell and the neighbouring cells, its
district when it has no cell, or the whole city when it has no place at all), never with all history.
A candidate is accepted when the exact Jaccard similarity of the shingle sets passes the threshold.
Located calls of the same confidently classified category within the window also join the open
signal (ten people phoning about one flooded underpass rarely use the same words). Each call id
joins exactly one signal, and a redelivered call id is recognised, not counted twice.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np

_CJK = re.compile(r"[\u3400-\u9fff]")
_STRIP = re.compile(r"[\W_]+", re.UNICODE)
_MASK32 = np.uint64(0xFFFFFFFF)


@dataclass
class Signal:
    """A merged group of calls about one thing."""

    signal_id: str
    scope: str  # cell id, "district:<id>" or "city"
    cell: str | None
    district: str | None
    category: str
    first_ts: float
    last_ts: float
    call_ids: list[str] = field(default_factory=list)
    shingles: frozenset = frozenset()
    texts: list[str] = field(default_factory=list)  # a few examples for the operator
    keys: list[bytes] = field(default_factory=list)  # LSH bands it is indexed under (in its scope)

    @property
    def count(self) -> int:
        return len(self.call_ids)


def shingles(text: str, max_chars: int = 400) -> frozenset:
    """Character 2-grams for CJK text (a word is ~2 characters), 4-grams otherwise."""
    t = _STRIP.sub("", text[:max_chars].lower())
    n = 2 if _CJK.search(t) else 4
    if len(t) <= n:
        return frozenset([t]) if t else frozenset()
    return frozenset(t[i:i + n] for i in range(len(t) - n + 1))


class CallMerger:
    """Streaming near-duplicate merging with a time window; see the module docstring."""

    def __init__(self, neighbours: Callable[[str], Iterable[str]] | None = None, window_s: float = 3600.0,
                 jaccard: float = 0.45, bands: int = 12, rows: int = 2, category_merge: bool = True,
                 max_examples: int = 3, seed: int = 7) -> None:
        self.neighbours = neighbours or (lambda c: [c])
        self.window_s = window_s
        self.jaccard = jaccard
        self.bands, self.rows = bands, rows
        self.category_merge = category_merge
        self.max_examples = max_examples
        rng = np.random.default_rng(seed)
        n = bands * rows
        # Multiply-shift hashing (odd 64-bit multipliers): cheap, and universal enough for MinHash.
        self._a = (rng.integers(1, 2**63 - 1, n, dtype=np.int64).astype(np.uint64) << np.uint64(1)) | np.uint64(1)
        self._b = rng.integers(0, 2**63 - 1, n, dtype=np.int64).astype(np.uint64)
        self.signals: dict[str, Signal] = {}
        self._buckets: dict[str, dict[bytes, list[str]]] = {}  # scope -> LSH band -> signal ids
        self._open_by_cat: dict[tuple[str, str], str] = {}  # (cell, category) -> latest signal there
        self._by_call: dict[str, str] = {}
        self._near_cache: dict[str, tuple[str, ...]] = {}
        self._order: deque[tuple[float, str]] = deque()  # (last_ts when queued, signal id)
        self.merged_calls = 0

    # -- hashing -------------------------------------------------------------------------------
    def bands_many(self, shingle_sets: list[frozenset]) -> list[list[bytes]]:
        """LSH band keys of many shingle sets in one vectorised MinHash step."""
        sizes = np.fromiter((len(sh) for sh in shingle_sets), dtype=np.int64, count=len(shingle_sets))
        total = int(sizes.sum())
        if total == 0:
            return [[] for _ in shingle_sets]
        h = np.fromiter((hash(x) for sh in shingle_sets for x in sh), dtype=np.int64, count=total)
        h = h.astype(np.uint64) & _MASK32
        allsig = (self._a[:, None] * h[None, :] + self._b[:, None]) >> np.uint64(32)
        nonempty = sizes > 0
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])[nonempty]
        sigs = np.minimum.reduceat(allsig, starts, axis=1).T  # one row per non-empty set
        out: list[list[tuple]] = []
        k = 0
        r = self.rows
        for ok in nonempty:
            if not ok:
                out.append([])
                continue
            row = sigs[k].tobytes()
            k += 1
            out.append([bytes((i,)) + row[i * r * 8:(i + 1) * r * 8] for i in range(self.bands)])
        return out

    def _bands(self, sh: frozenset) -> list[bytes]:
        return self.bands_many([sh])[0]

    @staticmethod
    def _scope(cell: str | None, district: str | None) -> str:
        return cell if cell else (f"district:{district}" if district else "city")

    def _near(self, cell: str) -> tuple[str, ...]:
        got = self._near_cache.get(cell)
        if got is None:
            got = self._near_cache[cell] = tuple(dict.fromkeys([cell, *self.neighbours(cell)]))
        return got

    # -- merging -------------------------------------------------------------------------------
    def add(self, call_id: str, ts: float, text: str, cell: str | None = None, district: str | None = None,
            category: str = "other", confident: bool = False, bands: list[bytes] | None = None,
            sh: frozenset | None = None) -> tuple[Signal, bool]:
        """Put a call into a signal; returns (signal, changed). A redelivered call id changes nothing.

        `sh` / `bands` may be precomputed for a batch (`shingles`, `bands_many`)."""
        if call_id in self._by_call and self._by_call[call_id] in self.signals:
            return self.signals[self._by_call[call_id]], False
        if sh is None:
            sh = shingles(text)
        if bands is None:
            bands = self._bands(sh)
        target = self._find(ts, sh, bands, cell, district, category, confident)
        if target is None:
            scope = self._scope(cell, district)
            target = Signal(f"sig-{call_id}", scope, cell, district, category, ts, ts, shingles=sh)
            self.signals[target.signal_id] = target
            table = self._buckets.setdefault(scope, {})
            for band in bands:
                table.setdefault(band, []).append(target.signal_id)
            target.keys = list(bands)
        else:
            self.merged_calls += 1
        target.call_ids.append(call_id)
        target.first_ts = min(target.first_ts, ts)
        target.last_ts = max(target.last_ts, ts)
        if len(target.texts) < self.max_examples:
            target.texts.append(text[:200])
        self._by_call[call_id] = target.signal_id
        if cell and confident:
            for near in self._near(cell):
                self._open_by_cat[(near, category)] = target.signal_id
        self._order.append((target.last_ts, target.signal_id))
        return target, True

    def _live(self, sid: str, ts: float) -> Signal | None:
        sig = self.signals.get(sid)
        if sig is None or abs(ts - sig.last_ts) > self.window_s:
            return None
        return sig

    def _find(self, ts: float, sh: frozenset, bands: list[bytes], cell: str | None, district: str | None,
              category: str, confident: bool) -> Signal | None:
        best, best_j = None, self.jaccard
        seen: set[str] = set()
        for scope in (self._near(cell) if cell else (self._scope(None, district),)):
            table = self._buckets.get(scope)
            if not table:  # most nearby cells have no open signal: one lookup, not one per band
                continue
            for band in bands:
                for sid in table.get(band, ()):
                    if sid in seen:
                        continue
                    seen.add(sid)
                    sig = self._live(sid, ts)
                    if sig is None:
                        continue
                    inter = len(sh & sig.shingles)
                    j = inter / (len(sh) + len(sig.shingles) - inter) if inter else 0.0
                    if j >= best_j:
                        best, best_j = sig, j
        if best is None and cell and confident and self.category_merge and category != "other":
            sid = self._open_by_cat.get((cell, category))
            sig = self._live(sid, ts) if sid else None
            if sig is not None and sig.category == category:
                return sig
        return best

    def signal_of(self, call_id: str) -> Signal | None:
        sid = self._by_call.get(call_id)
        return self.signals.get(sid) if sid else None

    # -- expiry --------------------------------------------------------------------------------
    def expire(self, now: float) -> list[Signal]:
        """Forget signals quiet for longer than the window; returns them (their final state)."""
        done = []
        while self._order and self._order[0][0] < now - self.window_s:
            _, sid = self._order.popleft()
            sig = self.signals.get(sid)
            if sig is None or sig.last_ts >= now - self.window_s:
                continue  # already gone, or still active (a later queue entry covers it)
            del self.signals[sid]
            table = self._buckets.get(sig.scope, {})
            for band in sig.keys:
                lst = table.get(band)
                if lst is not None and sid in lst:
                    lst.remove(sid)
                    if not lst:
                        del table[band]
            if not table:
                self._buckets.pop(sig.scope, None)
            for cid in sig.call_ids:
                self._by_call.pop(cid, None)
            if sig.cell:
                for near in self._near(sig.cell):
                    if self._open_by_cat.get((near, sig.category)) == sid:
                        del self._open_by_cat[(near, sig.category)]
            done.append(sig)
        return done
