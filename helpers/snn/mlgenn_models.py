"""GeNN / mlGeNN classes of the GeNN backend :mod:`helpers.snn.mlgenn`: mlGeNN's FewSpike neurons
and converter with spike counters, FS neurons with any code, the non-spiking read-out, the
converter from Keras to them, signed neurons side by side (offset-folded pairs, signed
identity neurons) or taking turns, depthwise and strided convolutions as explicit sparse
synapses and the FewSpike compiler for a GeNN backend.

This module imports pygenn, ml_genn and ml_genn_tf (not on PyPI) when it is imported; only
:mod:`helpers.snn.mlgenn` imports it, on first use, after checking that they are installed.
"""

from __future__ import annotations

from copy import copy, deepcopy
from typing import Any

import numpy as np
import tensorflow as tf
from ml_genn.compilers import FewSpikeCompiler
from ml_genn.compilers.compiler import SupportedMatrixType
from ml_genn.connectivity import Connectivity, Conv2D
from ml_genn.initializers import Initializer
from ml_genn.neurons import FewSpikeRelu, FewSpikeReluInput
from ml_genn.utils.model import NeuronModel
from ml_genn.utils.snippet import ConnectivitySnippet
from ml_genn_tf.converters import FewSpike
from ml_genn_tf.converters.converter import Converter
from pygenn import SynapseMatrixType

from helpers.fs.neuron import FSCode, OffsetCode

_STEP = "const int p = (int)(t / dt);\n"     # step within the window (time restarts per window)


def _bias(bias, population) -> Any:
    """A bias as a GeNN variable value: a float, or per neuron in the population's flattened
    (HWC) order."""
    if np.ndim(bias) == 0:
        return float(bias)
    b = np.asarray(bias, np.float32)
    if b.size == int(np.prod(population.shape)):       # per neuron (possibly flattened)
        return np.ascontiguousarray(b).ravel()
    return np.ascontiguousarray(np.broadcast_to(b, tuple(population.shape))).ravel()


# -- mlGeNN's FewSpike path with spike counters ----------------------------------------------
def _counting(nm: NeuronModel) -> NeuronModel:
    """The same neuron model with a spike counter (numerics unchanged)."""
    nm = copy(nm)
    nm.model = deepcopy(nm.model)
    nm.var_vals = dict(nm.var_vals)
    nm.add_var("SpikeCount", "scalar", 0.0)
    nm._append_code("reset_code", "SpikeCount += 1.0;")
    return nm


class CountingFewSpikeRelu(FewSpikeRelu):
    """mlGeNN's FewSpikeRelu plus a spike counter."""

    def get_model(self, population, dt, batch_size):
        return _counting(super().get_model(population, dt, batch_size))


class CountingFewSpikeReluInput(FewSpikeReluInput):
    """mlGeNN's FewSpikeReluInput plus a spike counter."""

    def get_model(self, population, dt, batch_size):
        return _counting(super().get_model(population, dt, batch_size))


