"""Out-of-scope operating points on BANKING77-OOS, appended to bench/ai/README.md.

Why a second script: on BANKING77-OOS our classifier's in-scope accuracy on
``valid`` is below 90 % *before* any flagging (flagging can only lower it), so
the absolute "≥ 90 % in-scope" constraint of run.py can only be met by flagging
nothing. This script fits the thresholds on ``valid`` for constraints relative
to the unflagged accuracy (lose at most 2 / 5 / 10 points), and reports the
resulting test figures, plus the threshold-free ranking quality (AUROC).

    .venv/bin/python bench/ai/oos_points.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

from run import DATA, README, CachingEmbedder, load_seq, read_lines

from relaydesk.ai.intent import IntentClassifier

MARK = "<!-- oos-operating-points -->"


def auroc(pos: np.ndarray, neg: np.ndarray) -> float:
    """P(score of an out-of-scope message < score of an in-scope one), ties half."""
    order = np.argsort(np.concatenate([pos, neg]), kind="mergesort")
    ranks = np.empty(len(order))
    ranks[order] = np.arange(1, len(order) + 1)
    r_pos = ranks[: len(pos)].sum()
    return float((r_pos - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def main() -> None:
    oos = DATA / "banking77-oos"
    tr, va, te = load_seq(oos / "train"), load_seq(oos / "valid"), load_seq(oos / "test")
    va_oos = read_lines(oos / "id-oos/valid/seq.in") + read_lines(oos / "ood-oos/valid/seq.in")
    te_id, te_ood = read_lines(oos / "id-oos/test/seq.in"), read_lines(oos / "ood-oos/test/seq.in")
    clf = IntentClassifier(embedder=CachingEmbedder()).fit(*tr)
    p_va, _ = clf.scores(va[0])
    raw_valid = float(np.mean(clf.classes_[p_va.argmax(1)] == np.asarray(va[1], dtype=object)))
    p_in, n_in = clf.scores(te[0])
    p_out, n_out = clf.scores(te_id + te_ood)
    auc_conf = auroc(p_in.max(1), p_out.max(1))
    auc_sim = auroc(n_in.max(1), n_out.max(1))
    t_in = np.array([p.typicality for p in clf.predict_batch(te[0])])
    t_out = np.array([p.typicality for p in clf.predict_batch(te_id + te_ood)])
    auc_typ = auroc(t_in, t_out)
    rows = []
    for drop in (0.02, 0.05, 0.10):
        fit = clf.calibrate(va[0], va[1], va_oos, min_in_scope_accuracy=raw_valid - drop)
        preds = clf.predict_batch(te[0])
        acc = float(
            np.mean([p.intent == g and not p.out_of_scope for p, g in zip(preds, te[1], strict=True)])
        )
        rid = float(np.mean([p.out_of_scope for p in clf.predict_batch(te_id)]))
        rood = float(np.mean([p.out_of_scope for p in clf.predict_batch(te_ood)]))
        rall = (rid * len(te_id) + rood * len(te_ood)) / (len(te_id) + len(te_ood))
        rows.append((drop, fit, acc, rall, rid, rood))
        print(
            f"valid target {raw_valid - drop:.3f}: test in-scope {acc:.2%}, OOS recall {rall:.2%} "
            f"(id {rid:.2%}, ood {rood:.2%}) thresholds {fit}",
            flush=True,
        )
    print(
        f"AUROC in vs out: confidence {auc_conf:.3f}, nearest similarity {auc_sim:.3f}, typicality {auc_typ:.3f}"
    )
    lines = [
        MARK,
        "## BANKING77-OOS operating points (`.venv/bin/python bench/ai/oos_points.py`)",
        "",
        f"Unflagged in-scope accuracy on `valid` is {raw_valid:.2%}, already under the 90 % target, so the absolute",
        "constraint above flags nothing. Thresholds below are fitted on `valid` for a bounded loss of in-scope",
        "accuracy relative to that, then applied unchanged to `test`.",
        "",
        "| allowed loss on valid | test in-scope accuracy | test OOS recall (id-oos / ood-oos) | thresholds (conf / sim / typicality) |",
        "|---|---|---|---|",
    ]
    for drop, fit, acc, rall, rid, rood in rows:
        lines.append(
            f"| {drop * 100:.0f} points | {acc:.2%} | {rall:.2%} ({rid:.2%} / {rood:.2%}) | "
            f"{fit['confidence_threshold']:.3f} / {fit['similarity_threshold']:.3f} / "
            f"{fit['typicality_threshold']:.3f} |"
        )
    lines += [
        "",
        f"Threshold-free AUROC (in-scope vs out-of-scope, test): fused confidence {auc_conf:.3f}, "
        f"nearest-example similarity {auc_sim:.3f}, typicality (Mahalanobis distance ratio) {auc_typ:.3f}.",
        "",
    ]
    text = README.read_text(encoding="utf-8").split(MARK)[0].rstrip() + "\n\n" + "\n".join(lines)
    README.write_text(text, encoding="utf-8")
    print(f"updated {README}")


if __name__ == "__main__":
    main()
