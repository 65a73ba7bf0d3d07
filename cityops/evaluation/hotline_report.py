"""`cityops evaluate hotline`: the classifier on the Teddy Cup labels (stratified k-fold CV, with and
without the unlabelled archive), optionally Boston 311 -> QUEUE on a month split, and the recurring
issues of the archive found by the hot-spot detector with their first-detection date.
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
from sklearn.model_selection import StratifiedKFold

from cityops.evaluation.hotline_classifier import format_report, scores
from cityops.evaluation.hotline_hotspots import find_recurring, format_issues
from cityops.evaluation.hotline_io import labelled_set, read_rows
from detectors.hotline.classifier import HotlineClassifier

TEDDY_TEXT = ["留言主题", "留言详情"]
TEDDY_LABEL = "一级分类"
TEDDY_TIME = "留言时间"
# The columns an outside evaluation trains with (`cityops hotline train --context ...`).
BOSTON_CONTEXT = ["TYPE", "neighborhood", "fire_district", "pwd_district", "city_council_district",
                  "police_district", "ward", "Source"]


def plain_baseline(**kw) -> HotlineClassifier:
    """The reference the issue quotes: a linear model on title words + one-hot place, nothing else
    (no balancing, no recency, no crosses, no char n-grams, no calibration)."""
    return HotlineClassifier(class_weight=None, half_life_days=0, char_features=False, context_crosses="none",
                             self_training=False, calibration_rows=0, **kw)


def teddy_cv(labelled: Path, unlabelled: list[Path], folds: int = 5, seed: int = 0,
             use_unlabelled: bool = True) -> dict:
    """Stratified k-fold CV; the vocabularies and self-training see only the training folds + the archive."""
    data = labelled_set(labelled, TEDDY_TEXT, TEDDY_LABEL)
    unl = []
    for u in unlabelled if use_unlabelled else []:
        unl += labelled_set(u, TEDDY_TEXT, None).texts
    y = np.asarray(data.labels, dtype=object)
    pred = np.empty(len(y), dtype=object)
    flagged = np.zeros(len(y), dtype=bool)
    t = time.time()
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(data.texts, y):
        m = HotlineClassifier(text_columns=TEDDY_TEXT, label_column=TEDDY_LABEL,
                              self_training=use_unlabelled).fit([data.texts[i] for i in train], y[train],
                                                                unlabelled=unl or None)
        ps = m.predict_many([data.texts[i] for i in test])
        pred[test] = [p.label for p in ps]
        flagged[test] = [p.needs_human for p in ps]
    res = scores(list(y), list(pred), list(flagged))
    res.update({"folds": folds, "unlabelled_rows": len(unl), "seconds": round(time.time() - t, 1)})
    return res


def boston_split(path: Path, train_months: str = "01-06", test_months: str = "07-08",
                 max_train_rows: int = 0, baseline: bool = True) -> dict:
    """Train on the first months, judge on the later ones (CASE_TITLE + context -> QUEUE), the model
    as `cityops hotline train` builds it (recency from OPEN_DT) and the plain baseline in the same run."""
    lo, hi = train_months.split("-")
    tlo, thi = test_months.split("-")
    month = lambda r: (r.get("OPEN_DT") or "")[5:7]  # noqa: E731
    train = labelled_set(path, ["CASE_TITLE"], "QUEUE", BOSTON_CONTEXT, row_filter=lambda r: lo <= month(r) <= hi,
                         time_col="auto")
    test = labelled_set(path, ["CASE_TITLE"], "QUEUE", BOSTON_CONTEXT, row_filter=lambda r: tlo <= month(r) <= thi)
    k = max_train_rows or len(train.labels)
    cols = dict(text_columns=["CASE_TITLE"], context_columns=BOSTON_CONTEXT, label_column="QUEUE")
    t = time.time()
    m = HotlineClassifier(**cols, self_training=False).fit(train.texts[-k:], train.labels[-k:], train.context[-k:],
                                                           times=train.times[-k:])
    fit_s = time.time() - t
    ps = m.predict_many(test.texts, test.context)
    res = scores(test.labels, [p.label for p in ps], [p.needs_human for p in ps])
    res.update({"train_rows": k, "train_months": train_months, "test_months": test_months,
                "fit_seconds": round(fit_s, 1), "half_life_days": m.half_life_days})
    if baseline:
        t = time.time()
        b = plain_baseline(**cols).fit(train.texts[-k:], train.labels[-k:], train.context[-k:])
        fit_b = time.time() - t
        pb = b.predict_many(test.texts, test.context)
        rb = scores(test.labels, [p.label for p in pb])
        res["plain_baseline"] = {"accuracy": rb["accuracy"], "macro_f1": rb["macro_f1"], "rows": rb["rows"],
                                 "fit_seconds": round(fit_b, 1)}
    return res


def format_boston(res: dict) -> str:
    """The split's headline table: the model vs the plain baseline, then the model's detail."""
    lines = [f"Boston 311 CASE_TITLE + context -> QUEUE, train {res['train_months']} ({res['train_rows']} rows), "
             f"test {res['test_months']} ({res['rows']} rows)",
             f"  {'model':<48} {'accuracy':>8} {'macro-F1':>8} {'fit s':>7}",
             f"  {'HotlineClassifier (as hotline train builds it)':<48} {res['accuracy']:>8.4f} "
             f"{res['macro_f1']:>8.4f} {res['fit_seconds']:>7.1f}"]
    if "plain_baseline" in res:
        b = res["plain_baseline"]
        lines.append(f"  {'plain baseline (title words + one-hot place)':<48} {b['accuracy']:>8.4f} "
                     f"{b['macro_f1']:>8.4f} {b['fit_seconds']:>7.1f}")
    lines.append(f"  bar: accuracy >= 0.88 (aim 0.92) -> {'met' if res['accuracy'] >= 0.88 else 'NOT met'}")
    return "\n".join(lines) + "\n\n" + format_report("detail", res)


def archive_messages(paths: list[Path]) -> list[tuple[float, str, str]]:
    tz = ZoneInfo("Asia/Shanghai")
    out = []
    for p in paths:
        _, rows = read_rows(p)
        for r in rows:
            try:
                ts = datetime.strptime((r.get(TEDDY_TIME) or "").strip(), "%Y-%m-%d %H:%M:%S").replace(tzinfo=tz)
            except ValueError:
                continue
            out.append((ts.timestamp(), r.get(TEDDY_TEXT[0]) or "", r.get(TEDDY_TEXT[1]) or ""))
    return out


def run(data_dir: Path, folds: int = 5, boston: bool = False, boston_rows: int = 0,
        json_out: str | None = None) -> dict:
    d = Path(data_dir)
    labelled = d / "teddycup_labelled_train.csv"
    archive = [d / "teddycup_messages_with_votes_full.csv", d / "teddycup_messages_with_replies_full.csv"]
    report: dict = {"data_dir": str(d)}
    report["teddy_cv"] = teddy_cv(labelled, archive, folds)
    print(format_report(f"Teddy Cup first-level class, {folds}-fold stratified CV, with the unlabelled archive "
                        f"({report['teddy_cv']['unlabelled_rows']} messages)", report["teddy_cv"]))
    report["teddy_cv_no_unlabelled"] = teddy_cv(labelled, archive, folds, use_unlabelled=False)
    r0 = report["teddy_cv_no_unlabelled"]
    print(f"\nsame without the archive: accuracy {r0['accuracy']:.4f}  macro-F1 {r0['macro_f1']:.4f}")
    if boston:
        report["boston_queue"] = boston_split(d / "boston311_2015_jan_aug.csv", max_train_rows=boston_rows)
        print()
        print(format_boston(report["boston_queue"]))
    issues = find_recurring(archive_messages(archive))
    report["recurring_issues"] = [vars(i) for i in issues]
    print("\nrecurring issues in the 12345 archive (hot-spot detector: 30-day window vs the place's own baseline)")
    print(format_issues(issues))
    if json_out:
        Path(json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(json_out).write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    return report
