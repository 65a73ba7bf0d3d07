"""Reading hotline CSV exports robustly: encoding detection, column checks, bad rows reported by number.

Every reader of hotline files (train / evaluate / hot-spot evaluation) goes through here (the decoding
itself is `streams.hotline_replay.read_export`, shared with replay), so a GB18030 export and a UTF-8
311 export with a BOM behave the same, and a bad row is named in a warning, never silently lost.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from streams.hotline_replay import CsvError, decode_bytes, read_export

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
    skipped: dict[str, list[int]] = field(default_factory=dict)

    def report_skipped(self, path: str | Path) -> None:
        for reason, rows in self.skipped.items():
            head = ", ".join(map(str, rows[:10])) + (" ..." if len(rows) > 10 else "")
            log.warning("%s: %d row(s) left out, %s: rows %s", path, len(rows), reason, head)


def split_cols(spec: str | None) -> list[str]:
    return [c.strip() for c in (spec or "").split(",") if c.strip()]


def labelled_set(path: str | Path, text_cols: list[str], label_col: str | None,
                 context_cols: list[str] | None = None, row_filter=None) -> LabelledSet:
    """Read text / context / label columns; rows without text or label are counted, not used."""
    header, rows = read_rows(path)
    context_cols = context_cols or []
    require_columns(header, text_cols + context_cols + ([label_col] if label_col else []), path)
    out = LabelledSet()
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
    return out
