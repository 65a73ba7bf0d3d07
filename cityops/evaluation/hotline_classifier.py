"""Quality of a hotline classifier on labelled rows: accuracy, macro-F1, per-class scores, confusions."""

from __future__ import annotations

from collections import Counter
from typing import Sequence

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

from detectors.hotline.classifier import HotlineClassifier


def scores(truth: Sequence[str], pred: Sequence[str], needs_human: Sequence[bool] | None = None,
           top_confusions: int = 10) -> dict:
    """The stable evaluation keys: accuracy, macro_f1, rows, per_class, confusions, needs_human share."""
    truth, pred = list(truth), list(pred)
    labels = sorted(set(truth) | set(pred))
    p, r, f, s = precision_recall_fscore_support(truth, pred, labels=labels, zero_division=0)
    conf = Counter((t, q) for t, q in zip(truth, pred) if t != q)
    out = {
        "rows": len(truth),
        "accuracy": float(accuracy_score(truth, pred)) if truth else 0.0,
        # Macro over the labels that really occur: a label only ever predicted would otherwise
        # count as a zero and an evaluation set with fewer classes could not be compared.
        "macro_f1": float(f1_score(truth, pred, labels=sorted(set(truth)), average="macro", zero_division=0))
        if truth else 0.0,
        "classes": len(set(truth)),
        "per_class": {lab: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
                      for i, lab in enumerate(labels)},
        "confusions": [{"truth": t, "predicted": q, "count": c} for (t, q), c in conf.most_common(top_confusions)],
    }
    if needs_human is not None and len(needs_human):
        flagged = np.asarray(needs_human, dtype=bool)
        right = np.asarray(truth, dtype=object) == np.asarray(pred, dtype=object)
        out["needs_human_share"] = float(flagged.mean())
        out["accuracy_when_confident"] = float(right[~flagged].mean()) if (~flagged).any() else 0.0
    return out


def evaluate(model: HotlineClassifier, texts: Sequence, labels: Sequence[str], context: Sequence | None = None,
             batch: int = 5000) -> dict:
    preds = []
    for i in range(0, len(texts), batch):
        preds += model.predict_many(texts[i:i + batch], None if context is None else context[i:i + batch])
    return scores(labels, [p.label for p in preds], [p.needs_human for p in preds])


def format_report(title: str, res: dict, per_class_rows: int = 15) -> str:
    lines = [title, f"  rows {res['rows']}  classes {res['classes']}  accuracy {res['accuracy']:.4f}  "
                    f"macro-F1 {res['macro_f1']:.4f}"]
    if "needs_human_share" in res:
        lines.append(f"  flagged for a human {res['needs_human_share']:.1%}; accuracy of the rest "
                     f"{res['accuracy_when_confident']:.4f}")
    ranked = sorted(res["per_class"].items(), key=lambda kv: -kv[1]["support"])[:per_class_rows]
    lines.append(f"  {'class':<40} {'support':>7} {'prec':>6} {'recall':>6} {'F1':>6}")
    for lab, m in ranked:
        lines.append(f"  {lab[:40]:<40} {m['support']:>7} {m['precision']:>6.3f} {m['recall']:>6.3f} {m['f1']:>6.3f}")
    if res["confusions"]:
        lines.append("  most frequent confusions (truth -> predicted: count)")
        for c in res["confusions"]:
            lines.append(f"    {c['truth'][:40]} -> {c['predicted'][:40]}: {c['count']}")
    return "\n".join(lines)
