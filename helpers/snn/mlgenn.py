"""mlGeNN / GeNN backend: run converted FS networks on GeNN (CPU backends or CUDA).

Two paths, both compiled with mlGeNN's ``FewSpikeCompiler`` (pipelined: every layer of FS
neurons works on a different image in each window of K steps; axonal delays of whole windows
align residual branches):

* :func:`run_fewspike` -- **mlGeNN's own path**: ``ml_genn_tf.converters.FewSpike``
  (binary code h = T = d = α 2^-(t+1), data-normalised α, no biases, no BatchNorm) on a Keras
  model it accepts. ``signed_norm="exact"`` fixes the signed-input normalisation (mlGeNN
  divides by 1 - 2^(1-K) although K/2 bits of each sign represent at most 1 - 2^(-K/2)).
* :func:`run_fs_network` -- **our codes in GeNN**: any :class:`helpers.snn.convert.FSNetwork`
  (BN folded, biases, any per-layer code h(t), T(t), d(t): fitted, designed, SiLU,
  sigmoid). Its FS neurons keep h and T of their own code and the d of their *sources* as
  GeNN extra global parameters of K values, indexed by the step within the window (d belongs
  to the source layer but is applied where its spikes arrive). The analog first layer is
  computed on the host and drives the first layer's FS neurons directly, as in
  :mod:`helpers.snn.simulate`.

Both report logits, per-layer spike counts per image, latency, GeNN build time and time per
image (:class:`GeNNRun`). ``readout="exact"`` reads the output one step later so that the last
layer's final (least significant) spike is included; ``readout="mlgenn"`` reads it where
mlGeNN does, at the end of the window, which misses that spike.

pygenn, ml_genn and ml_genn_tf are not on PyPI and are imported lazily, only here:
:func:`available` / :func:`missing_reason` tell whether they are installed.
"""

from __future__ import annotations

import importlib.util
import math
import time
from copy import copy, deepcopy
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from helpers.fs.codes import binary
from helpers.snn.convert import FSNetwork, folded_keras_model
from helpers.fs.neuron import FSCode
from helpers.paths import BUILD_DIR

INSTALL_HINT = ("install GeNN (github.com/genn-team/genn) and mlGeNN with ml_genn_tf "
                "(github.com/genn-team/ml_genn) from source following their own instructions; "
                "see the README section 'mlGeNN backend'")


class MLGeNNUnavailable(ImportError):
    """pygenn / ml_genn / ml_genn_tf are not installed."""


def missing_reason() -> str | None:
    """None when pygenn, ml_genn and ml_genn_tf import; otherwise one line saying what is
    missing and how to install it."""
    missing = [m for m in ("pygenn", "ml_genn", "ml_genn_tf")
               if importlib.util.find_spec(m) is None]
    if not missing:
        return None
    return (f"mlGeNN backend skipped: {', '.join(missing)} not installed (not on PyPI); "
            f"{INSTALL_HINT}.")


def available() -> bool:
    return missing_reason() is None


def default_backend() -> str:
    """"cuda" when pygenn was built with its CUDA backend, else "single_threaded_cpu"."""
    return "cuda" if importlib.util.find_spec("pygenn.cuda_backend") else "single_threaded_cpu"


@dataclass
class GeNNRun:
    """Result of running images through a compiled GeNN network."""

    logits: np.ndarray            # (N, classes): read-out values
    spikes: np.ndarray            # (N, L): spikes per image in each spiking population
    layer_names: list[str]
    n_neurons: np.ndarray         # (L,) neurons per image in each spiking population
    K: int
    latency_timesteps: int        # steps from image onset until the read-out is complete
    build_seconds: float          # GeNN code generation + compilation + loading
    ms_per_image: float           # simulation wall time per image (pipelined)
    backend: str
    batch_size: int
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def predictions(self) -> np.ndarray:
        return self.logits.argmax(1)

    @property
    def mean_spikes_per_neuron(self) -> float:
        return float(self.spikes.sum(1).mean() / self.n_neurons.sum())

    def spikes_per_neuron_per_layer(self) -> dict[str, float]:
        return dict(zip(self.layer_names, (self.spikes.mean(0) / self.n_neurons).tolist()))


