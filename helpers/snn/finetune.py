"""FS-aware fine-tuning: a converted network trained with its FS neurons in the loop.

The network is the converted one (:func:`helpers.snn.convert.convert`): BatchNorm folded into
the convolutions, each activation a layer of FS neurons with the layer's code. Its folded
kernels and biases, the per-layer scales α_l (ReLU-like codes, initialised from calibration)
and, optionally, the codes' ``h``, ``T``, ``d`` are trained with

* the **exact FS forward pass** (the same spikes the event-level simulator produces), and
* a **surrogate gradient** for the step function: ``"sm"`` -- Stöckl & Maass's
  pseudo-derivative ``max(0, 1 - |(v - T) / (|v| + 1)|)`` at every threshold, through the
  K-step loop -- or ``"ste"`` -- a straight-through estimator that back-propagates the
  activation the code approximates (ReLU clipped at the code's top, in units of α_l; SiLU or
  sigmoid) as if the FS layer were that function (the spike count keeps the pseudo-derivative);

with the loss ``cross-entropy + λ · (mean spikes per neuron of the network)``. Two options
aim at a spike *budget* rather than a price: with a ``spike_target`` s the price applies only
to the excess, ``λ · max(0, mean spikes per neuron - s)`` over a batch, so a network that is
sparse enough is free to recover its accuracy; with a ``teacher`` (the original ANN) the
cross-entropy is mixed with knowledge distillation from its logits (Hinton et al. 2015),
``(1 - β) · CE + β · τ² · KL(softmax(teacher / τ) ‖ softmax(logits / τ))``.

:func:`finetuned_export` gives the trained network as a plain BN-free Keras model (what
:func:`helpers.snn.convert.convert` reads again) and the code of every FS layer, in the units
of its input, for :func:`convert`'s ``layer_codes``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import tensorflow as tf

from helpers.fs.neuron import FSCode, OffsetCode, fs_tf
from helpers.fs.offset import offset_code
from helpers.snn.convert import SCALED_ACTIVATIONS
from helpers.snn.export import folded_keras_model
from helpers.snn.graph import output_name
from helpers.snn.network import TF_ACTIVATIONS, FSNetwork, build_model

#: Surrogate gradients of the FS step function (see the module docstring).
SURROGATES = ("sm", "ste")


class FSTrainable(tf.keras.layers.Layer):
    """FS neurons with a trainable scale (and optionally a trainable code) for fine-tuning.

    ``code``: the layer's code as converted (units of the layer's input) with its scale
    ``scale`` = α_l (1.0 for SiLU / sigmoid). The layer keeps the code in α-units
    (``code / α``) and ``log α``; its output is ``α · FS_code/α(x / α)``. An offset-folded
    code (:class:`~helpers.fs.neuron.OffsetCode`) is a pair: ``o + FS⁺(x) − FS⁻(−x)``, both
    halves' h, T, d trainable alike, their spikes counted together. ``signed`` (the
    converted layer's :attr:`~helpers.snn.network.FSLayerInfo.signed`: the signed identity
    neurons of a linear bottleneck) is a pair with one code for x and -x,
    ``FS(x) - FS(-x)``, both halves sharing h, T, d. Returns ``[output, spikes per image
    (N,), zeros (N,)]`` like :class:`helpers.snn.network.FSActivation`.
    """

    def __init__(self, code: FSCode, scale: float, surrogate: str = "sm",
                 train_code: bool = False, train_scale: bool = True, signed: bool = False,
                 **kwargs):
        super().__init__(**kwargs)
        if surrogate not in SURROGATES:
            raise ValueError(f"surrogate must be one of {SURROGATES}, got {surrogate!r}")
        if not (math.isfinite(scale) and scale > 0):
            raise ValueError(f"layer scale α must be positive and finite, got {scale!r}")
        self.code, self.surrogate = code, surrogate
        self.rescaled = code.activation in SCALED_ACTIVATIONS
        unit = code.scaled(1.0 / scale) if self.rescaled else code
        init = tf.keras.initializers.Constant
        self.log_scale = self.add_weight("log_scale", (), initializer=init(math.log(scale)),
                                         trainable=train_scale and self.rescaled)
        self.h, self.T, self.d = self._code_weights(unit, "", train_code)
        self.paired = isinstance(code, OffsetCode)
        self.signed = signed and not self.paired     # x and -x with the same code
        if self.paired:
            self.hN, self.TN, self.dN = self._code_weights(unit.negative, "N", train_code)

    def _code_weights(self, code: FSCode, suffix: str, trainable: bool) -> tuple:
        init = tf.keras.initializers.Constant
        return tuple(self.add_weight(k + suffix, (code.K,), trainable=trainable,
                                     initializer=init(getattr(code, k).astype(np.float32)))
                     for k in ("h", "T", "d"))

    def _straight_through(self, xs):
        """What the backward pass sees instead of the FS layer (α-units)."""
        if self.rescaled:
            top = tf.reduce_sum(tf.nn.relu(self.d))
            return tf.clip_by_value(xs, -top if self.signed else 0.0, top)
        return TF_ACTIVATIONS[self.code.activation](xs)

    def call(self, x):
        a = tf.exp(self.log_scale)
        xs = x / a
        out, z = fs_tf(xs, self.h, self.T, self.d)
        if self.paired:
            out_n, z_n = fs_tf(-xs, self.hN, self.TN, self.dN)
            out, z = self.code.offset + out - out_n, z + z_n
        elif self.signed:
            out_n, z_n = fs_tf(-xs, self.h, self.T, self.d)
            out, z = out - out_n, z + z_n
        if self.surrogate == "ste":
            ref = self._straight_through(xs)
            out = ref + tf.stop_gradient(out - ref)
        spikes = tf.reduce_sum(z, axis=list(range(1, len(x.shape))))
        return [a * out, spikes, tf.zeros_like(spikes)]

    def trained_code(self) -> FSCode:
        """The code as trained, in the units of the layer's input (``α · code``)."""
        a = float(np.exp(self.log_scale.numpy()))
        meta = {k: v for k, v in self.code.meta.items() if k not in ("negative", "offset")}
        meta["layer_scale_value"] = a if self.rescaled else 1.0
        name, act = self.code.name.split("@")[0], self.code.activation
        unit = FSCode(name, act, self.h.numpy(), self.T.numpy(), self.d.numpy(),
                      self.code.x_range, meta)
        if self.paired:       # the pair's negative half and offset, as trained
            neg = FSCode(name, act, self.hN.numpy(), self.TN.numpy(), self.dN.numpy(),
                         self.code.x_range)
            unit = offset_code(name, act, unit, neg, self.code.offset)
        return unit.scaled(a) if self.rescaled else unit


