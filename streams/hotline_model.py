"""The worker's hotline classifier: the city's own model file, or one trained on the shipped seed messages.

`CITYOPS_HOTLINE_MODEL` names a model written by `cityops hotline train`. Without it the classifier is
trained on `streams/data/hotline_seed_zh.csv` (Chinese messages labelled with the incident categories,
written for this project) and the fitted bytes are cached under `<var_dir>/models/` keyed by the
CSV's hash, so a second worker starts in milliseconds and an edited seed file retrains by itself.
`CITYOPS_HOTLINE_ROUTES` names a routing file (JSON or CSV) that overrides the default routing table.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import os
from pathlib import Path

from detectors.hotline.classifier import HotlineClassifier
from detectors.hotline.routing import Router
from streams.settings import PACKAGE_DATA, Settings, load

log = logging.getLogger(__name__)
SEED_CSV = PACKAGE_DATA / "hotline_seed_zh.csv"
#: Bumped when the model's construction changes, so old cache files are not reused.
RECIPE = "seed-v1"


def seed_rows(path: Path = SEED_CSV) -> tuple[list[str], list[str]]:
    text = path.read_bytes().decode("utf-8-sig")
    texts, labels = [], []
    for i, row in enumerate(csv.DictReader(io.StringIO(text, newline="")), start=2):
        t, c = (row.get("text") or "").strip(), (row.get("category") or "").strip()
        if not t or not c:
            raise ValueError(f"{path}: row {i} needs both text and category")
        texts.append(t)
        labels.append(c)
    return texts, labels


def train_seed(path: Path = SEED_CSV) -> HotlineClassifier:
    texts, labels = seed_rows(path)
    return HotlineClassifier(text_columns=["text"], label_column="category", self_training=False,
                             word_features=False, threshold=0.4).fit(texts, labels)


def default_classifier(settings: Settings | None = None, seed_csv: Path = SEED_CSV) -> HotlineClassifier:
    """The model the worker uses (see the module docstring)."""
    settings = settings or load()
    explicit = os.environ.get("CITYOPS_HOTLINE_MODEL", "")
    if explicit:
        log.info("hotline model from CITYOPS_HOTLINE_MODEL=%s", explicit)
        return HotlineClassifier.from_bytes(Path(explicit).read_bytes())
    digest = hashlib.sha256(RECIPE.encode() + seed_csv.read_bytes()).hexdigest()[:16]
    cache = Path(settings.var_dir) / "models" / f"hotline-seed-{digest}.model"
    if cache.exists():
        try:
            return HotlineClassifier.from_bytes(cache.read_bytes())
        except ValueError as exc:  # a corrupt cache is rebuilt, not trusted
            log.warning("ignoring unreadable cached hotline model %s: %s", cache, exc)
    model = train_seed(seed_csv)
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".tmp{os.getpid()}")
        tmp.write_bytes(model.to_bytes())
        tmp.replace(cache)  # atomic: two workers starting together never read half a file
    except OSError as exc:
        log.warning("could not cache the hotline model in %s: %s", cache.parent, exc)
    return model


def load_router(path: str | Path) -> Router:
    """The default routing table overridden by a city's file: JSON ({label: {department, queue,
    category}} or a list of such records with "label") or CSV (label,department,queue[,category])."""
    from streams.hotline_replay import read_export

    p = Path(path)
    if p.suffix.lower() == ".json":
        try:
            doc = json.loads(p.read_text(encoding="utf-8-sig"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"{path}: not a readable JSON routing table: {exc}") from exc
        if isinstance(doc, dict):
            return Router(doc)
        if isinstance(doc, list):
            return Router.from_records(doc)
        raise ValueError(f"{path}: a routing table is an object or a list of records")
    header, rows = read_export(p)
    missing = [c for c in ("label", "department") if c not in header]
    if missing:
        raise ValueError(f"{path}: routing CSV needs columns label,department[,queue,category]; missing {missing}")
    return Router.from_records(rows)


def default_router() -> Router:
    """The worker's router: CITYOPS_HOTLINE_ROUTES (JSON or CSV) over the default table, if set."""
    path = os.environ.get("CITYOPS_HOTLINE_ROUTES", "")
    return load_router(path) if path else Router()
