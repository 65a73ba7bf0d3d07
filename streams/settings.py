"""Settings shared by every cityops process, read from the environment (one place, one prefix).

Every process (worker, dispatch, dashboard, simulator, tools) reads the same variables, so that
`docker-compose.yml`, `make demo` and the tests configure the system the same way.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

PACKAGE_DATA = Path(__file__).resolve().parent / "data"


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


@dataclass(frozen=True)
class Settings:
    #: Kafka bootstrap servers; empty means "start the embedded broker".
    bootstrap: str = field(default_factory=lambda: _env("KAFKA_BOOTSTRAP", ""))
    #: Faust app id, also the prefix of the consumer groups.
    app_id: str = field(default_factory=lambda: _env("CITYOPS_APP_ID", "cityops"))
    #: Partitions of keyed input topics; set before the topics are first created.
    partitions: int = field(default_factory=lambda: int(_env("CITYOPS_PARTITIONS", "4")))
    replication: int = field(default_factory=lambda: int(_env("CITYOPS_REPLICATION", "1")))
    #: Consumer-group timing. Tansu holds each join for half the session timeout, so 6 s
    #: (also real Kafka's minimum default) keeps a join near 3 s; tests may lower it.
    session_timeout_s: float = field(default_factory=lambda: float(_env("CITYOPS_SESSION_TIMEOUT", "6")))
    heartbeat_s: float = field(default_factory=lambda: float(_env("CITYOPS_HEARTBEAT", "1")))
    city_geojson: Path = field(
        default_factory=lambda: Path(_env("CITYOPS_CITY_GEOJSON", str(PACKAGE_DATA / "guangzhou_districts.geojson")))
    )
    #: Grid cell edge in metres (Guangzhou's real grid is ~20k cells; 1 km cells give ~7k).
    cell_m: float = field(default_factory=lambda: float(_env("CITYOPS_CELL_M", "1000")))
    #: Where processes keep files (dispatch store, models, logs).
    var_dir: Path = field(default_factory=lambda: Path(_env("CITYOPS_VAR", "var")))
    #: This worker's name among the workers of one app sharing `var_dir` (its detector snapshot's file).
    worker_name: str = field(default_factory=lambda: _env("CITYOPS_WORKER_NAME", "worker"))
    #: Seconds between two detector snapshots of a worker (what its models learnt survives a restart).
    snapshot_every_s: float = field(default_factory=lambda: float(_env("CITYOPS_SNAPSHOT_S", "60")))
    #: Dispatch store: a SQLite path or a postgresql:// URL.
    store_url: str = field(default_factory=lambda: _env("CITYOPS_STORE", ""))
    dashboard_host: str = field(default_factory=lambda: _env("CITYOPS_DASHBOARD_HOST", "127.0.0.1"))
    dashboard_port: int = field(default_factory=lambda: int(_env("CITYOPS_DASHBOARD_PORT", "8765")))
    #: Users and roles of the console (a JSON file); a demo file is generated when absent.
    users_file: Path = field(default_factory=lambda: Path(_env("CITYOPS_USERS", "")))
    #: Token that big screens present; generated per run when absent.
    screen_token: str = field(default_factory=lambda: _env("CITYOPS_SCREEN_TOKEN", ""))
    #: Readings whose timestamp is further than this in the future are refused.
    max_future_s: float = field(default_factory=lambda: float(_env("CITYOPS_MAX_FUTURE_S", "300")))

    @property
    def detector_snapshots(self) -> Path:
        """Folder of this app's detector snapshots (see streams.snapshots)."""
        return self.var_dir / "detectors" / self.app_id

    @property
    def store(self) -> str:
        return self.store_url or str(self.var_dir / "dispatch.sqlite")


def load() -> Settings:
    """Settings from the current environment (read at call time, not import time)."""
    return Settings()
