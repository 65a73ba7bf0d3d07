"""Throughput of one Faust worker on the real pipeline (validation, detector bank, fusion) on this machine.

A simulated city's readings are produced first (as the gateways send them: one batch per cell per
interval), then one `cityops worker` starts and the clock runs from its readiness until its consumer
group has committed everything: readings per second of the whole worker, not of the detector alone.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from kafka import KafkaAdminClient, KafkaProducer

from streams import catalog
from streams.admin import committed_offsets, create_topics
from streams.broker import EmbeddedBroker
from streams.city import load_city
from streams.schemas import encode
from streams.settings import load


@dataclass
class WorkerBench:
    batching: str
    sensors: int
    minutes: int
    readings: int
    messages: int
    seconds: float

    def as_json(self) -> dict:
        return {"batching": self.batching, "sensors": self.sensors, "minutes_of_data": self.minutes, "readings": self.readings,
                "messages": self.messages, "seconds": round(self.seconds, 2),
                "readings_per_s": round(self.readings / self.seconds), "messages_per_s": round(self.messages / self.seconds)}


def _produce(bootstrap: str, sensors: int, minutes: int, seed: int, batching: str) -> tuple[int, int]:
    """Publish the registry and `minutes` of readings: one message per cell and interval (`cell`), or
    one per district and interval (`district`, as a district gateway would), keyed by a fixed cell."""
    from cityops.evaluation.city import district_batches
    from streams.simulator import Simulator

    s = load()
    city = load_city(s.city_geojson, s.cell_m)
    t1 = time.time() - 60
    t0 = t1 - minutes * 60
    sim = Simulator(city, seed=seed, n_sensors=sensors, n_cameras=0, calls_per_hour=0, start=t0)
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, batch_size=512 * 1024, acks=1)
    reg, _ = sim.registry()
    for info in reg:
        producer.send(catalog.REGISTRY_SENSORS.name, key=info.sensor_id.encode(), value=encode(info))
    first_cell = {}
    for cid, c in city.cells.items():
        first_cell.setdefault(c.district, cid)
    readings = messages = 0
    for t in range(int(t0), int(t1), 60):
        batches = sim.step(t, t + 60).batches
        if batching == "district":
            by_district = district_batches(batches, lambda cid: city.cells[cid].district)
            batches = [b.model_copy(update={"cell": first_cell[d]}) for d, b in by_district.items()]
        for b in batches:
            producer.send(catalog.SENSOR_READINGS.name, key=b.cell.encode(), value=encode(b))
            readings += len(b.readings)
            messages += 1
    producer.flush(60)
    producer.close()
    return readings, messages


def run(sensors: int = 3000, minutes: int = 60, seed: int = 5, batching: str = "cell",
        timeout: float = 600.0) -> WorkerBench:
    with EmbeddedBroker() as broker, tempfile.TemporaryDirectory() as tmp:
        create_topics(broker.bootstrap, load().partitions)
        readings, messages = _produce(broker.bootstrap, sensors, minutes, seed, batching)
        run_dir = Path(tmp) / "run"
        env = {**os.environ, "KAFKA_BOOTSTRAP": broker.bootstrap, "CITYOPS_VAR": str(Path(tmp) / "var"),
               "CITYOPS_RUN_DIR": str(run_dir), "CITYOPS_APP_ID": "cityops-bench"}
        worker = subprocess.Popen([sys.executable, "-m", "cityops.cli", "worker"], env=env, cwd=tmp,
                                  stdout=open(Path(tmp) / "worker.log", "wb"), stderr=subprocess.STDOUT)
        admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
        try:
            deadline = time.monotonic() + timeout
            while not (run_dir / "worker.ready").exists():
                if worker.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((Path(tmp) / "worker.log").read_text()[-2000:])
                time.sleep(0.05)
            t0 = time.monotonic()
            while True:
                done = sum(o for (t, _), o in committed_offsets(admin, "cityops-bench").items()
                           if t == catalog.SENSOR_READINGS.name)
                if done >= messages:
                    break
                if worker.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"worker did not finish: {done}/{messages} messages committed")
                time.sleep(0.1)
            return WorkerBench(batching, sensors, minutes, readings, messages, time.monotonic() - t0)
        finally:
            admin.close()
            worker.terminate()
            worker.wait(15)
