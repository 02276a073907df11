"""Intent classifier with confidence and out-of-scope detection.

Why this shape:

* one multinomial logistic regression over the concatenated views of
  :mod:`relaydesk.ai.features` gives calibrated-enough probabilities and
  trains in seconds for a typical workspace (tens of intents, hundreds of
  examples) on 2 cores;
* its log-probabilities are fused with the cosine similarity to the nearest
  training example of each intent (a kNN vote). With few examples per
  intent the nearest example is often a better witness than the linear
  boundary, and the similarity also tells us when a message is unlike
  anything the workspace knows — the out-of-scope signal;
* a message is out of scope when the fused confidence *or* the nearest
  similarity is below its threshold. :meth:`IntentClassifier.calibrate`
  fits both thresholds on held-out data (never on test data) for a target
  in-scope accuracy; without calibration conservative defaults apply.

Models serialise to a compressed ``.npz`` blob with ``allow_pickle=False`` so
a workspace's model can live in the database without handing an attacker who
can write that row a code-execution primitive.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from sklearn.linear_model import LogisticRegression

from relaydesk.ai.embeddings import MiniLMEmbedder
from relaydesk.ai.features import FeatureConfig, Featurizer, _text, _untext
from relaydesk.ai.wordvec import WordVectors

FORMAT_VERSION = 1
OUT_OF_SCOPE = "out_of_scope"


@dataclass(frozen=True, slots=True)
class IntentPrediction:
    """Best intent, its fused confidence, and whether to treat it as unknown."""

    intent: str
    confidence: float
    out_of_scope: bool
    similarity: float
    alternatives: tuple[tuple[str, float], ...] = ()


@dataclass
class IntentConfig:
    """Hyper-parameters, chosen on held-out *training* data (see bench/ai/README.md)."""

    C: float = 30.0
    knn_weight: float = 5.0
    confidence_threshold: float = 0.30
    similarity_threshold: float = 0.30
    top_k: int = 3
    features: FeatureConfig = field(default_factory=FeatureConfig)


class IntentClassifier:
    """Fit on (text, label) pairs; predict (intent, confidence, out_of_scope)."""

    def __init__(
        self,
        config: IntentConfig | None = None,
        embedder: MiniLMEmbedder | None = None,
        wordvectors: WordVectors | None = None,
    ) -> None:
        self.config = config or IntentConfig()
        self._embedder = embedder
        self._wordvectors = wordvectors
        self.featurizer: Featurizer | None = None
        self.classes_: np.ndarray = np.array([], dtype=object)
        self.coef_: np.ndarray | None = None
        self.intercept_: np.ndarray | None = None
        self._example_vecs: np.ndarray | None = None
        self._example_labels: np.ndarray | None = None

    # -- training --------------------------------------------------------------------
    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> IntentClassifier:
        """Train from scratch; at least two intents are needed for a decision."""
        texts = [str(t) for t in texts]
        labels_arr = np.asarray([str(label) for label in labels], dtype=object)
        if len(texts) != len(labels_arr) or not texts:
            raise ValueError("texts and labels must be non-empty and of equal length")
        classes = np.unique(labels_arr)
        if len(classes) < 2:
            raise ValueError("an intent classifier needs at least two intents")
        feat = Featurizer(self.config.features, self._embedder, self._wordvectors).fit(texts)
        vecs = feat.embed(texts)
        X = feat.transform(texts, vecs)
        model = LogisticRegression(C=self.config.C, max_iter=3000)
        model.fit(X, labels_arr)
        self.featurizer = feat
        self.classes_ = np.asarray(model.classes_, dtype=object)
        self.coef_ = model.coef_.astype(np.float32)
        self.intercept_ = model.intercept_.astype(np.float32)
        self._example_vecs = vecs.astype(np.float16)
        self._example_labels = np.searchsorted(self.classes_, labels_arr).astype(np.int32)
        return self

    @property
    def is_fitted(self) -> bool:
        """True once :meth:`fit` or :meth:`from_bytes` produced a usable model."""
        return self.coef_ is not None and self.featurizer is not None

    # -- inference -------------------------------------------------------------------
    def scores(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Fused class probabilities (n, k) and per-class nearest similarity (n, k)."""
        if not self.is_fitted:
            raise RuntimeError("the intent classifier is not fitted")
        assert self.featurizer is not None and self.coef_ is not None and self.intercept_ is not None
        assert self._example_vecs is not None and self._example_labels is not None
        vecs = self.featurizer.embed(texts)
        X = self.featurizer.transform(texts, vecs)
        logits = np.asarray(X @ self.coef_.T) + self.intercept_
        if logits.shape[1] == 1:  # binary LR stores one row: expand to two classes
            logits = np.hstack([np.zeros_like(logits), logits])
        sims = vecs @ self._example_vecs.astype(np.float32).T
        nearest = np.full((len(texts), len(self.classes_)), -1.0, dtype=np.float32)
        for k in range(len(self.classes_)):
            cols = self._example_labels == k
            if cols.any():
                nearest[:, k] = sims[:, cols].max(axis=1)
        fused = _log_softmax(logits) + self.config.knn_weight * nearest
        return _softmax(fused), nearest

    def predict_batch(self, texts: Sequence[str]) -> list[IntentPrediction]:
        """Predict many messages at once (the encoder batches them)."""
        texts = [str(t) for t in texts]
        if not texts:
            return []
        probs, nearest = self.scores(texts)
        out = []
        cfg = self.config
        for row in range(len(texts)):
            order = np.argsort(-probs[row])[: max(1, cfg.top_k)]
            best = int(order[0])
            conf = float(probs[row, best])
            sim = float(nearest[row].max())
            oos = conf < cfg.confidence_threshold or sim < cfg.similarity_threshold
            alts = tuple((str(self.classes_[i]), round(float(probs[row, i]), 4)) for i in order)
            out.append(IntentPrediction(str(self.classes_[best]), round(conf, 4), oos, round(sim, 4), alts))
        return out

    def predict(self, text: str) -> IntentPrediction:
        """Predict one message."""
        return self.predict_batch([text])[0]

    # -- out-of-scope calibration ----------------------------------------------------
    def calibrate(
        self,
        in_texts: Sequence[str],
        in_labels: Sequence[str],
        oos_texts: Sequence[str],
        min_in_scope_accuracy: float = 0.90,
    ) -> dict[str, float]:
        """Pick the thresholds that flag most out-of-scope messages while in-scope accuracy holds.

        In-scope accuracy counts an in-scope message as right only when the
        intent is right *and* it was not flagged, as in the CLINC150 protocol.
        Call it with validation data only; the thresholds are stored in the
        model.
        """
        probs_in, near_in = self.scores(list(in_texts))
        probs_out, near_out = self.scores(list(oos_texts))
        correct = self.classes_[probs_in.argmax(axis=1)] == np.asarray(in_labels, dtype=object)
        conf_in, sim_in = probs_in.max(axis=1), near_in.max(axis=1)
        conf_out, sim_out = probs_out.max(axis=1), near_out.max(axis=1)
        best = (-1.0, -1.0, 0.0, 0.0)
        conf_grid = np.unique(np.quantile(np.concatenate([conf_in, conf_out]), np.linspace(0, 1, 101)))
        sim_grid = np.unique(np.quantile(np.concatenate([sim_in, sim_out]), np.linspace(0, 0.9, 46)))
        for ct in np.concatenate([[0.0], conf_grid]):
            for st in np.concatenate([[-1.0], sim_grid]):
                keep = (conf_in >= ct) & (sim_in >= st)
                acc = float(np.mean(correct & keep))
                if acc < min_in_scope_accuracy:
                    continue
                recall = float(np.mean((conf_out < ct) | (sim_out < st)))
                if (recall, acc) > (best[0], best[1]):
                    best = (recall, acc, float(ct), float(st))
        if best[0] < 0:  # the target is unreachable: flag nothing rather than everything
            best = (0.0, float(np.mean(correct)), 0.0, -1.0)
        self.config.confidence_threshold, self.config.similarity_threshold = best[2], best[3]
        return {
            "oos_recall": best[0],
            "in_scope_accuracy": best[1],
            "confidence_threshold": best[2],
            "similarity_threshold": best[3],
        }

    # -- persistence -----------------------------------------------------------------
    def to_bytes(self) -> bytes:
        """Compressed npz blob (no pickle) holding everything :meth:`from_bytes` needs."""
        if not self.is_fitted:
            raise RuntimeError("cannot serialise an unfitted classifier")
        assert self.featurizer is not None
        cfg = self.config
        meta = {
            "format": FORMAT_VERSION,
            "classes": [str(c) for c in self.classes_],
            "C": cfg.C,
            "knn_weight": cfg.knn_weight,
            "confidence_threshold": cfg.confidence_threshold,
            "similarity_threshold": cfg.similarity_threshold,
            "top_k": cfg.top_k,
        }
        arrays = dict(self.featurizer.state())
        arrays.update(
            meta=_text(json.dumps(meta)),
            coef=self.coef_,
            intercept=self.intercept_,
            example_vecs=self._example_vecs,
            example_labels=self._example_labels,
        )
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)  # type: ignore[arg-type]
        return buf.getvalue()

    @classmethod
    def from_bytes(
        cls,
        blob: bytes,
        embedder: MiniLMEmbedder | None = None,
        wordvectors: WordVectors | None = None,
    ) -> IntentClassifier:
        """Load a model written by :meth:`to_bytes`; refuses unknown formats."""
        with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        meta = json.loads(_untext(arrays["meta"]))
        if meta.get("format") != FORMAT_VERSION:
            raise ValueError(f"unsupported intent model format {meta.get('format')!r}")
        featurizer = Featurizer.from_state(arrays, embedder, wordvectors)
        config = IntentConfig(
            C=meta["C"],
            knn_weight=meta["knn_weight"],
            confidence_threshold=meta["confidence_threshold"],
            similarity_threshold=meta["similarity_threshold"],
            top_k=meta["top_k"],
            features=featurizer.config,
        )
        model = cls(config, embedder, wordvectors)
        model.featurizer = featurizer
        model.classes_ = np.asarray(meta["classes"], dtype=object)
        model.coef_ = arrays["coef"]
        model.intercept_ = arrays["intercept"]
        model._example_vecs = arrays["example_vecs"]
        model._example_labels = arrays["example_labels"]
        return model


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)
