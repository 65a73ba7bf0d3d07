"""A hotline text classifier a city trains on its own history: text (+ categorical context) -> label.

Chinese and English alike: character 1-3-gram TF-IDF (no segmentation service needed) plus word
TF-IDF (jieba, whose dictionary ships in its wheel, for CJK text; a regex for the rest), computed on
the joined text and again on each short field (a title), plus one-hot context columns (optionally
their pairwise crosses). Unlabelled history is used twice: the vocabularies and IDF weights are
fitted on it, and a self-training round adds the unlabelled texts the model separates most clearly.
The model is a linear SVM whose margins become probabilities through a softmax scale fitted on
held-out rows. When the rows carry times, newer rows weigh more (a half-life in days): teams get
reorganised, and a model judged on later months should follow the latest routing. Pure computation:
the CLI reads files; `to_bytes` / `from_bytes` carry the fitted model.

Measured on Boston 311 -> QUEUE (train Jan-Jun, test Jul-Aug; see `cityops evaluate hotline
--boston`): class balancing, context crosses and char n-grams on short English titles each cost
accuracy or minutes of training and gained nothing, so for non-CJK text the defaults leave them out.
"""

from __future__ import annotations

import io
import logging
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import joblib
import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction import DictVectorizer
from sklearn.feature_extraction.text import TfidfVectorizer
import warnings

from sklearn.exceptions import ConvergenceWarning
from sklearn.svm import LinearSVC

FORMAT = "cityops-hotline-classifier/1"
_CJK = re.compile(r"[\u3400-\u9fff]")
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_NOISE = re.compile(r"[\s\d\W_]+", re.UNICODE)
_jieba = None


def _segmenter():
    # jieba loads its dictionary lazily (about 1 s); keep it quiet and load it once per process.
    global _jieba
    if _jieba is None:
        import jieba

        jieba.setLogLevel(logging.WARNING)
        _jieba = jieba
    return _jieba


def word_tokens(text: str) -> list[str]:
    """Words: jieba segments for text with CJK characters, lower-cased alphanumerics otherwise."""
    low = text.lower()
    if _CJK.search(low):
        return [w for w in _segmenter().lcut(low) if not _NOISE.fullmatch(w)]
    return _WORD.findall(low)


def _char_text(text: str) -> str:
    # Digits and punctuation make char n-grams sparse without saying anything about the topic.
    return _NOISE.sub(" ", text.lower())


Context = Mapping[str, Any] | Sequence[Any] | None
TextIn = str | Sequence[str]


@dataclass
class Prediction:
    label: str
    probability: float
    alternatives: list[tuple[str, float]] = field(default_factory=list)
    needs_human: bool = False


