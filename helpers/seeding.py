"""The one place where seeds live.

Every notebook calls :func:`set_seed` once, in its first code cell, so a notebook run twice
gives the same numbers (TensorFlow is also switched to deterministic kernels, run one op at
a time).
"""

from __future__ import annotations

import os
import random
import warnings

import numpy as np

#: The project's default seed; notebooks take ``seed = None`` to mean this value.
DEFAULT_SEED: int = 1234


def set_seed(seed: int | None = None, *, deterministic_tf: bool = True) -> int:
    """Seed Python, NumPy and (if importable) TensorFlow; return the seed used.

    ``deterministic_tf`` enables ``tf.config.experimental.enable_op_determinism`` and runs
    TensorFlow's ops one at a time (:func:`one_op_at_a_time`), so that training and simulation
    on the same machine repeat bit for bit (at some cost in speed on GPUs).
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
        one_op_at_a_time()
    return seed


def one_op_at_a_time() -> None:
    """Set TensorFlow's inter-op parallelism to 1: deterministic kernels are not enough when
    independent ops of a graph run concurrently, because a CPU kernel splits its sums by the
    threads it finds free, so float32 results vary in the last bit from run to run (seen in
    the per-step event-level simulation of EfficientNet-Lite0: a few hundred of 42.6 million
    spikes differed between two runs of the same 6 images; with this setting, none). The
    price on 2 CPU cores: ResNet-20's training steps and per-step simulation take 11-17 %
    longer (``benchmarks/one_op_at_a_time.py``), Lite0's simulation no measurable time. Must
    run before TensorFlow's first op; afterwards a warning says so."""
    import tensorflow as tf

    if tf.config.threading.get_inter_op_parallelism_threads() == 1:
        return
    try:
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        warnings.warn("TensorFlow has already run ops, so its inter-op parallelism stays as it "
                      "is and float32 results may vary in the last bit from run to run; call "
                      "helpers.seeding.set_seed before any TensorFlow work", stacklevel=3)
