"""Accuracy of Keras classifiers, in batches (one source for every notebook and study)."""

from __future__ import annotations

import numpy as np


def predictions(model, x: np.ndarray, batch_size: int = 250) -> np.ndarray:
    """Predicted classes ``(N,)`` of a Keras model on ``x``, in batches (no retracing)."""
    return np.concatenate([logits(model, x[i:i + batch_size]).argmax(1)
                           for i in range(0, len(x), batch_size)]) if len(x) else np.zeros(0, int)


def logits(model, x: np.ndarray, batch_size: int = 250) -> np.ndarray:
    """Model outputs ``(N, classes)`` on ``x``, in batches, through Keras' compiled predict
    function (eager calls kept ~0.8 MB per image of a sigmoid ResNet-20 on CPU: 8 GB for the
    test set)."""
    return np.concatenate([np.asarray(model.predict_on_batch(x[i:i + batch_size]))
                           for i in range(0, len(x), batch_size)])


def accuracy(model, x: np.ndarray, y: np.ndarray, batch_size: int = 250) -> float:
    """Top-1 accuracy of a Keras model on ``(x, y)``."""
    return float(np.mean(predictions(model, x, batch_size) == np.asarray(y)))


def topk_hits(scores: np.ndarray, y: np.ndarray, k: int = 5) -> np.ndarray:
    """Boolean ``(N,)``: is the label among the ``k`` highest scores of each row?"""
    return (np.argsort(-scores, 1)[:, :k] == np.asarray(y)[:, None]).any(1)


def paired_gap(y: np.ndarray, ref_pred: np.ndarray, new_pred: np.ndarray, *,
               confidence: float = 0.95, n_boot: int = 20_000, seed: int = 0
               ) -> dict[str, float | int]:
    """How sure an accuracy gap measured on one sample of images is: ``ref_pred`` (e.g. the
    ANN's classes) and ``new_pred`` (the spiking network's) on the same images with labels
    ``y``, all shape (N,). ``gap_pp``: top-1 of ref minus new, in percentage points;
    ``ref_only`` / ``new_only``: images only ref / only new classifies correctly (the gap is
    their difference over N); ``ci_low_pp`` / ``ci_high_pp``: the paired percentile-bootstrap
    interval (images resampled with replacement, ``n_boot`` times, seeded) at
    ``confidence``; ``mcnemar_p``: exact two-sided McNemar test of "no difference" (binomial
    on the discordant images)."""
    from scipy.stats import binomtest

    y, ref_pred, new_pred = (np.asarray(a).ravel() for a in (y, ref_pred, new_pred))
    if not len(y) or not len(y) == len(ref_pred) == len(new_pred):
        raise ValueError(f"paired_gap needs one label and two predictions per image; got "
                         f"{len(y)}, {len(ref_pred)}, {len(new_pred)}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence={confidence!r} must lie strictly between 0 and 1")
    n, ref_ok, new_ok = len(y), ref_pred == y, new_pred == y
    b, c = int(np.sum(ref_ok & ~new_ok)), int(np.sum(~ref_ok & new_ok))
    counts = np.random.default_rng(seed).multinomial(n, [b / n, c / n, (n - b - c) / n], n_boot)
    boot = 100.0 * (counts[:, 0] - counts[:, 1]) / n
    tail = 100 * (1 - confidence) / 2
    return {"gap_pp": 100.0 * (b - c) / n, "ci_low_pp": float(np.percentile(boot, tail)),
            "ci_high_pp": float(np.percentile(boot, 100 - tail)), "confidence": confidence,
            "ref_only": b, "new_only": c, "n": n,
            "mcnemar_p": float(binomtest(b, b + c, 0.5).pvalue) if b + c else 1.0}
