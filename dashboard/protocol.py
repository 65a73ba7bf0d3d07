"""The dashboard's WebSocket protocol: sequence-numbered deltas, replay on resume, coalescing queues.

Wire format: JSON text frames (UTF-8). A client must authenticate first; nothing else is sent before.

Client → server
  ``{"type": "hello", "token": T, "last_seq": N | null}``  token = a session token (console) or the
      screen token (big screen). With ``last_seq`` the server replays what the client missed, or
      sends a fresh snapshot when it no longer has it.
  ``{"type": "login", "user": U, "password": P}``  → ``login_ok`` (with a session token) or
      ``login_failed``; a successful login also counts as ``hello`` with no ``last_seq``.
  ``{"type": "command", "req": R, "action": A, "incident_id": I, ...}``  a console intent; the
      server checks the role, wraps it in a DispatchCommand (fresh ``command_id``, the signed-in user as
      actor) and answers ``command_sent`` or ``command_rejected`` (dispatch's own refusals arrive later
      as an ``event`` delta with kind ``command_refused`` and the same ``command_id``).
  ``{"type": "detail", "incident_id": I}``  → ``detail`` (evidence alerts and dispatch history).
  ``{"type": "logout"}``, ``{"type": "ping"}`` (→ ``pong``).

Server → client
  ``{"type": "welcome", "user", "role", "actions", "protocol"}`` after authentication;
  ``{"type": "snapshot", "seq": N, "data": {...}}``  the whole view as of sequence N;
  ``{"type": "deltas", "items": [{"seq", "kind", "key", "data"}, ...]}``  in increasing ``seq``;
      a later item with the same ``key`` replaces an earlier one (kinds: incident, unit, metrics,
      event, kpis, flood, heat, panels). Items with ``seq`` ≤ the client's last are ignored by it.
  ``{"type": "error", "reason"}``; close codes 4401 (not authenticated), 4408 (no hello in time).

Fan-out: deltas are encoded once and staged; every ``flush_interval`` the staged batch becomes one
shared frame, written straight to every client that is keeping up (nothing pending, socket buffer
nearly empty) without per-client work. Slow clients: each client has a bounded queue of pending
deltas, coalesced by key (only the newest state of an incident is kept); one frame carries
everything pending. If more than ``max_pending``
distinct keys pile up, the queue is dropped and the client gets a fresh snapshot instead, so a slow
or stalled client costs memory bounded by its queue and never delays the others.
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict, deque
from collections.abc import Iterable
from typing import Any

PROTOCOL_VERSION = 1
#: Largest frame a client may send (commands are small; this stops memory abuse).
MAX_CLIENT_MESSAGE = 64 * 1024
REPLAY_ITEMS = 4096
MAX_PENDING = 2000


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def encode_item(seq: int, kind: str, key: str, data: Any) -> bytes:
    return dumps({"seq": seq, "kind": kind, "key": key, "data": data})


def deltas_frame(items: Iterable[bytes]) -> bytes:
    """One frame holding several pre-encoded delta items (encoded once, shared by every client)."""
    return b'{"type":"deltas","items":[' + b",".join(items) + b"]}"


def snapshot_frame(seq: int, data: dict[str, Any]) -> bytes:
    return dumps({"type": "snapshot", "seq": seq, "data": data})


class ReplayBuffer:
    """The last `size` delta items, for clients that reconnect with their last sequence number."""

    def __init__(self, size: int = REPLAY_ITEMS) -> None:
        self._items: deque[tuple[int, str, bytes]] = deque(maxlen=size)

    def append(self, seq: int, key: str, item: bytes) -> None:
        self._items.append((seq, key, item))

    def since(self, last_seq: int, current_seq: int) -> list[bytes] | None:
        """Items after `last_seq`, newest per key, in seq order; None if some were already evicted."""
        if last_seq >= current_seq:
            return []
        if not self._items or self._items[0][0] > last_seq + 1:
            return None
        latest: OrderedDict[str, bytes] = OrderedDict()
        for seq, key, item in self._items:
            if seq > last_seq:
                latest.pop(key, None)
                latest[key] = item
        return list(latest.values())


class ClientQueue:
    """One client's pending deltas, coalesced by key; `take()` returns one frame or a snapshot request."""

    def __init__(self, max_pending: int = MAX_PENDING) -> None:
        self.max_pending = max_pending
        self._pending: OrderedDict[str, bytes] = OrderedDict()
        self._shared_frame: bytes | None = None
        self.needs_snapshot = False
        #: True while the client's sender is writing (or catching up): new frames must queue behind.
        self.busy = False
        self.ready = asyncio.Event()
        self.coalesced = 0
        self.overflows = 0

    def offer(self, items: list[tuple[str, bytes]], frame: bytes | None = None) -> None:
        """Queue items; `frame` is their pre-built frame, reused when nothing else is pending."""
        if self.needs_snapshot:
            return  # a snapshot is coming; it will include these
        self._shared_frame = frame if not self._pending else None
        for key, item in items:
            if key in self._pending:
                del self._pending[key]
                self.coalesced += 1
            self._pending[key] = item
        if len(self._pending) > self.max_pending:
            self._pending.clear()
            self._shared_frame = None
            self.needs_snapshot = True
            self.overflows += 1
        self.ready.set()

    def request_snapshot(self) -> None:
        self._pending.clear()
        self._shared_frame = None
        self.needs_snapshot = True
        self.ready.set()

    def take(self) -> tuple[bytes | None, bool]:
        """(frame to send or None, whether a snapshot must be sent instead)."""
        self.ready.clear()
        if self.needs_snapshot:
            self.needs_snapshot = False
            return None, True
        if not self._pending:
            return None, False
        frame = self._shared_frame or deltas_frame(self._pending.values())
        self._pending.clear()
        self._shared_frame = None
        return frame, False

    def __len__(self) -> int:
        return len(self._pending)