@dataclass
class HotlineClassifier:
    """Trainable text + context classifier; see the module docstring for the model.

    `text_columns`, `context_columns` and `label_column` only record which CSV columns the model was
    trained on, so an evaluation can read a new file the same way.
    """

    text_columns: list[str] = field(default_factory=lambda: ["text"])
    context_columns: list[str] = field(default_factory=list)
    label_column: str = "label"
    threshold: float = 0.5  # below this probability a call is flagged for a human
    char_ngrams: tuple[int, int] = (1, 3)
    C: float = 0.5
    # "balanced", "sqrt" (tempered) or None. Balancing a skewed 140-queue problem over-predicts rare
    # queues (Boston Jul-Aug accuracy fell); "auto" balances only small training sets (few-shot labels).
    class_weight: str | None = "auto"
    balance_below_rows: int = 2000
    half_life_days: float = 60.0  # recency weight of a row when times are given (0 = all rows equal)
    # Few-shot sets keep every row at full weight: 298 Teddy Cup rows span nine years, and a topic
    # label (unlike a team's queue) does not get reorganised.
    recency_min_rows: int = 2000
    # "auto": char n-grams for CJK text (no spaces to split words on), words alone otherwise.
    char_features: bool | str = "auto"
    # Pairwise crosses of context columns: "none", "pairs", or "auto" (pairs when at most 3 columns;
    # with 8 Boston columns the crosses multiply features, slow the solver and memorise rare places).
    context_crosses: str = "auto"
    self_training: bool = True
    pseudo_per_class: int = 100
    word_features: bool = True  # jieba words on top of char n-grams; off = about 4x faster prediction
    short_field_chars: int = 60  # text columns shorter than this on average also count on their own
    max_features: int = 300_000
    calibration_rows: int = 10_000  # held-out rows used to fit the probability scale
    max_iter: int = 200  # enough for the solver here; big overlapping label sets never fully converge
    alternatives: int = 3

    def __post_init__(self) -> None:
        self._fitted = False

    # -- features ------------------------------------------------------------------------------
    def _context_dicts(self, context: Iterable[Context] | None, n: int) -> list[dict[str, float]]:
        if context is None:
            return [{} for _ in range(n)]
        out = []
        for ctx in context:
            if ctx is None:
                items: list[tuple[str, str]] = []
            elif isinstance(ctx, Mapping):
                items = [(c, str(ctx.get(c, "") or "")) for c in self.context_columns]
            else:
                items = [(c, str(v or "")) for c, v in zip(self.context_columns, ctx)]
            d = {f"{c}={v}": 1.0 for c, v in items if v}
            if not getattr(self, "_crosses", True):  # models saved before the option always crossed
                out.append(d)
                continue
            # Pairwise crosses: a label may depend on two columns together in a non-additive way.
            for i in range(len(items)):
                for j in range(i + 1, len(items)):
                    if items[i][1] and items[j][1]:
                        d[f"{items[i][0]}={items[i][1]}&{items[j][0]}={items[j][1]}"] = 1.0
            out.append(d)
        if len(out) != n:
            raise ValueError(f"{len(out)} context rows for {n} texts")
        return out

    @staticmethod
    def _fields(texts: Sequence[TextIn]) -> list[tuple[str, ...]]:
        return [(str(t or ""),) if isinstance(t, str) or t is None else tuple(str(v or "") for v in t)
                for t in texts]

    def _text_views(self, fields: list[tuple[str, ...]]) -> list[list[str]]:
        """The joined text, then each short field (a title) on its own: titles say the topic best."""
        views = [["\n".join(f) for f in fields]]
        for k in self._short_fields:
            views.append([f[k] if k < len(f) else "" for f in fields])
        return views

    def _fit_features(self, fields: list[tuple[str, ...]], unlabelled: list[tuple[str, ...]],
                      ctx: list[dict]) -> None:
        width = max(len(f) for f in fields)
        self._short_fields = []
        if width > 1:
            for k in range(width):
                mean_len = np.mean([len(f[k]) if k < len(f) else 0 for f in fields])
                if mean_len <= self.short_field_chars:
                    self._short_fields.append(k)
        self._vectorizers = []
        for k, view in enumerate(self._text_views(fields + unlabelled)):
            char = TfidfVectorizer(analyzer="char", ngram_range=self.char_ngrams, sublinear_tf=True,
                                   min_df=2, max_features=self.max_features, preprocessor=_char_text,
                                   dtype=np.float32)
            word = TfidfVectorizer(analyzer=word_tokens, sublinear_tf=True, min_df=2,
                                   max_features=self.max_features, dtype=np.float32)
            use_char = self._use_char
            use_word = self.word_features or not use_char
            try:
                if use_char:
                    char.fit(view)
                if use_word:
                    word.fit(view)
            except ValueError:  # a view with no token seen twice (tiny training sets): leave it out
                continue
            self._vectorizers.append((k, char if use_char else None, word if use_word else None))
        if not self._vectorizers:
            raise ValueError("texts have no usable characters or words")
        self._ctx = DictVectorizer(dtype=np.float32)
        self._ctx.fit(ctx or [{}])

    def _features(self, fields: list[tuple[str, ...]], ctx: list[dict]) -> sp.csr_matrix:
        views = self._text_views(fields)
        blocks = []
        for k, char, word in self._vectorizers:
            if char is not None:
                blocks.append(char.transform(views[k]))
            if word is not None:
                blocks.append(word.transform(views[k]))
        blocks.append(self._ctx.transform(ctx))
        return sp.hstack(blocks, format="csr")

    # -- training ------------------------------------------------------------------------------
    def _svm(self, y: np.ndarray) -> LinearSVC:
        weights = None
        mode = self.class_weight
        if mode == "auto":
            mode = "balanced" if len(y) < self.balance_below_rows else None
        if mode in ("balanced", "sqrt"):
            labels, counts = np.unique(y, return_counts=True)
            w = len(y) / (len(labels) * counts)
            # "sqrt" tempers the weight of very rare classes: with 100+ classes, full balancing makes
            # a 1-example queue weigh as much as thousands of rows (slow to fit, and it over-predicts it).
            weights = dict(zip(labels, np.sqrt(w) if mode == "sqrt" else w))
        return LinearSVC(C=self.C, class_weight=weights, max_iter=self.max_iter)

    def _fit_temperature(self, x: sp.csr_matrix, y: np.ndarray, classes: np.ndarray,
                         weight: np.ndarray | None = None) -> float:
        """Scale a of softmax(a * margin), chosen by held-out log-loss (one scalar: robust with rare classes)."""
        n = x.shape[0]
        if n < 30 or self.calibration_rows <= 0:
            return 3.0
        rng = np.random.default_rng(0)
        idx = rng.permutation(n)[: self.calibration_rows]
        folds = np.array_split(idx, 3)
        margins, truth = [], []
        for i in range(3):
            test = folds[i]
            train = np.concatenate([folds[j] for j in range(3) if j != i])
            if len(set(y[train])) < 2:
                continue
            m = self._svm(y[train]).fit(x[train], y[train], sample_weight=None if weight is None else weight[train])
            dec = np.full((len(test), len(classes)), -5.0)
            cols = np.searchsorted(classes, m.classes_)
            d = m.decision_function(x[test])
            dec[:, cols] = d if d.ndim == 2 else np.column_stack([-d, d])
            margins.append(dec)
            truth.append(np.searchsorted(classes, y[test]))
        if not margins:
            return 3.0
        dec, t = np.vstack(margins), np.concatenate(truth)
        best, best_a = np.inf, 3.0
        for a in np.geomspace(0.3, 60, 40):
            z = a * dec
            z -= z.max(1, keepdims=True)
            nll = -(z[np.arange(len(t)), t] - np.log(np.exp(z).sum(1))).mean()
            if nll < best:
                best, best_a = nll, float(a)
        return best_a

    def fit(self, texts: Sequence[TextIn], labels: Sequence[str], context: Iterable[Context] | None = None,
            unlabelled: Sequence[TextIn] | None = None,
            times: Sequence[float | None] | None = None) -> "HotlineClassifier":
        """Train on labelled texts (a string, or one string per text column), their context rows
        (a mapping or a sequence in `context_columns` order), unlabelled history, and optionally each
        row's time (epoch seconds; None = unknown, weighed as the oldest row) for recency weights."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return self._fit(texts, labels, context, unlabelled, times)

    def recency_weights(self, times: Sequence[float | None] | None, n: int) -> np.ndarray | None:
        """0.5 ** (age / half-life), age in days before the newest row; None when there is nothing to weigh."""
        if times is None:
            return None
        if len(times) != n:
            raise ValueError(f"{len(times)} times for {n} texts")
        if self.half_life_days <= 0 or n < self.recency_min_rows:
            return None
        t = np.asarray([np.nan if v is None else float(v) for v in times], dtype=float)
        if not np.isfinite(t).any():
            return None
        t[~np.isfinite(t)] = np.nanmin(t)
        return 0.5 ** ((t.max() - t) / 86400.0 / self.half_life_days)

    def _fit(self, texts: Sequence[TextIn], labels: Sequence[str], context: Iterable[Context] | None,
             unlabelled: Sequence[TextIn] | None, times: Sequence[float | None] | None) -> "HotlineClassifier":
        fields = self._fields(texts)
        y = np.asarray([str(v) for v in labels], dtype=object)
        if len(fields) != len(y):
            raise ValueError(f"{len(fields)} texts for {len(y)} labels")
        if len(fields) < 2 or len(set(y)) < 2:
            raise ValueError("need at least two labelled rows and two distinct labels")
        unl = [f for f in self._fields(unlabelled or []) if any(v.strip() for v in f)]
        weight = self.recency_weights(times, len(fields))
        self.recency_weighted_ = weight is not None
        self._use_char = (self.char_features if isinstance(self.char_features, bool)
                          else any(_CJK.search(v) for f in fields[:2000] for v in f))
        self._crosses = (self.context_crosses == "pairs"
                         or (self.context_crosses == "auto" and len(self.context_columns) <= 3))
        ctx = self._context_dicts(context, len(fields))
        self._fit_features(fields, unl, ctx)
        x = self._features(fields, ctx)
        self._model = self._svm(y).fit(x, y, sample_weight=weight)
        if self.self_training and unl:
            n = x.shape[0]
            x, y = self._self_train(x, y, unl)
            if weight is not None:  # pseudo-labelled rows count as the newest: they are today's archive
                weight = np.concatenate([weight, np.ones(x.shape[0] - n)])
            self._model = self._svm(y).fit(x, y, sample_weight=weight)
        self.classes_ = np.asarray(sorted(set(y)), dtype=object)
        self._scale = self._fit_temperature(x, y, self.classes_, weight)
        self._fitted = True
        return self

    def _self_train(self, x: sp.csr_matrix, y: np.ndarray, unl: list[tuple[str, ...]]):
        # One round: add the unlabelled texts the model separates best from the runner-up, capped per
        # class so big classes cannot swamp small ones. Unlabelled rows carry no context.
        xu = self._features(unl, [{} for _ in unl])
        dec = self._model.decision_function(xu)
        if dec.ndim == 1:
            dec = np.column_stack([-dec, dec])
        top = dec.argmax(1)
        srt = np.sort(dec, 1)
        margin = srt[:, -1] - srt[:, -2]
        picked: list[int] = []
        for k in range(len(self._model.classes_)):
            idx = np.flatnonzero((top == k) & (srt[:, -1] > 0))
            picked.extend(idx[np.argsort(-margin[idx])][: self.pseudo_per_class].tolist())
        if not picked:
            return x, y
        return (sp.vstack([x, xu[picked]]).tocsr(),
                np.concatenate([y, self._model.classes_[top[picked]]]))

    # -- prediction ----------------------------------------------------------------------------
    def predict_proba(self, texts: Sequence[TextIn], context: Iterable[Context] | None = None) -> np.ndarray:
        """Class probabilities, columns in `classes_` order."""
        if not self._fitted:
            raise RuntimeError("classifier is not fitted")
        fields = self._fields(texts)
        x = self._features(fields, self._context_dicts(context, len(fields)))
        dec = self._model.decision_function(x)
        if dec.ndim == 1:
            dec = np.column_stack([-dec, dec])
        z = self._scale * dec
        z -= z.max(1, keepdims=True)
        p = np.exp(z)
        return p / p.sum(1, keepdims=True)

    def predict_many(self, texts: Sequence[TextIn], context: Iterable[Context] | None = None) -> list[Prediction]:
        if len(texts) == 0:
            return []
        p = self.predict_proba(texts, context)
        order = np.argsort(-p, axis=1)[:, : self.alternatives + 1]
        out = []
        for row, idx in zip(p, order):
            ranked = [(self.classes_[k], float(row[k])) for k in idx]
            out.append(Prediction(ranked[0][0], ranked[0][1], ranked[1:], ranked[0][1] < self.threshold))
        return out

    def predict(self, text: TextIn, context: Context = None) -> Prediction:
        return self.predict_many([text], None if context is None else [context])[0]

    # -- persistence ---------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        if not self._fitted:
            raise RuntimeError("classifier is not fitted")
        buf = io.BytesIO()
        joblib.dump({"format": FORMAT, "model": self}, buf, compress=3)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> "HotlineClassifier":
        """Load a model written by `to_bytes` (trusted files only: this is a pickle)."""
        try:
            obj = joblib.load(io.BytesIO(data))
        except Exception as exc:  # a truncated or foreign file: say what it is, not a pickle trace
            raise ValueError(f"not a cityops hotline model: {type(exc).__name__}: {exc}") from exc
        if not isinstance(obj, dict) or obj.get("format") != FORMAT or not isinstance(obj.get("model"), cls):
            raise ValueError("not a cityops hotline model (format marker missing)")
        return obj["model"]