# -- neuron models (built lazily: they subclass mlGeNN classes) ---------------------------
_STEP = "const int p = (int)(t / dt);\n"     # step within the window (time restarts per window)


def _binary_d(K: int, alpha: float, signed: bool) -> np.ndarray:
    """d(t) by *source* step of mlGeNN's FewSpikeRelu / FewSpikeReluInput neurons (float32,
    computed as GeNN does: a float32 scale times a power of two)."""
    if signed:      # K/2 positive (even steps) and K/2 negative (odd steps) bits
        scale = np.float32(alpha * 2.0 ** (-(K // 2)))
        s = np.arange(K)
        return (np.where(s % 2 == 0, 1, -1) * scale * 2.0 ** (K // 2 - 1 - s // 2)).astype(np.float32)
    scale = np.float32(alpha * 2.0 ** (-K))
    return (scale * 2.0 ** (K - 1 - np.arange(K))).astype(np.float32)


@cache
def _ml() -> SimpleNamespace:
    """Import mlGeNN and define the neuron, converter classes that depend on it."""
    reason = missing_reason()
    if reason is not None:
        raise MLGeNNUnavailable(reason)
    from ml_genn.compilers import FewSpikeCompiler
    from ml_genn.neurons import FewSpikeRelu, FewSpikeReluInput
    from ml_genn.utils.model import NeuronModel
    from ml_genn_tf.converters import FewSpike
    from ml_genn_tf.converters.converter import Converter
    import tensorflow as tf

    def counting(nm):
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
            return counting(super().get_model(population, dt, batch_size))

    class CountingFewSpikeReluInput(FewSpikeReluInput):
        """mlGeNN's FewSpikeReluInput plus a spike counter."""

        def get_model(self, population, dt, batch_size):
            return counting(super().get_model(population, dt, batch_size))

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

    class FSNeuron(FewSpikeRelu):
        """FS neuron with any code: own h(t), T(t); d_in(p) weights input arriving at step p
        (the sources' d of step p-1); ``bias`` (per neuron or scalar) is added to the
        integrated input when the window opens."""

        def __init__(self, code: FSCode, bias, readout=None):
            super().__init__(k=code.K, alpha=1.0, readout=readout)
            self.code = code
            self.bias = bias
            self.d_in: np.ndarray | None = None

        def get_model(self, population, dt, batch_size):
            model = {"params": [("K", "int")],
                     "vars": [("V", "scalar"), ("Fx", "scalar"), ("Bias", "scalar"),
                              ("SpikeCount", "scalar")],
                     "extra_global_params": [("hArr", "scalar*"), ("TArr", "scalar*"),
                                             ("dIn", "scalar*")],
                     "sim_code": _STEP + "Fx += Isyn * dIn[p];\n"
                                 "if (p == 0) {\n   V = Fx + Bias;\n   Fx = 0.0;\n}\n",
                     "threshold_condition_code": "V >= TArr[p]",
                     "reset_code": "V -= hArr[p];\nSpikeCount += 1.0;"}
            c = self.code
            return NeuronModel(model, "Fx", {"K": c.K},
                               {"V": 0.0, "Fx": 0.0, "Bias": _bias(self.bias, population),
                                "SpikeCount": 0.0},
                               {"hArr": c.h.astype(np.float32), "TArr": c.T.astype(np.float32),
                                "dIn": self.d_in})

    class FSReadout(FewSpikeRelu):
        """Non-spiking read-out: Fx integrates d_in-weighted input; when the next window opens
        V = Fx + bias holds the complete value (``output_var="V"``, exact) -- ``"Fx"`` reads
        the running sum at the end of the window as mlGeNN does."""

        def __init__(self, K: int, bias, output_var: str = "V"):
            super().__init__(k=K, alpha=1.0, readout="var")
            self.bias = bias
            self.output_var = output_var
            self.d_in: np.ndarray | None = None

        def get_model(self, population, dt, batch_size):
            model = {"params": [("K", "int")],
                     "vars": [("V", "scalar"), ("Fx", "scalar"), ("Bias", "scalar")],
                     "extra_global_params": [("dIn", "scalar*")],
                     "sim_code": _STEP + "Fx += Isyn * dIn[p];\n"
                                 "if (p == 0) {\n   V = Fx + Bias;\n   Fx = 0.0;\n}\n"}
            return NeuronModel(model, self.output_var, {"K": self.k},
                               {"V": 0.0, "Fx": 0.0, "Bias": _bias(self.bias, population)},
                               {"dIn": self.d_in})

    def source_d(neuron) -> np.ndarray:
        if isinstance(neuron, (FSInput, FSNeuron)):
            return neuron.code.d.astype(np.float32)
        if isinstance(neuron, FewSpikeReluInput):
            return _binary_d(neuron.k, neuron.alpha, neuron.signed_input)
        if isinstance(neuron, FewSpikeRelu):
            return _binary_d(neuron.k, neuron.alpha, False)
        raise TypeError(f"population of {type(neuron).__name__} cannot drive FS neurons")

    class CodeConverter(Converter):
        """Keras -> mlGeNN network of :class:`FSNeuron` with given per-layer codes and biases.

        ``codes``/``biases``: by Activation-layer name; ``output_bias``: the read-out's;
        ``input_neuron``: the input population's neuron (:class:`FSInput` or mlGeNN's)."""

        def __init__(self, codes: dict[str, FSCode], biases: dict[str, Any], output_bias,
                     input_neuron, output_var: str = "V"):
            self.codes, self.biases, self.output_bias = codes, biases, output_bias
            self.input_neuron, self.output_var = input_neuron, output_var
            self.K = next(iter(codes.values())).K

        def create_input_neurons(self, pre):
            return self.input_neuron

        def create_neurons(self, tf_layer, pre, is_output):
            if is_output:
                return FSReadout(self.K, self.output_bias, self.output_var)
            fused = getattr(tf_layer, "activation", None) not in (None, tf.keras.activations.linear)
            if fused or isinstance(tf_layer, (tf.keras.layers.Activation, tf.keras.layers.ReLU)):
                if tf_layer.name not in self.codes:
                    raise ValueError(f"no FS code for layer {tf_layer.name!r}")
                return FSNeuron(self.codes[tf_layer.name], self.biases.get(tf_layer.name, 0.0))
            return None     # linear Conv2D/Dense: synapses only, no population

        def validate_tf_layer(self, tf_layer, config):
            if isinstance(tf_layer, tf.keras.layers.AveragePooling2D) and tf_layer.padding != "valid":
                raise NotImplementedError(f"layer {tf_layer.name!r}: mlGeNN supports only "
                                          "'valid' padding in AveragePooling2D")

        def post_convert(self, network, inputs, outputs):
            align_sources(network)

        def create_compiler(self, **kwargs):
            return FewSpikeCompiler(k=self.K, **kwargs)

    def align_sources(network) -> None:
        """Give every FS neuron/read-out the d of its sources (indexed by arrival step); when
        sources' d differ by a constant factor, fold the factor into their weights."""
        for pop in network.populations:
            conns = [c() for c in pop.incoming_connections]
            if not conns or not isinstance(pop.neuron, (FSNeuron, FSReadout)):
                continue
            ds = [source_d(c.source().neuron) for c in conns]
            ref = ds[0].astype(np.float64)
            for c, d in zip(conns[1:], ds[1:]):
                r = float(np.dot(d, ref) / np.dot(ref, ref))
                if not np.allclose(d, r * ref, rtol=1e-5, atol=1e-9 * np.abs(ref).max()):
                    raise ValueError(
                        f"population {pop.name!r} receives spikes from {conns[0].source().name!r} "
                        f"and {c.source().name!r}, whose codes' output weights d(t) are not "
                        "proportional; GeNN FS neurons need one d(t) shape per target layer")
                if r != 1.0:
                    c.connectivity.weight = np.asarray(c.connectivity.weight) * np.float32(r)
            pop.neuron.d_in = np.roll(ds[0], 1).astype(np.float32)

    from ml_genn.connectivity import Conv2D, Connectivity
    from ml_genn.utils.snippet import ConnectivitySnippet
    from pygenn import SynapseMatrixType

    class ExplicitConv2D(Connectivity):
        """A Conv2D as a sparse matrix with host-computed indices and weights (used for
        strided convolutions on CPU backends: no Toeplitz, no procedural connectivity, and
        GeNN 5.4's on-device sparse conv initialisation fails for merged groups)."""

        def __init__(self, pre_ind, post_ind, weight):
            super().__init__(weight, 0)
            self.pre_ind, self.post_ind = pre_ind, post_ind

        def connect(self, source, target):
            pass

        def get_snippet(self, connection, supported_matrix_type):
            return ConnectivitySnippet(snippet=None, matrix_type=SynapseMatrixType.SPARSE,
                                       weight=self.weight, delay=0,
                                       pre_ind=self.pre_ind, post_ind=self.post_ind)

    def explicit_strided_convs(network) -> None:
        for conn in network.connections:
            c = conn.connectivity
            if isinstance(c, Conv2D) and tuple(c.conv_strides) != (1, 1):
                pre, post, w = conv_synapses(conn.source().shape, c.output_shape,
                                             np.asarray(c.weight), c.conv_strides,
                                             c.conv_padding.value)
                conn.connectivity = ExplicitConv2D(pre, post, w)

    return SimpleNamespace(**locals())


def conv_synapses(in_shape, out_shape, kernel: np.ndarray, strides, padding: str):
    """Synapses of a 2-D convolution between HWC-flattened populations, with TensorFlow's
    padding: ``(pre_index, post_index, weight)`` arrays, one entry per kernel tap that lands
    inside the input. ``kernel``: ``(kh, kw, cin, cout)``."""
    ih, iw, ic = in_shape
    oh, ow, oc = out_shape
    kh, kw = kernel.shape[:2]
    sh, sw = strides
    if str(padding).lower() == "same":
        ph = max((oh - 1) * sh + kh - ih, 0) // 2
        pw = max((ow - 1) * sw + kw - iw, 0) // 2
    else:
        ph = pw = 0
    oy, ox, ky, kx, ci, co = np.meshgrid(np.arange(oh), np.arange(ow), np.arange(kh),
                                         np.arange(kw), np.arange(ic), np.arange(oc),
                                         indexing="ij", sparse=False)
    iy, ix = oy * sh + ky - ph, ox * sw + kx - pw
    ok = (iy >= 0) & (iy < ih) & (ix >= 0) & (ix < iw)
    pre = ((iy * iw + ix) * ic + ci)[ok]
    post = ((oy * ow + ox) * oc + co)[ok]
    w = kernel[ky[ok], kx[ok], ci[ok], co[ok]].astype(np.float32)
    return pre.astype(np.uint32), post.astype(np.uint32), w


def _bias(bias, population) -> Any:
    if np.ndim(bias) == 0:
        return float(bias)
    b = np.asarray(bias, np.float32)
    if b.size == int(np.prod(population.shape)):       # per neuron (possibly flattened)
        return np.ascontiguousarray(b).ravel()
    return np.ascontiguousarray(np.broadcast_to(b, tuple(population.shape))).ravel()


# -- building and running -----------------------------------------------------------------
def _compile(network, inputs, outputs, K: int, name: str, backend: str | None,
             batch_size: int, code_dir: str | Path | None):
    ml = _ml()
    backend = backend or default_backend()
    code_dir = Path(code_dir or BUILD_DIR / "genn")
    code_dir.mkdir(parents=True, exist_ok=True)
    # prefer_in_memory_connect=False: TOEPLITZ / procedural convolutions; GeNN 5.4's sparse
    # initialisation of merged conv groups with different kernel shapes fails to generate
    # ("Identifier '_kernel_size_2' undefined")
    compiler = ml.FewSpikeCompiler(k=K, batch_size=batch_size, backend=backend,
                                   prefer_in_memory_connect=False)
    if backend != "cuda":   # CPU backends have no procedural connectivity
        from ml_genn.compilers.compiler import SupportedMatrixType
        from pygenn import SynapseMatrixType as M

        compiler.supported_matrix_type = SupportedMatrixType([M.TOEPLITZ, M.SPARSE, M.DENSE])
        ml.explicit_strided_convs(network)
    t0 = time.perf_counter()
    compiled = compiler.compile(network, name=name, inputs=inputs, outputs=outputs)
    compiled.genn_model.build(path_to_model=str(code_dir) + "/")
    return compiled, time.perf_counter() - t0, backend


def _drive(compiled, inp, out, x: np.ndarray, K: int, batch_size: int, exact: bool,
           progress: bool, build_seconds: float) -> dict[str, Any]:
    """Present ``x`` window by window (one batch per window), flush the pipeline, and collect
    read-outs and per-image spike counts."""
    from tqdm.auto import trange

    depth = compiled.pop_pipeline_depth
    lag = depth[out] + (1 if exact else 0)
    N, B = len(x), batch_size
    nb = math.ceil(N / B)
    n_out = int(np.prod(out.shape))
    counted = [p for p in compiled.neuron_populations
               if p is not out and "SpikeCount" in compiled.neuron_populations[p].vars]
    counted.sort(key=lambda p: (p is not inp, depth.get(p, 0)))
    offset = {p: 0 if p is inp else depth[p] + 1 for p in counted}
    logits = np.zeros((nb * B, n_out), np.float32)
    spikes = np.zeros((nb * B, len(counted)))
    prev = {p: np.zeros((B, int(np.prod(p.shape)))) for p in counted}
    out_var = out.neuron.readout.output_var_name
    t0 = time.perf_counter()
    with compiled:
        build_seconds += time.perf_counter() - t0
        t1 = time.perf_counter()
        for w in trange(nb + lag, desc=f"GeNN ({compiled.genn_model.name})", disable=not progress):
            compiled.genn_model.timestep = 0    # t follows; mlGeNN's reset_time sets t too,
                                                # which GeNN 5.4 no longer allows
            if w < nb:
                xb = x[w * B:(w + 1) * B]
                if len(xb) < B:
                    xb = np.concatenate([xb, np.zeros((B - len(xb),) + xb.shape[1:], xb.dtype)])
                compiled.set_input({inp: xb if B > 1 else xb[0]})
            for _ in range(K):
                compiled.genn_model.step_time()
            j = w - lag
            if 0 <= j < nb:
                v = compiled.neuron_populations[out].vars[out_var]
                v.pull_from_device()
                logits[j * B:(j + 1) * B] = np.reshape(v.view, (B, n_out))
            for i, p in enumerate(counted):
                sc = compiled.neuron_populations[p].vars["SpikeCount"]
                sc.pull_from_device()
                cur = np.reshape(sc.view, (B, -1)).astype(np.float64)
                b = w - offset[p]
                if 0 <= b < nb:
                    spikes[b * B:(b + 1) * B, i] = (cur - prev[p]).sum(1)
                prev[p] = cur
        seconds = time.perf_counter() - t1
    return {"logits": logits[:N], "spikes": spikes[:N], "pops": counted,
            "latency_timesteps": (depth[out] + 1) * K + (1 if exact else 0),
            "build_seconds": build_seconds, "ms_per_image": 1e3 * seconds / N}


def _result(r: dict[str, Any], K: int, backend: str, batch_size: int, **meta) -> GeNNRun:
    pops = r["pops"]
    return GeNNRun(r["logits"], r["spikes"], [p.name for p in pops],
                   np.array([int(np.prod(p.shape)) for p in pops]), K, r["latency_timesteps"],
                   round(r["build_seconds"], 2), round(r["ms_per_image"], 3), backend,
                   batch_size, meta)


def mlgenn_keras_model(model):
    """A copy of a bias-free, BN-free Keras model whose output Dense layer has softmax
    activation (mlGeNN's converter refuses a linear output layer; the read-out is taken before
    the activation anyway, so predictions are unchanged)."""
    import tensorflow as tf

    clone = tf.keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    last = clone.layers[-1]
    if isinstance(last, tf.keras.layers.Dense) and last.activation is tf.keras.activations.linear:
        last.activation = tf.keras.activations.softmax
    return clone


def fewspike_network(model, x_calib: np.ndarray, K: int, signed_norm: str = "mlgenn",
                     batch_size: int = 100):
    """Convert with mlGeNN's FewSpike (data-normalised on ``x_calib``, signed input).
    Returns ``(network, inputs, outputs, layer_pops, converter)``."""
    ml = _ml()
    norm = [[(x_calib[i:i + batch_size], None) for i in range(0, len(x_calib), batch_size)]]
    conv = ml.CountingFewSpike(k=K, signed_input=True, norm_data=norm, signed_norm=signed_norm)
    net, inputs, outputs, pops = conv.convert(mlgenn_keras_model(model))
    return net, inputs, outputs, pops, conv


def run_fewspike(model, x_calib: np.ndarray, x: np.ndarray, K: int = 8, *,
                 signed_norm: str = "mlgenn", backend: str | None = None, batch_size: int = 1,
                 code_dir: str | Path | None = None, name: str = "fewspike",
                 progress: bool = True) -> GeNNRun:
    """mlGeNN's own FewSpike path on normalised images ``x`` ``(N, H, W, C)``: read-out where
    mlGeNN reads it (end of the output layer's window)."""
    net, inputs, outputs, _, _ = fewspike_network(model, x_calib, K, signed_norm)
    compiled, build, backend = _compile(net, inputs, outputs, K, name, backend, batch_size,
                                        code_dir)
    r = _drive(compiled, inputs[0], outputs[0], x, K, batch_size, False, progress, build)
    return _result(r, K, backend, batch_size, path="mlgenn FewSpike", signed_norm=signed_norm)


def run_fewspike_with_fs_neurons(model, x_calib: np.ndarray, x: np.ndarray, K: int = 8, *,
                                 readout: str = "mlgenn", signed_norm: str = "mlgenn",
                                 backend: str | None = None, batch_size: int = 1,
                                 code_dir: str | Path | None = None, name: str = "fsbinary",
                                 progress: bool = True) -> GeNNRun:
    """mlGeNN's FewSpike network rebuilt with our :class:`FSNeuron`: the binary code with
    mlGeNN's per-layer α, mlGeNN's input encoder. With ``readout="mlgenn"`` it must reproduce
    :func:`run_fewspike` exactly; ``"exact"`` adds the last spike."""
    ml = _ml()
    _, _, _, pops, _ = fewspike_network(model, x_calib, K, signed_norm)
    codes, inp = {}, None
    for layer, pop in pops.items():
        n = pop.neuron
        if isinstance(n, ml.FewSpikeReluInput):      # mlGeNN's encoder (with a counter)
            inp = ml.CountingFewSpikeReluInput(n.k, n.alpha, n.signed_input)
        elif n.readout is None:
            codes[layer.name] = binary(K, float(n.alpha), name=f"mlgenn_binary@{layer.name}")
    conv = ml.CodeConverter(codes, {}, 0.0, inp, "V" if readout == "exact" else "Fx")
    net, inputs, outputs, _ = conv.convert(model)
    compiled, build, backend = _compile(net, inputs, outputs, K, name, backend, batch_size,
                                        code_dir)
    r = _drive(compiled, inputs[0], outputs[0], x, K, batch_size, readout == "exact",
               progress, build)
    return _result(r, K, backend, batch_size, path="FS neurons, mlGeNN alphas", readout=readout)


def first_layer_input(net: FSNetwork, x: np.ndarray, batch_size: int = 250,
                      affine=None) -> np.ndarray:
    """Pre-activation of the analog first FS layer for normalised images ``x`` (host side).
    ``affine``: :func:`helpers.snn.simulate.affine_model` of ``net``, if already built."""
    import tensorflow as tf

    from helpers.snn.simulate import affine_model

    affine = affine or affine_model(net)
    spikes = [np.zeros((1,) + tuple(t.shape[1:]), np.float32) for t in affine.inputs[1:]]
    out = []
    for i in range(0, len(x), batch_size):
        xb = tf.convert_to_tensor(x[i:i + batch_size])
        z = [np.repeat(a, len(xb), 0) for a in spikes]
        out.append(affine([xb] + z, training=False)[0].numpy())
    return np.concatenate(out)


def _biases(net: FSNetwork, affine) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Constant input current of every FS layer (and of the read-out): the pre-activations
    when the image and all spikes are zero."""
    zeros = [np.zeros((1,) + tuple(t.shape[1:]), np.float32) for t in affine.inputs]
    outs = [o.numpy()[0] for o in affine(zeros, training=False)]
    names = [info.name for info in net.layers]
    return dict(zip(names, outs[:-1])), outs[-1]


def run_fs_network(net: FSNetwork, x: np.ndarray, *, readout: str = "exact",
                   backend: str | None = None, batch_size: int = 1,
                   code_dir: str | Path | None = None, name: str = "fsnet",
                   progress: bool = True) -> GeNNRun:
    """Run a converted network (``input_mode="analog"``) in GeNN with its own codes, biases
    and folded BatchNorm, on normalised images ``x`` ``(N, H, W, C)``."""
    ml = _ml()
    if net.input_mode != "analog":
        raise NotImplementedError(
            "run_fs_network drives the analog first layer's FS neurons directly; convert with "
            "input_mode='analog' (for spike-encoded input use run_fewspike, mlGeNN's encoder)")
    Ks = {info.code.K for info in net.layers}
    if len(Ks) != 1:
        raise ValueError(f"all FS layers must share one K for GeNN's pipeline, got {sorted(Ks)}")
    K = Ks.pop()
    keras_cut = folded_keras_model(net, start="first_fs")
    first = keras_cut.input_names[0]
    codes = {info.name: info.code for info in net.layers}
    from helpers.snn.simulate import affine_model

    affine = affine_model(net)
    biases, out_bias = _biases(net, affine)
    conv = ml.CodeConverter(codes, biases, out_bias, ml.FSInput(codes[first]),
                            "V" if readout == "exact" else "Fx")
    network, inputs, outputs, _ = conv.convert(keras_cut)
    compiled, build, backend = _compile(network, inputs, outputs, K, name, backend, batch_size,
                                        code_dir)
    x0 = first_layer_input(net, x, affine=affine)
    r = _drive(compiled, inputs[0], outputs[0], x0, K, batch_size, readout == "exact",
               progress, build)
    if readout != "exact":   # the running sum lacks the bias (added when the next window opens)
        r["logits"] = r["logits"] + out_bias.astype(np.float32)
    return _result(r, K, backend, batch_size, path="FS neurons, our codes", readout=readout)


def versions() -> dict[str, str]:
    """Installed versions of pygenn, ml_genn and ml_genn_tf (for results files)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("pygenn", "ml_genn", "ml_genn_tf"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    return out
