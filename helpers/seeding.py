"""The one place where seeds live.

Every notebook calls :func:`set_seed` once, in its first code cell, so a notebook run twice
gives the same numbers (TensorFlow is also switched to deterministic kernels).
"""

from __future__ import annotations

import os
import random

import numpy as np

#: The project's default seed; notebooks take ``seed = None`` to mean this value.
DEFAULT_SEED: int = 1234


def set_seed(seed: int | None = None, *, deterministic_tf: bool = True) -> int:
    """Seed Python, NumPy and (if importable) TensorFlow; return the seed used.

    ``deterministic_tf`` enables ``tf.config.experimental.enable_op_determinism`` so that
    training on the same machine repeats bit for bit (at some cost in speed on GPUs).
    """
    seed = DEFAULT_SEED if seed is None else int(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)
    try:
        import tensorflow as tf
    except ImportError:  # pragma: no cover - TF is a hard requirement of the notebooks only
        return seed
    tf.keras.utils.set_random_seed(seed)
    if deterministic_tf:
        tf.config.experimental.enable_op_determinism()
    return seed
