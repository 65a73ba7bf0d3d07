"""Hotline intelligence: classify, route, merge near-duplicate calls and spot hot-spot bursts (pure)."""

from detectors.hotline.classifier import HotlineClassifier, Prediction

__all__ = ["HotlineClassifier", "Prediction"]
