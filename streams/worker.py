"""Assemble one worker: the city, the detector stages, the pipeline and the Faust app around it."""

from __future__ import annotations

import faust

from streams.app import build_app
from streams.city import load_city
from streams.pipeline import Pipeline
from streams.settings import Settings, load


def build_pipeline(settings: Settings) -> Pipeline:
    from detectors.hotline import HotlineStage
    from streams.hotline_model import default_classifier, default_router

    city = load_city(settings.city_geojson, settings.cell_m)
    neighbours = lambda cid: city.neighbours(cid, 1)  # noqa: E731
    hotline = HotlineStage(default_classifier(), default_router(), neighbours=neighbours)
    return Pipeline(city, hotline_stage=hotline, max_future_s=settings.max_future_s)


def build_worker(bootstrap: str, settings: Settings | None = None) -> faust.App:
    settings = settings or load()
    return build_app(settings, bootstrap, build_pipeline(settings))
