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


def committed_offsets(admin: KafkaAdminClient, group: str) -> dict[tuple[str, int], int]:
    """A consumer group's committed offsets by (topic, partition); empty while the group has none.

    kafka-python 3 calls it `list_group_offsets`, 2.x `list_consumer_group_offsets`."""
    try:
        if hasattr(admin, "list_group_offsets"):
            offs = admin.list_group_offsets(group).get(group, {})
        else:
            offs = admin.list_consumer_group_offsets(group)
    except Exception as exc:  # the group may not exist yet: nothing committed
        log.debug("offsets of %s: %s", group, exc)
        return {}
    return {(tp.topic, tp.partition): meta.offset for tp, meta in offs.items() if meta.offset >= 0}
