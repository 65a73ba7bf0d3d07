"""Topic administration with kafka-python: create the catalog's topics, idempotently."""

from __future__ import annotations

import logging

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from streams.catalog import TopicSpec, all_specs

log = logging.getLogger(__name__)


def create_topics(bootstrap: str, partitions: int, replication: int = 1,
                  specs: list[TopicSpec] | None = None) -> list[str]:
    """Create every catalog topic that does not exist yet; return the names created.

    Topics that exist are left as they are (Kafka cannot shrink partitions and Tansu cannot add them),
    so running this twice is harmless.
    """
    specs = specs if specs is not None else all_specs(partitions)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="cityops-admin")
    try:
        existing = set(admin.list_topics())
        todo = [s for s in specs if s.name not in existing]
        created: list[str] = []
        for spec in todo:
            try:
                admin.create_topics([NewTopic(spec.name, spec.partitions, replication, topic_configs=spec.config)])
                created.append(spec.name)
            except TopicAlreadyExistsError:
                pass  # another process won the race
        if created:
            log.info("created topics: %s", ", ".join(created))
        return created
    finally:
        admin.close()


def list_topics(bootstrap: str) -> list[str]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="cityops-admin")
    try:
        return sorted(admin.list_topics())
    finally:
        admin.close()
