"""Assemble one worker: the city, the detector stages, the pipeline and the Faust app around it."""

from __future__ import annotations

import logging

import faust

from streams import snapshots
from streams.app import build_app
from streams.city import load_city
from streams.pipeline import Pipeline
from streams.settings import Settings, load

log = logging.getLogger(__name__)


def build_pipeline(settings: Settings, resume: bool = True) -> Pipeline:
    """The worker's pipeline; `resume` loads the detector snapshots of earlier runs of this app."""
    from detectors.hotline import HotlineStage
    from streams.hotline_model import default_classifier, default_router

    city = load_city(settings.city_geojson, settings.cell_m)
    neighbours = lambda cid: city.neighbours(cid, 1)  # noqa: E731
    hotline = HotlineStage(default_classifier(), default_router(), neighbours=neighbours)
    pipeline = Pipeline(city, hotline_stage=hotline, max_future_s=settings.max_future_s)
    taken = snapshots.load_newest(pipeline.sensor_stage.bank, settings.detector_snapshots) if resume else {}
    if any(taken.values()):
        log.info("detectors resumed from snapshots: %s", ", ".join(f"{k} ({n} sensors)" for k, n in taken.items()))
    return pipeline


def build_worker(bootstrap: str, settings: Settings | None = None) -> faust.App:
    settings = settings or load()
    return build_app(settings, bootstrap, build_pipeline(settings))
