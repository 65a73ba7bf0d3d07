"""Shared fixtures: a real embedded Kafka broker (Tansu) per test session, topics created."""

from __future__ import annotations

import os

import pytest

from streams.admin import create_topics
from streams.broker import EmbeddedBroker


@pytest.fixture(scope="session")
def broker() -> str:
    """Bootstrap address of a real broker with the catalog's topics (KAFKA_BOOTSTRAP or embedded)."""
    external = os.environ.get("KAFKA_BOOTSTRAP", "")
    if external:
        create_topics(external, partitions=4)
        yield external
        return
    b = EmbeddedBroker()
    b.start()
    create_topics(b.bootstrap, partitions=4)
    try:
        yield b.bootstrap
    finally:
        b.stop()
