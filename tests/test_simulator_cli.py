"""`cityops simulate`: argument errors are clear, and a short compressed run fills the topics."""

from __future__ import annotations

import argparse
import json

import pytest

from cityops.cli import main
from cityops.commands.city import duration_s


def test_duration_parsing():
    assert duration_s("90") == 90 and duration_s("30m") == 1800 and duration_s("6h") == 21600
    assert duration_s("7d") == 7 * 86400
    with pytest.raises(argparse.ArgumentTypeError):
        duration_s("soon")


def test_refuses_to_run_without_a_broker_or_with_unknown_types(monkeypatch, capsys):
    monkeypatch.delenv("KAFKA_BOOTSTRAP", raising=False)
    assert main(["simulate"]) == 2
    assert "KAFKA_BOOTSTRAP" in capsys.readouterr().err
    assert main(["simulate", "--bootstrap", "127.0.0.1:1", "--scenario-types", "meteor"]) == 2
    assert "unknown scenario type" in capsys.readouterr().err


def test_short_compressed_run(broker, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CITYOPS_RUN_DIR", str(tmp_path / "run"))
    truth = tmp_path / "truth.jsonl"
    rc = main(["simulate", "--bootstrap", broker, "--seed", "515", "--sensors", "120", "--cameras", "12",
               "--duration", "2h", "--speedup", "1e6", "--scenarios", "3", "--scenario-types", "fire,pipe_burst",
               "--warmup", "0", "--truth", str(truth)])
    out = capsys.readouterr().out
    assert rc == 0
    assert "city.sensor.readings" in out and "msg/s" in out  # the rates table
    assert (tmp_path / "run" / "simulator.ready").exists()
    docs = [json.loads(x) for x in truth.read_text(encoding="utf-8").splitlines()]
    scheduled = [d for d in docs if d["scenario_id"].startswith("sc-515-")]
    assert len(scheduled) == 3 and {d["type"] for d in scheduled} <= {"building_fire", "pipe_burst"}
