"""Travel-time model: ETA from a unit's position to an incident, by distance, district and time of day.

`eta = (base_s + s_per_m * road-ish distance) * band_factor(hour) * district_factor`. The constants were
fitted on real San Francisco Fire Department en-route → on-scene times (engines and trucks, week of
2016-12-31, 2,712 responses) with

    .venv/bin/python -m cityops.evaluation.dispatch_travel_fit ../shared/data/dispatch/sffd_calls_2016-12-31_to_2017-01-07.csv

which printed FITTED below.
Distance is great-circle metres; the fitted slope already carries the road detour (≈ 13.8 m/s
crow-flies). District factors slow down dense old town centres (an assumption, 1.0 when unknown).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

#: Time-of-day bands (local hours, [lo, hi)) the band factors refer to.
HOUR_BANDS: tuple[tuple[int, int], ...] = ((0, 6), (6, 10), (10, 16), (16, 20), (20, 24))

#: Output of the fit command above (SFFD week 2016-12-31 .. 2017-01-07).
FITTED = {"samples": 2712, "base_s": 108.6, "s_per_m": 0.07222, "band_factors": [1.018, 1.095, 1.004, 0.968, 0.938]}

#: Guangzhou's dense old districts (by district id: 越秀 440104, 荔湾 440103, 海珠 440105, 天河 440106)
#: drive slower than the fitted average (an assumption; no Guangzhou travel data was available).
DENSE_DISTRICTS: dict[str, float] = {"440104": 1.25, "440103": 1.15, "440105": 1.1, "440106": 1.1}

EARTH_R_M = 6_371_000.0


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle metres (equirectangular is plenty at city scale and much cheaper)."""
    x = math.radians(lon2 - lon1) * math.cos(math.radians((lat1 + lat2) / 2))
    y = math.radians(lat2 - lat1)
    return EARTH_R_M * math.hypot(x, y)


@dataclass(frozen=True)
class TravelModel:
    base_s: float = FITTED["base_s"]
    s_per_m: float = FITTED["s_per_m"]
    band_factors: tuple[float, ...] = tuple(FITTED["band_factors"])
    district_factors: dict[str, float] = field(default_factory=lambda: dict(DENSE_DISTRICTS))

    def band_factor(self, hour: int) -> float:
        for (lo, hi), f in zip(HOUR_BANDS, self.band_factors):
            if lo <= hour < hi:
                return f
        return 1.0

    def eta_s(self, lat1: float, lon1: float, lat2: float, lon2: float, hour: int = 12, district: str = "") -> float:
        """Seconds from leaving (lat1, lon1) to arriving at (lat2, lon2)."""
        d = distance_m(lat1, lon1, lat2, lon2)
        return (self.base_s + self.s_per_m * d) * self.band_factor(hour) * self.district_factors.get(district, 1.0)

    def eta_many(self, lats, lons, lat: float, lon: float, hour: int = 12, district: str = ""):
        """Vectorised `eta_s` from many positions (numpy arrays) to one place."""
        import numpy as np

        x = np.radians(lon - np.asarray(lons)) * math.cos(math.radians(lat))
        y = np.radians(lat - np.asarray(lats))
        d = EARTH_R_M * np.hypot(x, y)
        return (self.base_s + self.s_per_m * d) * self.band_factor(hour) * self.district_factors.get(district, 1.0)


def hour_of(ts: float, utc_offset_h: float = 8.0) -> int:
    """Local hour of an epoch time (Guangzhou is UTC+8)."""
    return int((ts + utc_offset_h * 3600) // 3600) % 24
