"""Reading hotline CSV exports robustly: encoding detection, column checks, bad rows reported by number.

Every reader of hotline files (train / evaluate / hot-spot evaluation) goes through here (the decoding
itself is `streams.hotline_replay.read_export`, shared with replay), so a GB18030 export and a UTF-8
311 export with a BOM behave the same, and a bad row is named in a warning, never silently lost.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from dataclasses import dataclass, field
from pathlib import Path

from streams.hotline_replay import MAPPINGS, CsvError, decode_bytes, read_export

log = logging.getLogger(__name__)
__all__ = ["CsvError", "decode_bytes", "read_rows", "require_columns", "LabelledSet", "labelled_set", "split_cols"]


def read_rows(path: str | Path) -> tuple[list[str], list[dict[str, str]]]:
    """Header and rows of a CSV file (UTF-8, UTF-8 with BOM or GB18030); raises CsvError."""
    return read_export(path)


def require_columns(header: list[str], cols: list[str], path: str | Path) -> None:
    missing = [c for c in cols if c not in header]
    if missing:
        raise CsvError(f"{path}: no column(s) {', '.join(map(repr, missing))}; the file has: {', '.join(header)}")


@dataclass
class LabelledSet:
    """Rows usable for training / evaluation, and why the others were left out (row numbers, 1 = header)."""

    texts: list[tuple[str, ...]] = field(default_factory=list)
    context: list[dict[str, str]] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    times: list[float | None] = field(default_factory=list)  # epoch seconds when a time column was read
    time_column: str = ""
    skipped: dict[str, list[int]] = field(default_factory=dict)

    def report_skipped(self, path: str | Path) -> None:
        for reason, rows in self.skipped.items():
            head = ", ".join(map(str, rows[:10])) + (" ..." if len(rows) > 10 else "")
            kept = reason.startswith("kept")  # a usable row with a flaw (an unreadable time), not dropped
            log.warning("%s: %d row(s) %s: rows %s", path, len(rows),
                        reason if kept else f"left out, {reason}", head)


def split_cols(spec: str | None) -> list[str]:
    return [c.strip() for c in (spec or "").split(",") if c.strip()]


_TIME_FORMATS = tuple(dict.fromkeys(m.time_format for m in MAPPINGS.values())) + ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%d")


def parse_time(value: str, fmt: str = "") -> float | None:
    """Epoch seconds of an export's time cell (read as UTC: only ages between rows matter), or None."""
    value = (value or "").strip()
    for f in (fmt,) if fmt else _TIME_FORMATS:
        try:
            return datetime.strptime(value[:19] if f.endswith("%S") and "%p" not in f else value, f) \
                .replace(tzinfo=timezone.utc).timestamp()
        except ValueError:
            continue
    return None


def time_column(header: list[str], spec: str, path: str | Path = "") -> tuple[str, str]:
    """(column, strptime format) for `spec`: "" = none, "auto" = a known export's time column if present."""
    if not spec:
        return "", ""
    if spec == "auto":
        return next(((m.time, m.time_format) for m in MAPPINGS.values() if m.time in header), ("", ""))
    require_columns(header, [spec], path)
    return spec, next((m.time_format for m in MAPPINGS.values() if m.time == spec), "")


def labelled_set(path: str | Path, text_cols: list[str], label_col: str | None,
                 context_cols: list[str] | None = None, row_filter=None, time_col: str = "") -> LabelledSet:
    """Read text / context / label (and time, see `time_column`) columns; rows without text or label
    are counted, not used. A row whose time does not parse gets None (the model weighs it as oldest)."""
    header, rows = read_rows(path)
    context_cols = context_cols or []
    require_columns(header, text_cols + context_cols + ([label_col] if label_col else []), path)
    out = LabelledSet()
    out.time_column, fmt = time_column(header, time_col, path)
    for n, row in enumerate(rows, start=2):
        if row_filter is not None and not row_filter(row):
            continue
        if None in row:  # more cells than header names: a broken quote or delimiter
            out.skipped.setdefault("more cells than the header", []).append(n)
            continue
        texts = tuple((row.get(c) or "").strip() for c in text_cols)
        if not any(texts):
            out.skipped.setdefault("empty text", []).append(n)
            continue
        label = (row.get(label_col) or "").strip() if label_col else ""
        if label_col and not label:
            out.skipped.setdefault("empty label", []).append(n)
            continue
        out.texts.append(texts)
        out.context.append({c: (row.get(c) or "").strip() for c in context_cols})
        out.labels.append(label)
        if out.time_column:
            t = parse_time(row.get(out.time_column) or "", fmt)
            if t is None:
                out.skipped.setdefault(f"kept, unreadable {out.time_column} weighed as the oldest", []).append(n)
            out.times.append(t)
    return out