class Hub:
    """Assigns sequence numbers, keeps the replay buffer and fans batches out to client queues.

    `publish` only encodes and stages deltas; `flush` (called by the server on a short timer) hands
    the staged batch, coalesced by key, to every client's queue as one shared frame.
    """

    def __init__(self, replay_items: int = REPLAY_ITEMS) -> None:
        self.seq = 0
        self.replay = ReplayBuffer(replay_items)
        self.clients: set[ClientQueue] = set()
        self._staged: OrderedDict[str, bytes] = OrderedDict()

    def publish(self, deltas: Iterable[tuple[str, str, Any]]) -> int:
        n = 0
        for kind, key, data in deltas:
            self.seq += 1
            item = encode_item(self.seq, kind, key, data)
            self.replay.append(self.seq, key, item)
            self._staged.pop(key, None)
            self._staged[key] = item
            n += 1
        return n

    @property
    def staged(self) -> int:
        return len(self._staged)

    def take(self) -> tuple[list[tuple[str, bytes]], bytes] | None:
        """The staged batch as (keyed items, one shared frame), or None; clears the stage."""
        if not self._staged:
            return None
        items = list(self._staged.items())
        self._staged.clear()
        return items, deltas_frame(item for _, item in items)

    def flush(self) -> int:
        """Give the staged batch to every registered client queue; returns the number of items."""
        batch = self.take()
        if batch is None:
            return 0
        items, frame = batch
        for client in self.clients:
            client.offer(items, frame)
        return len(items)

    def resume(self, last_seq: int | None) -> list[bytes] | None:
        """Frames a reconnecting client needs, or None when it needs a snapshot."""
        if last_seq is None or last_seq < 0 or last_seq > self.seq:
            return None
        items = self.replay.since(last_seq, self.seq)
        if items is None:
            return None
        return [deltas_frame(items)] if items else []
