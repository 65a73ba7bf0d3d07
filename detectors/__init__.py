"""detectors: pure computation (scoring, classification, fusion) over arrays and records; no Kafka, no I/O, no clock of its own."""

from detectors.bank import DetectorBank
from detectors.series import SeriesDetector, make_series_detector


def __getattr__(name: str):
    # the stage pulls in pydantic schemas; import it lazily so the math stays light
    if name == "SensorStage":
        from detectors.sensor_stage import SensorStage
        return SensorStage
    raise AttributeError(name)


__all__ = ["make_series_detector", "SeriesDetector", "DetectorBank", "SensorStage"]