class CountingFewSpike(FewSpike):
    """mlGeNN's FewSpike converter with counting neurons; ``signed_norm="exact"`` scales
    signed input so that max|x| is the largest value K/2 bits represent."""

    def __init__(self, *args, signed_norm: str = "mlgenn", **kwargs):
        super().__init__(*args, **kwargs)
        self.signed_norm = signed_norm

    def pre_convert(self, tf_model):
        out = super().pre_convert(tf_model)
        if self.signed_input and self.signed_norm == "exact" and out.input_alpha is not None:
            k = self.k
            out = out._replace(input_alpha=out.input_alpha * (1 - 2.0 ** (1 - k))
                               / (1 - 2.0 ** (-(k // 2))))
        return out

    def create_input_neurons(self, pre):
        n = super().create_input_neurons(pre)
        return CountingFewSpikeReluInput(n.k, n.alpha, n.signed_input)

    def create_neurons(self, tf_layer, pre, is_output):
        n = super().create_neurons(tf_layer, pre, is_output)
        return CountingFewSpikeRelu(n.k, n.alpha, readout="var" if is_output else None)


# -- FS neurons with any code -------------------------------------------------------------
class FSInput(FewSpikeReluInput):
    """FS neurons driven directly (V set per image): the analog first layer's neurons."""

    def __init__(self, code: FSCode):
        super().__init__(k=code.K, alpha=1.0, signed_input=False)
        self.code = code

    def get_model(self, population, dt, batch_size):
        model = {"params": [("K", "int")],
                 "vars": [("V", "scalar"), ("SpikeCount", "scalar")],
                 "extra_global_params": [("hArr", "scalar*"), ("TArr", "scalar*")],
                 "sim_code": _STEP,
                 "threshold_condition_code": "V >= TArr[p]",
                 "reset_code": "V -= hArr[p];\nSpikeCount += 1.0;"}
        c = self.code
        return NeuronModel(model, None, {"K": c.K}, {"V": 0.0, "SpikeCount": 0.0},
                           {"hArr": c.h.astype(np.float32), "TArr": c.T.astype(np.float32)})


def input_names(i: int) -> tuple[str, str]:
    """The input variable and d(t) array of a population's ``i``-th group of sources."""
    return ("Isyn", "dIn") if i == 0 else (f"Isyn{i}", f"dIn{i}")


class _WeightedInputs:
    """What a target of FS neurons integrates: ``d_in`` holds one array per group of its
    sources whose codes' d(t) are proportional (:func:`helpers.snn.mlgenn.align_sources`);
    group ``i`` arrives in input variable ``Isyn``/``Isyn<i>`` and is weighted at step p
    by ``d_in[i][p]`` (the group's d of step p-1). One group: mlGeNN's single ``Isyn``."""

    d_in: list[np.ndarray] | None = None

    def _inputs(self) -> tuple[dict[str, Any], str, list, dict[str, np.ndarray]]:
        """``(model entries, sim-code line, EGP declarations, EGP values)`` of the inputs."""
        names = [input_names(i) for i in range(len(self.d_in))]
        extra = [(v, "scalar", 0.0) for v, _ in names[1:]]
        line = "Fx += " + " + ".join(f"{v} * {e}[p]" for v, e in names) + ";\n"
        return (({"additional_input_vars": extra} if extra else {}), line,
                [(e, "scalar*") for _, e in names],
                {e: d for (_, e), d in zip(names, self.d_in)})


class FSNeuron(_WeightedInputs, FewSpikeRelu):
    """FS neuron with any code: own h(t), T(t); input arriving at step p weighted by its
    sources' d of step p-1 (:class:`_WeightedInputs`); ``bias`` (per neuron or scalar) is
    added to the integrated input when the window opens."""

    def __init__(self, code: FSCode, bias, readout=None):
        super().__init__(k=code.K, alpha=1.0, readout=readout)
        self.code = code
        self.bias = bias

    def get_model(self, population, dt, batch_size):
        extra, line, egps, egp_vals = self._inputs()
        model = {"params": [("K", "int")],
                 "vars": [("V", "scalar"), ("Fx", "scalar"), ("Bias", "scalar"),
                          ("SpikeCount", "scalar")],
                 "extra_global_params": [("hArr", "scalar*"), ("TArr", "scalar*")] + egps,
                 "sim_code": _STEP + line +
                             "if (p == 0) {\n   V = Fx + Bias;\n   Fx = 0.0;\n}\n",
                 "threshold_condition_code": "V >= TArr[p]",
                 "reset_code": "V -= hArr[p];\nSpikeCount += 1.0;", **extra}
        c = self.code
        return NeuronModel(model, "Fx", {"K": c.K},
                           {"V": 0.0, "Fx": 0.0, "Bias": _bias(self.bias, population),
                            "SpikeCount": 0.0},
                           {"hArr": c.h.astype(np.float32), "TArr": c.T.astype(np.float32),
                            **egp_vals})


def _half(code: FSCode, K: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(h, T, d)`` of ``code`` as float32 arrays of K steps (padded with steps that never
    fire: T = float32 max, h = d = 0)."""
    pad = K - len(code.h)
    never = np.finfo(np.float32).max
    return (np.pad(np.asarray(code.h, np.float32), (0, pad)),
            np.pad(np.asarray(code.T, np.float32), (0, pad), constant_values=never),
            np.pad(np.asarray(code.d, np.float32), (0, pad)))


def signed_arrays(code: FSCode) -> dict[str, np.ndarray] | None:
    """The float32 arrays (K,) of signed neurons side by side (:class:`FSSignedNeuron`)
    running ``code``: ``hArr, TArr, d`` of the half on x; ``hN, TN`` of the half on −x (an
    :class:`OffsetCode`'s negative half, else ``code`` again: signed identity neurons); and
    ``RN``, the negative half's d over the positive half's, step by step. Targets weight a
    source's input by the positive half's d(t), so a negative event carries the weight −RN.
    None if the negative half has a d where the positive half's d is 0 (no ratio: such a
    code needs halves that take turns, :class:`FSPairNeuron`)."""
    K = code.K
    neg = code.negative if isinstance(code, OffsetCode) else code
    (hP, TP, dP), (hN, TN, dN) = _half(code, K), _half(neg, K)
    if np.any((dP == 0) & (dN != 0)):
        return None
    RN = np.divide(dN, dP, out=np.zeros(K, np.float32), where=dP != 0).astype(np.float32)
    return {"hArr": hP, "TArr": TP, "d": dP, "hN": hN, "TN": TN, "RN": RN}


#: The half on −x of :class:`FSSignedNeuron`/:class:`FSSignedInput`, one step: NegW is the
#: weight of its event this step (0: none), read by the synapses (see FSCompiler).
_NEGATIVE_HALF = ("const bool fireN = Vn >= TN[p];\nNegW = fireN ? RN[p] : 0.0;\n"
                  "if (fireN) {\n   Vn -= hN[p];\n   SpikeCount += 1.0;\n}\n")
_SIGNED = {"threshold_condition_code": "V >= TArr[p]",
           "negative_threshold_condition_code": "NegW != 0.0",     # see FSCompiler
           "reset_code": "V -= hArr[p];\nSpikeCount += 1.0;"}
_SIGNED_EGPS = [(k, "scalar*") for k in ("hArr", "TArr", "hN", "TN", "RN")]


def _signed_egps(code: FSCode) -> dict[str, np.ndarray]:
    arrays = signed_arrays(code)
    if arrays is None:
        raise ValueError(f"{code.name}: its negative half sends where the positive half's d "
                         "is 0, so its halves cannot run side by side; run it as FSPairNeuron")
    return {k: v for k, v in arrays.items() if k != "d"}


class FSSignedInput(FSInput):
    """:class:`FSInput` as signed neurons side by side (:class:`FSSignedNeuron`): the input
    sets V; when the window opens the half on −x starts from −V."""

    def get_model(self, population, dt, batch_size):
        model = {"params": [("K", "int")],
                 "vars": [("V", "scalar"), ("Vn", "scalar"), ("NegW", "scalar"),
                          ("SpikeCount", "scalar")],
                 "extra_global_params": _SIGNED_EGPS,
                 "sim_code": _STEP + "if (p == 0) {\n   Vn = -V;\n}\n" + _NEGATIVE_HALF,
                 **_SIGNED}
        return NeuronModel(model, None, {"K": self.code.K},
                           {"V": 0.0, "Vn": 0.0, "NegW": 0.0, "SpikeCount": 0.0},
                           _signed_egps(self.code))


class FSSignedNeuron(FSNeuron):
    """Signed neurons side by side: a pair on x and −x (an offset-folded code's two halves,
    or the linear bottlenecks' signed identity neurons with one code) as one GeNN neuron with
    two membranes that step together in the K-step window. The half on x sends spikes; the
    half on −x sends spike-like events, which the synapses turn into −g times the event's
    weight RN(t) (:func:`signed_arrays`: 1 for one code), so with the target's weighting by
    the positive half's d(t) each arrives as −g·d_N(t)."""

    def get_model(self, population, dt, batch_size):
        extra, line, egps, egp_vals = self._inputs()
        model = {"params": [("K", "int")],
                 "vars": [("V", "scalar"), ("Vn", "scalar"), ("NegW", "scalar"),
                          ("Fx", "scalar"), ("Bias", "scalar"), ("SpikeCount", "scalar")],
                 "extra_global_params": _SIGNED_EGPS + egps,
                 "sim_code": _STEP + line +
                             "if (p == 0) {\n   V = Fx + Bias;\n   Vn = -V;\n   Fx = 0.0;\n}\n"
                             + _NEGATIVE_HALF,
                 **_SIGNED, **extra}
        return NeuronModel(model, "Fx", {"K": self.code.K},
                           {"V": 0.0, "Vn": 0.0, "NegW": 0.0, "Fx": 0.0,
                            "Bias": _bias(self.bias, population), "SpikeCount": 0.0},
                           {**_signed_egps(self.code), **egp_vals})


# -- offset-folded pairs: two membranes that take turns -----------------------------------
def pair_arrays(code: FSCode) -> dict[str, np.ndarray]:
    """The float32 arrays of a paired neuron (:class:`FSPairNeuron`) running ``code``:
    ``hP, TP`` (K,) of the half on x, ``hN, TN`` (K,) of the half on −x, and ``d`` (2K,) by
    source step, interleaved: step 2s sends the positive half's d(s), step 2s+1 minus the
    negative half's. An :class:`OffsetCode` gives both halves; a plain code gets a negative
    half that never fires (threshold float32 max, d = 0), so plain layers can share a
    network's 2K-step window with paired ones."""
    K = len(code.h)
    if isinstance(code, OffsetCode):
        neg = code.negative
        hN, TN, dN = neg.h, neg.T, neg.d
    else:
        hN, TN, dN = np.zeros(K), np.full(K, np.finfo(np.float32).max), np.zeros(K)
    d = np.empty(2 * K, np.float32)
    d[0::2], d[1::2] = code.d, -np.asarray(dN)
    arrays = {"hP": code.h, "TP": code.T, "hN": hN, "TN": TN}
    return {**{k: np.asarray(v, np.float32) for k, v in arrays.items()}, "d": d}


#: Step within a 2K-step window: s = p / 2 of the half whose turn it is (even p: on x).
_PAIR_STEP = _STEP + "const int s = p / 2;\nconst bool pos = (p % 2) == 0;\n"
_PAIR_SPIKE = {"threshold_condition_code": "pos ? (Vp >= TP[s]) : (Vn >= TN[s])",
               "reset_code": "if (pos) {\n   Vp -= hP[s];\n}\nelse {\n   Vn -= hN[s];\n}\n"
                             "SpikeCount += 1.0;"}
_PAIR_EGPS = [("hP", "scalar*"), ("TP", "scalar*"), ("hN", "scalar*"), ("TN", "scalar*")]


def _pair_egps(code: FSCode) -> dict[str, np.ndarray]:
    return {k: v for k, v in pair_arrays(code).items() if k != "d"}


class FSPairInput(FSInput):
    """:class:`FSInput` as a pair (:func:`pair_arrays`): the input sets V; when the window
    opens Vp = V and Vn = −V; even steps run the half on x, odd steps the half on −x."""

    def get_model(self, population, dt, batch_size):
        model = {"params": [("K", "int")],
                 "vars": [("V", "scalar"), ("Vp", "scalar"), ("Vn", "scalar"),
                          ("SpikeCount", "scalar")],
                 "extra_global_params": _PAIR_EGPS,
                 "sim_code": _PAIR_STEP + "if (p == 0) {\n   Vp = V;\n   Vn = -V;\n}\n",
                 **_PAIR_SPIKE}
        return NeuronModel(model, None, {"K": self.code.K},
                           {"V": 0.0, "Vp": 0.0, "Vn": 0.0, "SpikeCount": 0.0},
                           _pair_egps(self.code))


class FSPairNeuron(FSNeuron):
    """:class:`FSNeuron` as a pair: the two FS neurons of an offset-folded code (one on x, one
    on −x, :mod:`helpers.fs.offset`) as one GeNN neuron with two membranes that take turns in
    a window of 2K steps, as mlGeNN's signed input neurons interleave their two signs. Each
    spike's sign and d(t) reach the target through its ``d_in`` (:func:`pair_arrays`)."""

    def get_model(self, population, dt, batch_size):
        extra, line, egps, egp_vals = self._inputs()
        model = {"params": [("K", "int")],
                 "vars": [("Vp", "scalar"), ("Vn", "scalar"), ("Fx", "scalar"),
                          ("Bias", "scalar"), ("SpikeCount", "scalar")],
                 "extra_global_params": _PAIR_EGPS + egps,
                 "sim_code": _PAIR_STEP + line +
                             "if (p == 0) {\n   Vp = Fx + Bias;\n   Vn = -Vp;\n   Fx = 0.0;\n}\n",
                 **_PAIR_SPIKE, **extra}
        return NeuronModel(model, "Fx", {"K": self.code.K},
                           {"Vp": 0.0, "Vn": 0.0, "Fx": 0.0,
                            "Bias": _bias(self.bias, population), "SpikeCount": 0.0},
                           {**_pair_egps(self.code), **egp_vals})


class FSReadout(_WeightedInputs, FewSpikeRelu):
    """Non-spiking read-out: Fx integrates d_in-weighted input (:class:`_WeightedInputs`);
    when the next window opens V = Fx + bias holds the complete value (``output_var="V"``,
    exact) -- ``"Fx"`` reads the running sum at the end of the window as mlGeNN does."""

    def __init__(self, K: int, bias, output_var: str = "V"):
        super().__init__(k=K, alpha=1.0, readout="var")
        self.bias = bias
        self.output_var = output_var

    def get_model(self, population, dt, batch_size):
        extra, line, egps, egp_vals = self._inputs()
        model = {"params": [("K", "int")],
                 "vars": [("V", "scalar"), ("Fx", "scalar"), ("Bias", "scalar")],
                 "extra_global_params": egps,
                 "sim_code": _STEP + line +
                             "if (p == 0) {\n   V = Fx + Bias;\n   Fx = 0.0;\n}\n", **extra}
        return NeuronModel(model, self.output_var, {"K": self.k},
                           {"V": 0.0, "Fx": 0.0, "Bias": _bias(self.bias, population)},
                           egp_vals)


class CodeConverter(Converter):
    """Keras -> mlGeNN network of :class:`FSNeuron` with given per-layer codes and biases.

    ``codes``/``biases``: by Activation-layer name; ``output_bias``: the read-out's;
    ``input_neuron``: the input population's neuron (:class:`FSInput` or mlGeNN's);
    ``paired``: every FS layer as a :class:`FSPairNeuron` (windows of 2K steps);
    ``signed``: layers of signed neurons (offset-folded pairs, signed identity neurons) that
    run side by side (:class:`FSSignedNeuron`).
    The converted network's FS neurons and read-out still need their ``d_in``
    (:func:`helpers.snn.mlgenn.align_sources`)."""

    def __init__(self, codes: dict[str, FSCode], biases: dict[str, Any], output_bias,
                 input_neuron, output_var: str = "V", paired: bool = False,
                 signed: frozenset[str] = frozenset()):
        self.codes, self.biases, self.output_bias = codes, biases, output_bias
        self.input_neuron, self.output_var, self.paired = input_neuron, output_var, paired
        self.signed = signed
        self.K = next(iter(codes.values())).K * (2 if paired else 1)    # steps per window

    def create_input_neurons(self, pre):
        return self.input_neuron

    def create_neurons(self, tf_layer, pre, is_output):
        if is_output:
            return FSReadout(self.K, self.output_bias, self.output_var)
        fused = getattr(tf_layer, "activation", None) not in (None, tf.keras.activations.linear)
        if fused or isinstance(tf_layer, (tf.keras.layers.Activation, tf.keras.layers.ReLU)):
            if tf_layer.name not in self.codes:
                raise ValueError(f"no FS code for layer {tf_layer.name!r}")
            neuron = (FSPairNeuron if self.paired else
                      FSSignedNeuron if tf_layer.name in self.signed else FSNeuron)
            return neuron(self.codes[tf_layer.name], self.biases.get(tf_layer.name, 0.0))
        return None     # linear Conv2D/Dense: synapses only, no population

    def validate_tf_layer(self, tf_layer, config):
        if isinstance(tf_layer, tf.keras.layers.AveragePooling2D) and tf_layer.padding != "valid":
            raise NotImplementedError(f"layer {tf_layer.name!r}: mlGeNN supports only "
                                      "'valid' padding in AveragePooling2D")

    def create_compiler(self, **kwargs):
        return FSCompiler(k=self.K, **kwargs)


# -- depthwise convolutions (mlGeNN has no depthwise connectivity) --------------------------
class DepthwiseKernel(Initializer):
    """A depthwise kernel ``(kh, kw, C, 1)`` carried through mlGeNN's converter as the weight
    of a Conv2D connection (:class:`DepthwiseAsConv2D`); replaced by explicit synapses
    (:func:`helpers.snn.mlgenn.explicit_depthwise`) before the network is compiled."""

    def __init__(self, kernel: np.ndarray):
        self.kernel = np.asarray(kernel, np.float32)

    def get_snippet(self):
        raise NotImplementedError("a depthwise kernel must become explicit synapses "
                                  "(helpers.snn.mlgenn.explicit_depthwise) before compiling")


class DepthwiseAsConv2D(tf.keras.layers.Conv2D):
    """A DepthwiseConv2D (depth multiplier 1) as mlGeNN's converter can read it: a Conv2D
    layer (C filters, same kernel size, strides and padding) with the same output, whose
    weight is handed over as a :class:`DepthwiseKernel`."""

    def __init__(self, kernel: np.ndarray, strides, padding: str, name: str):
        kernel = np.asarray(kernel, np.float32)
        if kernel.ndim != 4 or kernel.shape[3] != 1:
            raise NotImplementedError(f"layer {name!r}: depthwise kernel {kernel.shape}; the "
                                      "GeNN backend supports depth multiplier 1 only")
        super().__init__(kernel.shape[2], kernel.shape[:2], strides=strides, padding=padding,
                         use_bias=False, name=name)
        self.depthwise_kernel = kernel

    def build(self, input_shape):
        self.built = True

    def call(self, x):
        return tf.nn.depthwise_conv2d(x, self.depthwise_kernel, (1, *self.strides, 1),
                                      self.padding.upper())

    def get_weights(self):
        return [DepthwiseKernel(self.depthwise_kernel)]


def with_depthwise_stand_ins(model: tf.keras.Model) -> tf.keras.Model:
    """A copy of ``model`` whose DepthwiseConv2D layers are :class:`DepthwiseAsConv2D` (their
    biases are dropped: the GeNN backend adds every bias as a constant current)."""
    def clone(layer):
        if isinstance(layer, tf.keras.layers.DepthwiseConv2D):
            return DepthwiseAsConv2D(layer.get_weights()[0], layer.strides, layer.padding,
                                     layer.name)
        return layer.__class__.from_config(layer.get_config())

    copy_ = tf.keras.models.clone_model(model, clone_function=clone)
    for layer in copy_.layers:
        if layer.weights and not isinstance(layer, DepthwiseAsConv2D):
            layer.set_weights(model.get_layer(layer.name).get_weights())
    return copy_


def depthwise_convs(network) -> list:
    """The network's Conv2D connections that carry a :class:`DepthwiseKernel`."""
    return [conn for conn in network.connections
            if isinstance(conn.connectivity, Conv2D)
            and isinstance(conn.connectivity.weight, DepthwiseKernel)]


# -- connectivity and compiler --------------------------------------------------------------
class ExplicitConv2D(Connectivity):
    """A Conv2D as a sparse matrix with host-computed indices and weights (depthwise
    convolutions, and strided convolutions on CPU backends: no Toeplitz, no procedural
    connectivity, and GeNN 5.4's on-device sparse conv initialisation fails for merged
    groups)."""

    def __init__(self, pre_ind, post_ind, weight):
        super().__init__(weight, 0)
        self.pre_ind, self.post_ind = pre_ind, post_ind

    def connect(self, source, target):
        pass

    def get_snippet(self, connection, supported_matrix_type):
        return ConnectivitySnippet(snippet=None, matrix_type=SynapseMatrixType.SPARSE,
                                   weight=self.weight, delay=0,
                                   pre_ind=self.pre_ind, post_ind=self.post_ind)


def strided_convs(network) -> list:
    """The network's connections that are Conv2D with a stride other than 1."""
    return [conn for conn in network.connections
            if isinstance(conn.connectivity, Conv2D)
            and tuple(conn.connectivity.conv_strides) != (1, 1)]


class FSCompiler(FewSpikeCompiler):
    """mlGeNN's FewSpikeCompiler whose connections from signed neurons side by side
    (:class:`FSSignedNeuron`, :class:`FSSignedInput`) read the source's ``NegW`` (the weight
    of its negative half's event this step, 0: none) through a presynaptic variable
    reference, as GeNN 5's spike-like event conditions and code read presynaptic variables,
    and add ``-g * NegW`` for each event."""

    def build_weight_update_model(self, connection, connect_snippet, compile_state):
        wum = super().build_weight_update_model(connection, connect_snippet, compile_state)
        if isinstance(connection.source().neuron, (FSSignedNeuron, FSSignedInput)):
            # a dict of this model's own: mlGeNN's default one is shared by every model
            wum.pre_neuron_var_refs = dict(wum.pre_neuron_var_refs)
            wum.add_pre_neuron_var_ref("NegW", "scalar", "NegW")
            wum.model["pre_event_syn_code"] = "addToPost(-g * NegW);"
        return wum


def few_spike_compiler(K: int, batch_size: int, backend: str) -> FewSpikeCompiler:
    """mlGeNN's pipelined FewSpike compiler for ``backend``; on CPU backends (no procedural
    connectivity) it builds Toeplitz, sparse or dense synapse matrices only."""
    # prefer_in_memory_connect=False: TOEPLITZ / procedural convolutions; GeNN 5.4's sparse
    # initialisation of merged conv groups with different kernel shapes fails to generate
    # ("Identifier '_kernel_size_2' undefined")
    compiler = FSCompiler(k=K, batch_size=batch_size, backend=backend,
                          prefer_in_memory_connect=False)
    if backend != "cuda":
        M = SynapseMatrixType
        compiler.supported_matrix_type = SupportedMatrixType([M.TOEPLITZ, M.SPARSE, M.DENSE])
    return compiler
