"""docker-compose.yml cannot be run here (no Docker engine), so its structure is checked instead."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_services_present():
    services = compose()["services"]
    assert {"kafka", "topics", "worker", "dispatch", "dashboard", "simulator"} <= set(services)


def test_kafka_runs_kraft_without_zookeeper():
    services = compose()["services"]
    assert not any("zookeeper" in name for name in services)
    env = services["kafka"]["environment"]
    assert "controller" in env["KAFKA_PROCESS_ROLES"] and "broker" in env["KAFKA_PROCESS_ROLES"]
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"].startswith(env["KAFKA_NODE_ID"] + "@kafka:")
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"  # topics come from the catalog
    assert "PLAINTEXT://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"]


def test_every_cityops_service_points_at_the_broker_with_the_same_settings():
    services = compose()["services"]
    for name in ("topics", "worker", "dispatch", "dashboard", "simulator"):
        env = services[name]["environment"]
        assert env["KAFKA_BOOTSTRAP"] == "kafka:9092", name
        assert env["CITYOPS_PARTITIONS"] == services["worker"]["environment"]["CITYOPS_PARTITIONS"]


def test_commands_are_real_cityops_commands():
    from cityops.cli import build_parser

    parser = build_parser()
    services = compose()["services"]
    for name in ("topics", "worker", "dispatch", "dashboard", "simulator"):
        args = parser.parse_args(services[name]["command"])
        assert callable(args.func), name


def test_dashboard_port_published_and_workers_start_after_topics():
    services = compose()["services"]
    assert "8765:8765" in services["dashboard"]["ports"]
    assert services["dashboard"]["environment"]["CITYOPS_DASHBOARD_PORT"] == "8765"
    assert services["worker"]["depends_on"]["topics"]["condition"] == "service_completed_successfully"
    assert services["topics"]["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert (ROOT / services["worker"]["build"] / "Dockerfile").exists()
