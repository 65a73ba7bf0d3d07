"""The worker's default hotline model: trained on the shipped seed CSV, cached by hash, or loaded from a file."""

from __future__ import annotations

import pytest

from detectors.hotline import INCIDENT_CATEGORIES
from streams.hotline_model import SEED_CSV, default_classifier, seed_rows
from streams.settings import Settings


def test_seed_csv_covers_every_incident_category() -> None:
    texts, labels = seed_rows()
    assert len(texts) >= 300
    assert set(labels) == set(INCIDENT_CATEGORIES)
    assert len(set(texts)) == len(texts)


def test_default_classifier_is_cached_and_reloaded(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("CITYOPS_HOTLINE_MODEL", raising=False)
    monkeypatch.setenv("CITYOPS_VAR", str(tmp_path))
    settings = Settings()
    first = default_classifier(settings)
    cached = list((tmp_path / "models").glob("hotline-seed-*.model"))
    assert len(cached) == 1
    assert first.predict("天河路口积水到膝盖了，车都熄火了").label == "waterlogging"
    assert first.predict("楼下餐馆着火了，黑烟很大").label == "fire"
    again = default_classifier(settings)
    assert again.predict("井盖不见了，好危险").label == first.predict("井盖不见了，好危险").label
    cached[0].write_bytes(b"garbage")  # a corrupt cache is rebuilt
    assert default_classifier(settings).predict("井盖不见了").label == "manhole"
    monkeypatch.setenv("CITYOPS_HOTLINE_MODEL", str(cached[0]))
    cached[0].write_bytes(first.to_bytes())
    assert default_classifier(settings).classes_.tolist() == first.classes_.tolist()
    cached[0].write_bytes(b"garbage")
    with pytest.raises(ValueError):
        default_classifier(settings)


def test_seed_file_is_packaged() -> None:
    assert SEED_CSV.exists() and SEED_CSV.stat().st_size > 10_000


def test_routing_files_override_defaults(tmp_path, monkeypatch) -> None:
    from streams.hotline_model import default_router, load_router

    j = tmp_path / "routes.json"
    j.write_text('{"noise": {"department": "区生态环境分局", "queue": "夜间噪声"}}', encoding="utf-8")
    assert load_router(j).route("noise").department == "区生态环境分局"
    c = tmp_path / "routes.csv"
    c.write_bytes("label,department,queue,category\n井盖,市城管局,井盖巡查,manhole\n".encode("gb18030"))
    r = load_router(c)
    assert r.route("井盖").category == "manhole" and r.route("fire").department
    monkeypatch.setenv("CITYOPS_HOTLINE_ROUTES", str(c))
    assert default_router().route("井盖").queue == "井盖巡查"
    bad = tmp_path / "bad.csv"
    bad.write_text("name,dept\nx,y\n", encoding="utf-8")
    with pytest.raises(ValueError):
        load_router(bad)
    with pytest.raises(ValueError):
        load_router(tmp_path / "missing.json")
