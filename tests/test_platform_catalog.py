"""The topic catalog and the schema module: one place, consistent, versioned."""

from streams import catalog
from streams.schemas import SCHEMAS, Incident, SensorBatch, decode, encode


def test_every_topic_has_a_known_schema_and_unique_name():
    names = [t.name for t in catalog.TOPICS]
    assert len(names) == len(set(names))
    for t in catalog.TOPICS:
        assert t.schema in SCHEMAS, t.name
        assert t.version >= 1


def test_required_topics_and_policies():
    required = {"city.sensor.readings", "city.video.events", "city.hotline.calls", "city.alerts", "city.incidents",
                "city.dispatch.commands", "city.dispatch.events", "city.units.status", "city.registry.sensors",
                "city.registry.cameras", "city.registry.units"}
    assert required <= set(catalog.BY_NAME)
    assert catalog.INCIDENTS.compacted
    assert all(catalog.BY_NAME[n].compacted for n in required if n.startswith("city.registry."))
    for t in (catalog.SENSOR_READINGS, catalog.VIDEO_EVENTS, catalog.HOTLINE_CALLS):
        assert t.key == "grid cell id" and t.dlq == t.name + ".dlq"


def test_specs_include_dead_letter_topics_with_their_policy():
    specs = {s.name: s for s in catalog.all_specs(6)}
    assert specs["city.sensor.readings"].partitions == 6
    assert specs["city.registry.sensors"].partitions == 1
    assert specs["city.incidents"].config["cleanup.policy"] == "compact"
    for t in catalog.INPUT_TOPICS:
        assert t.dlq in specs


def test_encode_decode_round_trip():
    b = SensorBatch(cell="r001c002", readings=[{"sensor_id": "s1", "ts": 1.7e9, "value": 0.5}])
    assert decode(SensorBatch, encode(b)) == b
    inc = Incident(incident_id="i1", revision=1, category="fire", severity=3, priority=1, cell="r1c1",
                   district="440106", lat=23.1, lon=113.3, opened_at=1.7e9, updated_at=1.7e9, why="smoke")
    assert decode(Incident, encode(inc)).status.value == "new"
