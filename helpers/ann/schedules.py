"""Learning-rate schedules (registered with Keras so saved models deserialise)."""

from __future__ import annotations

import math
from typing import Any

import tensorflow as tf


@tf.keras.saving.register_keras_serializable(package="fs_codes")
class OneCycle(tf.keras.optimizers.schedules.LearningRateSchedule):
    """One-cycle schedule: linear warm-up from ``max_lr/div`` to ``max_lr`` over
    ``pct_start`` of the steps, then cosine decay to ``max_lr/final_div``."""

    def __init__(self, total_steps: int, max_lr: float, pct_start: float = 0.15,
                 div: float = 10.0, final_div: float = 1e3):
        self.total_steps = int(total_steps)
        self.max_lr = float(max_lr)
        self.pct_start = float(pct_start)
        self.div = float(div)
        self.final_div = float(final_div)

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        warm = tf.maximum(1.0, self.pct_start * self.total_steps)
        lo, hi, end = self.max_lr / self.div, self.max_lr, self.max_lr / self.final_div
        up = lo + (hi - lo) * step / warm
        frac = tf.clip_by_value((step - warm) / tf.maximum(1.0, self.total_steps - warm), 0, 1)
        down = end + 0.5 * (hi - end) * (1 + tf.cos(math.pi * frac))
        return tf.where(step < warm, up, down)

    def get_config(self) -> dict[str, Any]:
        return dict(total_steps=self.total_steps, max_lr=self.max_lr,
                    pct_start=self.pct_start, div=self.div, final_div=self.final_div)
