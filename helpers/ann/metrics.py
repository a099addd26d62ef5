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