class FSTrainer(tf.keras.Model):
    """The FS network for training: ``call(x)`` gives the logits; ``fit`` minimises
    cross-entropy (distilled from ``teacher`` with weight ``distill`` at temperature
    ``temperature``, if given) + ``lam`` · mean spikes per neuron (above ``spike_target``, if
    given) and reports ``spikes_per_neuron``. See the module docstring."""

    def __init__(self, net: tf.keras.Model, fs_layers: dict[str, FSTrainable],
                 n_neurons: int, lam: float = 0.0, *, spike_target: float | None = None,
                 teacher: tf.keras.Model | None = None, distill: float = 0.0,
                 temperature: float = 4.0, **kwargs):
        super().__init__(**kwargs)
        _check_budget_options(spike_target, teacher, distill, temperature)
        self.net, self.fs_layers = net, fs_layers
        self.n_neurons, self.lam = float(n_neurons), float(lam)
        self.spike_target = spike_target
        if teacher is not None:
            teacher.trainable = False
        self.teacher, self.distill, self.temperature = teacher, float(distill), float(temperature)
        self.spike_tracker = tf.keras.metrics.Mean(name="spikes_per_neuron")

    def call(self, x, training=False):
        return self.net(x, training=training)[0]

    def forward(self, x, training=False):
        """``(logits (N, classes), spikes per neuron of the network per image (N,))``."""
        outs = self.net(x, training=training)
        n_fs = len(self.fs_layers)
        return outs[0], tf.add_n(outs[1:1 + n_fs]) / self.n_neurons

    @property
    def metrics(self):
        return super().metrics + [self.spike_tracker]

    def _update(self, y, logits, rate):
        self.compiled_metrics.update_state(y, logits)
        self.spike_tracker.update_state(rate)
        return {m.name: m.result() for m in self.metrics}

    def spike_cost(self, rate):
        """The loss's spike term for a batch's spikes per neuron ``rate`` (N,)."""
        mean = tf.reduce_mean(rate)
        if self.spike_target is not None:
            mean = tf.nn.relu(mean - self.spike_target)
        return self.lam * mean

    def task_loss(self, x, y, logits):
        """Cross-entropy, mixed with the distillation term when there is a teacher."""
        ce = self.compiled_loss(y, logits)
        if self.teacher is None:
            return ce
        tau = self.temperature
        soft = tf.nn.softmax(self.teacher(x, training=False) / tau)
        kl = tf.keras.losses.kl_divergence(soft, tf.nn.softmax(logits / tau))
        return (1.0 - self.distill) * ce + self.distill * tau ** 2 * tf.reduce_mean(kl)

    def train_step(self, data):
        x, y = data
        with tf.GradientTape() as tape:
            logits, rate = self.forward(x, training=True)
            loss = self.task_loss(x, y, logits) + self.spike_cost(rate)
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
        return self._update(y, logits, rate)

    def test_step(self, data):
        x, y = data
        logits, rate = self.forward(x, training=False)
        self.compiled_loss(y, logits)
        return self._update(y, logits, rate)


