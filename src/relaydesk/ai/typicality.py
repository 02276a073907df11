"""How typical a message is of the intents a model was trained on (Mahalanobis).

Why: the softmax confidence only says whether one known intent beats the
others, and the nearest-example cosine only looks at one neighbour. The
distance to the closest intent *centre*, measured with the shared covariance
of the training examples around their centres, asks whether the message
looks like any intent's cloud at all. On BANKING77-OOS ``valid`` it separates
in-scope from out-of-scope messages better than either signal alone (AUROC
0.87 vs 0.84 / 0.84), and combined with the confidence better still.

Raw distances depend on the data (and the dimension), so the score is the
ratio of a reference distance — the median over the training examples, each
measured against its class centre recomputed without it — to the message's
distance, capped at 1: 1 is as typical as a training example, 0.5 twice as
far. (An empirical p-value against the training distances was tried first;
with a few examples per intent every new message lies beyond all of them, so
it was 0 for everything.)

The covariance uses Ledoit-Wolf shrinkage, which stays well-conditioned when
a workspace has fewer examples than the 384 embedding dimensions.
"""

from __future__ import annotations

import numpy as np
from sklearn.covariance import LedoitWolf


class Typicality:
    """Class centres, a shared precision matrix and the training distances."""

    def __init__(self, means: np.ndarray, precision: np.ndarray, reference: float) -> None:
        self.means = np.asarray(means, dtype=np.float32)
        self.precision = np.asarray(precision, dtype=np.float32)
        self.reference = float(reference)
        # Per-centre terms of the distance, computed once instead of per message
        # (77 centres x 384^2 is ~11 MFLOP, a few ms on a busy core).
        self._mp = self.means @ self.precision
        self._mpm = np.einsum("ij,ij->i", self._mp, self.means)

    @classmethod
    def fit(cls, vecs: np.ndarray, labels: np.ndarray, n_classes: int) -> Typicality:
        """``labels`` are class indices in ``range(n_classes)``; every class needs an example."""
        vecs = np.asarray(vecs, dtype=np.float64)
        means = np.stack([vecs[labels == k].mean(axis=0) for k in range(n_classes)])
        precision = LedoitWolf(assume_centered=True).fit(vecs - means[labels]).precision_
        model = cls(means, precision, 1.0)
        # Reference distances as if each example were new: its own centre is
        # recomputed without it, which scales its squared distance by
        # (n/(n-1))^2 (infinite for a lone example). In-sample distances are
        # far too small with a few examples per intent, which would make every
        # real message look atypical.
        d = model._all_distances(vecs)
        rows = np.arange(len(vecs))
        sizes = np.bincount(labels, minlength=n_classes)[labels].astype(np.float64)
        # A lone example has no centre without it: its own distance is infinite (not 0 x inf = NaN,
        # which would make the median, and so every typicality score, NaN).
        own = d[rows, labels] * (sizes / np.maximum(sizes - 1, 1)) ** 2
        d[rows, labels] = np.where(sizes > 1, own, np.inf)
        model.reference = float(np.median(d.min(axis=1)))
        return model

    def distances(self, vecs: np.ndarray) -> np.ndarray:
        """Squared Mahalanobis distance of each row to its nearest class centre."""
        return self._all_distances(vecs).min(axis=1)

    def _all_distances(self, vecs: np.ndarray) -> np.ndarray:
        vecs = np.asarray(vecs, dtype=np.float32)
        # (x-m)' P (x-m) = x'Px - 2 x'Pm + m'Pm, for all centres at once.
        xp = vecs @ self.precision
        xpx = np.einsum("ij,ij->i", xp, vecs)
        d = xpx[:, None] - 2.0 * (vecs @ self._mp.T) + self._mpm[None, :]
        return np.maximum(d, 0.0)

    def scores(self, vecs: np.ndarray) -> np.ndarray:
        """Reference distance over each row's distance, capped at 1 (1 = typical)."""
        d = self.distances(vecs)
        return np.minimum(1.0, self.reference / np.maximum(d, 1e-9)).astype(np.float32)

    def state(self) -> dict[str, np.ndarray]:
        """Arrays for the model blob (no pickle)."""
        return {
            "typ_means": self.means,
            "typ_precision": self.precision,
            "typ_reference": np.asarray([self.reference], dtype=np.float64),
        }

    @classmethod
    def from_state(cls, arrays: dict[str, np.ndarray]) -> Typicality | None:
        """Inverse of :meth:`state`; ``None`` for blobs written before this signal existed."""
        if "typ_means" not in arrays:
            return None
        return cls(arrays["typ_means"], arrays["typ_precision"], float(arrays["typ_reference"][0]))
