"""Reference activation functions (NumPy, float64) that FS codes approximate.

Names follow the project: "relu", "silu" (= Keras "swish", x * sigmoid(x)), "sigmoid",
"relu6" (min(max(x, 0), 6), used by EfficientNet-Lite). The converter also names the signed
identity neurons of a spiking linear bottleneck "identity". The maps between Keras and
project names live here too (pure data, no TensorFlow).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(np.asarray(x, dtype=np.float64), 0.0)


def sigmoid(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # overflow-free form of 1 / (1 + e^-x)


def silu(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x * sigmoid(x)


def relu6(x: np.ndarray) -> np.ndarray:
    return np.clip(np.asarray(x, dtype=np.float64), 0.0, 6.0)


#: Keras activation name -> project name (None: a linear activation, no neurons needed).
KERAS_TO_PROJECT: dict[str, str | None] = {"relu": "relu", "swish": "silu", "silu": "silu",
                                           "sigmoid": "sigmoid", "relu6": "relu6",
                                           "linear": None}
#: Project name -> Keras ``Activation`` name, for exporting an FS network as a Keras model
#: ("identity": the signed identity neurons of a linear bottleneck; "relu6" is not listed: it
#: is exported as a ``ReLU(6.0)`` layer).
PROJECT_TO_KERAS: dict[str, str] = {"relu": "relu", "silu": "swish", "sigmoid": "sigmoid",
                                    "identity": "linear"}

ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "relu": relu, "silu": silu, "swish": silu, "sigmoid": sigmoid, "relu6": relu6}


def get(name: str) -> Callable[[np.ndarray], np.ndarray]:
    """The reference function for an activation name (error lists the known names)."""
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; known: {sorted(ACTIVATIONS)}") from None
