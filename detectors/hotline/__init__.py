"""Hotline intelligence: classify, route, merge near-duplicate calls and spot hot-spot bursts (pure)."""

from detectors.hotline.classifier import HotlineClassifier, Prediction
from detectors.hotline.dedup import CallMerger, Signal
from detectors.hotline.hotspots import Burst, HotspotDetector
from detectors.hotline.routing import DEFAULT_ROUTES, INCIDENT_CATEGORIES, Route, Router
from detectors.hotline.stage import HotlineStage

__all__ = ["HotlineClassifier", "Prediction", "CallMerger", "Signal", "HotspotDetector", "Burst", "Router", "Route",
           "DEFAULT_ROUTES", "INCIDENT_CATEGORIES", "HotlineStage"]