def _check_budget_options(spike_target, teacher, distill: float, temperature: float) -> None:
    if spike_target is not None and not spike_target > 0:
        raise ValueError(f"spike_target must be > 0 spikes per neuron (or None), got "
                         f"{spike_target!r}")
    if not 0.0 <= distill <= 1.0:
        raise ValueError(f"distill (the distillation weight β) must be in [0, 1], got {distill!r}")
    if (distill > 0) != (teacher is not None):
        raise ValueError("distillation needs both a teacher model and a weight distill > 0; "
                         f"got distill={distill!r} and teacher={'set' if teacher else None}")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature!r}")


def fs_trainer(net: FSNetwork, *, surrogate: str = "sm", train_code: bool = False,
               train_scale: bool = True, lam: float = 0.0, **budget) -> FSTrainer:
    """An :class:`FSTrainer` of the converted network ``net`` (analog input only): its folded
    weights and each FS layer's code and scale α_l as starting point. ``budget``:
    :class:`FSTrainer`'s ``spike_target``, ``teacher``, ``distill``, ``temperature``."""
    if net.input_mode != "analog":
        raise ValueError("FS-aware fine-tuning supports input_mode='analog' (the image drives "
                         "the first layer); convert with input_mode='analog'")
    layers = {info.name: FSTrainable(info.code, info.scale if info.scale > 0 else 1.0,
                                     surrogate, train_code, train_scale, info.signed,
                                     name=f"fs_{info.name}")
              for info in net.layers}
    model, _ = build_model(net.graph, output_name(net.graph), net.folded, "fs", layers)
    return FSTrainer(model, layers, sum(info.n_neurons for info in net.layers), lam, **budget)


def _trained_weights(trainer: FSTrainer, net: FSNetwork) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The trained folded kernel and bias of every linear layer, by node name."""
    by_name = {layer.name: layer for layer in trainer.net.layers}
    return {name: tuple(by_name[name].get_weights()) for name in net.folded}


def finetuned_export(trainer: FSTrainer, net: FSNetwork
                     ) -> tuple[tf.keras.Model, dict[str, FSCode]]:
    """``(plain BN-free Keras model with the trained weights, trained code per FS layer)``;
    convert the model with ``layer_codes=`` these codes to get the trained FS network."""
    trained = FSNetwork(net.model, net.ann, net.layers, net.input_mode, net.graph,
                        _trained_weights(trainer, net))
    codes = {name: layer.trained_code() for name, layer in trainer.fs_layers.items()}
    return folded_keras_model(trained), codes


def layer_codes_to_dict(codes: dict[str, FSCode]) -> dict[str, Any]:
    """Per-layer codes as JSON-ready dicts (for a model card)."""
    return {name: c.to_dict() for name, c in codes.items()}


def layer_codes_from_dict(obj: dict[str, Any]) -> dict[str, FSCode]:
    """Inverse of :func:`layer_codes_to_dict`."""
    return {name: FSCode.from_dict(d) for name, d in obj.items()}
