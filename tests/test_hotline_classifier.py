"""The hotline classifier and its train / predict / evaluate commands, on small synthetic data."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from cityops.cli import main
from detectors.hotline.classifier import HotlineClassifier, Prediction

TEMPLATES = {
    "waterlogging": ["{p}路口积水很深，车都过不去了", "{p}下大雨水淹到膝盖，请赶紧排水", "{p}隧道里积水，有车熄火了"],
    "fire": ["{p}有栋楼着火了，冒很大黑烟", "{p}一家餐馆起火，火很大", "{p}仓库失火了，快派消防车"],
    "noise": ["{p}工地半夜施工，噪音吵得睡不着", "{p}广场舞音响太吵了", "{p}酒吧每晚音乐很响，扰民严重"],
    "sanitation": ["{p}垃圾堆了好几天没人清运，很臭", "{p}垃圾桶满了，苍蝇很多", "{p}路边有人乱倒建筑垃圾"],
}
PLACES = ["天河区体育西", "越秀区北京路", "海珠区江南西", "白云区三元里", "番禺区市桥", "黄埔区鱼珠"]


def synthetic(n_per: int, seed: int = 0) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    texts, labels = [], []
    for lab, temps in TEMPLATES.items():
        for _ in range(n_per):
            texts.append(rng.choice(temps).format(p=rng.choice(PLACES)) + rng.choice(["", "！", "，谢谢", "。"]))
            labels.append(lab)
    return texts, labels


@pytest.fixture(scope="module")
def model() -> HotlineClassifier:
    texts, labels = synthetic(8)
    return HotlineClassifier(self_training=False).fit(texts, labels)


def test_few_shot_predicts_unseen_phrasings(model: HotlineClassifier) -> None:
    assert model.predict("珠江新城那边路口积水很深，车过不去").label == "waterlogging"
    assert model.predict("小区旁边的楼着火了，黑烟很大").label == "fire"
    assert model.predict("楼下工地半夜施工太吵了").label == "noise"
    assert model.predict("垃圾好几天没人清运，臭得很").label == "sanitation"


def test_prediction_has_probability_alternatives_and_human_flag(model: HotlineClassifier) -> None:
    p = model.predict("路口积水很深")
    assert isinstance(p, Prediction)
    assert 0.0 < p.probability <= 1.0
    assert [lab for lab, _ in p.alternatives] and p.label not in [lab for lab, _ in p.alternatives]
    assert all(q <= p.probability for _, q in p.alternatives)
    assert sum(q for _, q in p.alternatives) + p.probability <= 1.0 + 1e-6
    strict = HotlineClassifier.from_bytes(model.to_bytes())
    strict.threshold = 1.01
    assert strict.predict("路口积水很深").needs_human


def test_round_trip_bytes_gives_identical_predictions(model: HotlineClassifier) -> None:
    texts, _ = synthetic(2, seed=5)
    again = HotlineClassifier.from_bytes(model.to_bytes())
    a, b = model.predict_many(texts), again.predict_many(texts)
    assert [(p.label, round(p.probability, 9)) for p in a] == [(p.label, round(p.probability, 9)) for p in b]


def test_from_bytes_refuses_foreign_data() -> None:
    with pytest.raises(ValueError):
        HotlineClassifier.from_bytes(b"not a model at all")


def test_english_with_context_columns_and_unlabelled() -> None:
    rng = random.Random(1)
    rows, labels, ctx = [], [], []
    for _ in range(60):
        kind = rng.choice(["Pothole", "Street Light", "Graffiti"])
        district = rng.choice(["D1", "D2"])
        title = {"Pothole": "pothole on main street", "Street Light": "light out on the corner",
                 "Graffiti": "graffiti on wall"}[kind] + rng.choice(["", " please fix", " urgent"])
        rows.append(title)
        ctx.append({"TYPE": kind, "district": district})
        labels.append(f"{kind}_{district}")  # the queue depends on the place: only context can tell
    m = HotlineClassifier(context_columns=["TYPE", "district"]).fit(
        rows, labels, ctx, unlabelled=["pothole near the school", "lamp post dark"])
    assert m.predict("pothole in front of my house", {"TYPE": "Pothole", "district": "D2"}).label == "Pothole_D2"
    assert m.predict("pothole in front of my house", ["Pothole", "D1"]).label == "Pothole_D1"


def test_multi_column_texts_and_empty_text_do_not_crash(model: HotlineClassifier) -> None:
    m = HotlineClassifier(self_training=False).fit(
        [("积水", "路口积水很深"), ("着火", "楼着火了"), ("积水", "水淹了"), ("着火", "起火了")] * 3,
        ["waterlogging", "fire", "waterlogging", "fire"] * 3)
    assert m.predict(("积水", "隧道积水")).label == "waterlogging"
    assert model.predict("").label in model.classes_
    assert model.predict("\x00\x01" * 10).label in model.classes_


def test_fit_refuses_unusable_input() -> None:
    with pytest.raises(ValueError):
        HotlineClassifier().fit(["a", "b"], ["x", "x"])
    with pytest.raises(ValueError):
        HotlineClassifier().fit(["a", "b", "c"], ["x", "y"])


def _write_csv(path, texts, labels, encoding="utf-8") -> None:
    lines = ["编号,内容,区,类别"] + [f"{i},{t},天河,{lab}" for i, (t, lab) in enumerate(zip(texts, labels))]
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))


def test_cli_train_predict_evaluate(tmp_path, capsys) -> None:
    texts, labels = synthetic(8)
    train = tmp_path / "train.csv"
    _write_csv(train, texts, labels, encoding="gb18030")
    model = tmp_path / "m.model"
    assert main(["hotline", "train", "--csv", str(train), "--text", "内容", "--context", "区",
                 "--label", "类别", "--out", str(model)]) == 0
    capsys.readouterr()
    assert main(["hotline", "predict", "--model", str(model), "北京路路口积水很深，车过不去"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["label"] == "waterlogging" and 0 < doc["probability"] <= 1 and "needs_human" in doc
    test = tmp_path / "test.csv"
    t2, l2 = synthetic(3, seed=9)
    _write_csv(test, t2 + [""], l2 + ["fire"], encoding="utf-8-sig")  # one empty-text row is reported
    out = tmp_path / "eval.json"
    assert main(["hotline", "evaluate", "--model", str(model), "--csv", str(test), "--json", str(out)]) == 0
    res = json.loads(out.read_text(encoding="utf-8"))
    assert res["rows"] == len(l2)
    assert res["accuracy"] >= 0.9 and res["macro_f1"] >= 0.9


def test_cli_bad_input_is_a_clear_error(tmp_path, capsys) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"a,b\n1,2\n")
    assert main(["hotline", "train", "--csv", str(bad), "--text", "text", "--label", "b",
                 "--out", str(tmp_path / "m")]) == 2
    assert "no column" in capsys.readouterr().err
    binary = tmp_path / "bin.csv"
    binary.write_bytes(b"\x00\x01\x02" * 100)
    assert main(["hotline", "train", "--csv", str(binary), "--text", "a", "--label", "b",
                 "--out", str(tmp_path / "m")]) == 2
    assert "binary" in capsys.readouterr().err
    assert main(["hotline", "predict", "--model", str(bad), "hello"]) == 2
    assert "not a cityops hotline model" in capsys.readouterr().err


def test_bench_command_writes_json(tmp_path, capsys) -> None:
    out = tmp_path / "bench.json"
    assert main(["bench", "hotline", "--calls", "600", "--batch", "200", "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["calls"] == 600 and res["stage_per_s"] > 0 and res["classify_per_s"] > 0
    assert "calls/s" in capsys.readouterr().out


def test_recurring_issue_finder_dates_the_first_detection() -> None:
    from cityops.evaluation.hotline_hotspots import find_recurring, place_of

    assert place_of("A市A2区丽发新城小区附近搅拌站噪音扰民") == place_of("丽发新城旁商品交易市场") == "丽发新城"
    assert place_of("关于我们小区停车的问题") is None
    day = 86400.0
    t0 = 1_546_300_800.0  # 2019-01-01
    msgs = [(t0 + i * day, f"投诉{p}的问题", "") for i in range(120) for p in ["甲乙花园", "丙丁家园", "戊己苑"]
            if (i * 7 + len(p)) % 40 == 0]
    msgs += [(t0 + 100 * day + k * 3600, "A市A3区星河花园工地噪音", "") for k in range(12)]
    issues = {i.place: i for i in find_recurring(msgs)}
    star = issues["星河花园"]
    assert star.messages == 12 and star.first_detected == "2019-04-11"


def test_recency_weights_follow_a_reorganised_queue() -> None:
    """The same title + type went to queue A for months, then to queue B: with times the newest routing
    wins; without them the (older, larger) majority does."""
    day = 86400.0
    texts, labels, ctx, times = [], [], [], []
    for i in range(120):
        texts.append("street light out" + ("" if i % 3 else " please"))
        ctx.append({"TYPE": "Street Light"})
        old = i < 80
        labels.append("A" if old else "B")
        times.append(i * day if old else 200 * day + i * day)
    for i in range(40):  # a second label so the fit is a real multi-class problem
        texts.append("graffiti on the wall")
        ctx.append({"TYPE": "Graffiti"})
        labels.append("G")
        times.append(i * 7 * day)
    m = HotlineClassifier(context_columns=["TYPE"], self_training=False, recency_min_rows=100)
    w = m.recency_weights(times, len(times))
    assert w is not None and w.max() == 1.0 and w.min() < 0.1
    assert m.recency_weights(None, 3) is None and m.recency_weights([None, None], 2) is None
    recent = m.fit(texts, labels, ctx, times=times)
    flat = HotlineClassifier(context_columns=["TYPE"], self_training=False, half_life_days=0).fit(texts, labels, ctx,
                                                                                                 times=times)
    few_shot = HotlineClassifier(context_columns=["TYPE"], self_training=False)  # 160 rows < 2,000: no recency
    assert few_shot.recency_weights(times, len(times)) is None
    assert recent.predict("street light out", {"TYPE": "Street Light"}).label == "B"
    assert flat.predict("street light out", {"TYPE": "Street Light"}).label == "A"
    with pytest.raises(ValueError):
        m.recency_weights([1.0, 2.0], 3)


def test_auto_options_pick_features_by_script_and_size() -> None:
    zh, zl = synthetic(8)
    m = HotlineClassifier(self_training=False).fit(zh, zl)
    assert m._use_char and m._svm(np.asarray(zl, dtype=object)).class_weight is not None  # few-shot CJK
    en = HotlineClassifier(context_columns=[f"c{i}" for i in range(5)], self_training=False, balance_below_rows=10)
    rows = [f"pothole number {i % 7}" if i % 2 else f"graffiti tag {i % 5}" for i in range(40)]
    en.fit(rows, ["p" if i % 2 else "g" for i in range(40)], [[str(i % 3)] * 5 for i in range(40)])
    assert not en._use_char and not en._crosses  # English words, many context columns: no crosses
    assert en._svm(np.asarray(["p", "g"] * 20, dtype=object)).class_weight is None  # above the size: unweighted
    assert not any("&" in f for f in en._ctx.feature_names_)


def test_cli_train_reads_the_time_column(tmp_path, capsys) -> None:
    from cityops.evaluation.hotline_io import labelled_set

    rows = ["CASE_ENQUIRY_ID,OPEN_DT,CASE_TITLE,TYPE,QUEUE"]
    for i in range(2100):  # recency needs 2,000 rows (below that every row keeps full weight)
        month = 1 + i // 700
        kind = "Pothole" if i % 2 else "Graffiti"
        rows.append(f"{i},2015-0{month}-1{i % 9} 10:00:00,{kind.lower()} on my street,{kind},Q_{kind}")
    rows.append("99,not a time,pothole again,Pothole,Q_Pothole")
    f = tmp_path / "b.csv"
    f.write_text("\n".join(rows) + "\n", encoding="utf-8")
    data = labelled_set(f, ["CASE_TITLE"], "QUEUE", time_col="auto")
    assert data.time_column == "OPEN_DT" and data.times[0] < data.times[-2] and data.times[-1] is None
    out = tmp_path / "m.model"
    assert main(["hotline", "train", "--csv", str(f), "--text", "CASE_TITLE", "--context", "TYPE",
                 "--label", "QUEUE", "--out", str(out)]) == 0
    assert "by OPEN_DT" in capsys.readouterr().out
    assert main(["hotline", "train", "--csv", str(f), "--text", "CASE_TITLE", "--label", "QUEUE",
                 "--time", "none", "--out", str(out)]) == 0
    assert "OPEN_DT" not in capsys.readouterr().out
    assert main(["hotline", "train", "--csv", str(f), "--text", "CASE_TITLE", "--label", "QUEUE",
                 "--time", "WHEN", "--out", str(out)]) == 2
