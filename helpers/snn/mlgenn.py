"""mlGeNN / GeNN backend: run converted FS networks on GeNN (CPU backends or CUDA).

Two paths, both compiled with mlGeNN's ``FewSpikeCompiler`` (pipelined: every layer of FS
neurons works on a different image in each window of K steps; axonal delays of whole windows
align residual branches):

* :func:`run_fewspike` -- **mlGeNN's own path**: ``ml_genn_tf.converters.FewSpike``
  (binary code h = T = d = α 2^-(t+1), data-normalised α, no biases, no BatchNorm) on a Keras
  model it accepts. ``signed_norm="exact"`` fixes the signed-input normalisation (mlGeNN
  divides by 1 - 2^(1-K) although K/2 bits of each sign represent at most 1 - 2^(-K/2)).
* :func:`run_fs_network` -- **our codes in GeNN**: any :class:`helpers.snn.network.FSNetwork`
  (BN folded, biases, any per-layer code h(t), T(t), d(t): fitted, designed, SiLU,
  sigmoid). Its FS neurons keep h and T of their own code and the d of their *sources* as
  GeNN extra global parameters of K values, indexed by the step within the window (d belongs
  to the source layer but is applied where its spikes arrive). The analog first layer is
  computed on the host and drives the first layer's FS neurons directly, as in
  :mod:`helpers.snn.simulate`. Signed neurons -- offset-folded codes (a pair of FS neurons
  on x and −x with their own codes, the resting value in the next layer's bias) and the
  signed identity neurons of linear bottlenecks (EfficientNet-Lite; one code for x and −x)
  -- run side by side in K steps as one GeNN neuron with two membranes: spikes for x,
  spike-like events that the target subtracts for −x, each weighted by the −x half's d(t)
  over the x half's. A pair with no such ratio (its −x half sends where the x half's d is
  0) makes its network's halves take turns in windows of 2K steps. Depthwise convolutions,
  which mlGeNN lacks, pass its converter as Conv2D stand-ins and become explicit synapse
  lists.

Both report logits, per-layer spike counts per image, latency, GeNN build time and time per
image (:class:`GeNNRun`). ``readout="exact"`` reads the output one step later so that the last
layer's final (least significant) spike is included; ``readout="mlgenn"`` reads it where
mlGeNN does, at the end of the window, which misses that spike.

pygenn, ml_genn and ml_genn_tf are not on PyPI; they are imported only by
:mod:`helpers.snn.mlgenn_models` (the GeNN / mlGeNN classes), which this module imports on
first use: :func:`available` / :func:`missing_reason` tell whether they are installed.
"""

from __future__ import annotations

import importlib.util
import math
import time
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import tensorflow as tf
from tqdm.auto import trange

from helpers.fs.codes import binary
from helpers.fs.neuron import FSCode, OffsetCode
from helpers.paths import BUILD_DIR
from helpers.snn.export import folded_keras_model
from helpers.snn.network import FSLayerInfo, FSNetwork
from helpers.snn.simulate import affine_model

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


@cache
def _models() -> ModuleType:
    """:mod:`helpers.snn.mlgenn_models` (it imports pygenn, ml_genn and ml_genn_tf), imported
    on first use; :class:`MLGeNNUnavailable` saying how to install them when they are missing."""
    reason = missing_reason()
    if reason is not None:
        raise MLGeNNUnavailable(reason)
    from helpers.snn import mlgenn_models     # lazy: pygenn and mlGeNN are optional

    return mlgenn_models


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


# -- host-side numerics wired into mlGeNN networks ----------------------------------------
def _binary_d(K: int, alpha: float, signed: bool) -> np.ndarray:
    """d(t) by *source* step of mlGeNN's FewSpikeRelu / FewSpikeReluInput neurons (float32,
    computed as GeNN does: a float32 scale times a power of two)."""
    if signed:      # K/2 positive (even steps) and K/2 negative (odd steps) bits
        scale = np.float32(alpha * 2.0 ** (-(K // 2)))
        s = np.arange(K)
        sign = np.where(s % 2 == 0, 1, -1)
        return (sign * scale * 2.0 ** (K // 2 - 1 - s // 2)).astype(np.float32)
    scale = np.float32(alpha * 2.0 ** (-K))
    return (scale * 2.0 ** (K - 1 - np.arange(K))).astype(np.float32)


def conv_synapses(in_shape, out_shape, kernel: np.ndarray, strides, padding: str,
                  depthwise: bool = False):
    """Synapses of a 2-D convolution between HWC-flattened populations, with TensorFlow's
    padding: ``(pre_index, post_index, weight)`` arrays, one entry per kernel tap that lands
    inside the input. ``kernel``: ``(kh, kw, cin, cout)``; with ``depthwise``
    ``(kh, kw, C, 1)``: channel c of the input feeds channel c of the output only."""
    ih, iw, ic = in_shape
    oh, ow, oc = out_shape
    kh, kw = kernel.shape[:2]
    sh, sw = strides
    if depthwise and (kernel.shape[2:] != (ic, 1) or oc != ic):
        raise ValueError(f"depthwise kernel {kernel.shape} between {tuple(in_shape)} and "
                         f"{tuple(out_shape)}: depth multiplier 1 only")
    if str(padding).lower() == "same":
        ph = max((oh - 1) * sh + kh - ih, 0) // 2
        pw = max((ow - 1) * sw + kw - iw, 0) // 2
    else:
        ph = pw = 0
    axes = [np.arange(n, dtype=np.int64) for n in (oh, ow, kh, kw, ic)]
    if depthwise:
        oy, ox, ky, kx, ci = np.meshgrid(*axes, indexing="ij")
        co, k_out = ci, np.zeros_like(ci)
    else:
        oy, ox, ky, kx, ci, co = np.meshgrid(*axes, np.arange(oc), indexing="ij")
        k_out = co
    iy, ix = oy * sh + ky - ph, ox * sw + kx - pw
    ok = (iy >= 0) & (iy < ih) & (ix >= 0) & (ix < iw)
    pre = ((iy * iw + ix) * ic + ci)[ok]
    post = ((oy * ow + ox) * oc + co)[ok]
    w = kernel[ky[ok], kx[ok], ci[ok], k_out[ok]].astype(np.float32)
    return pre.astype(np.uint32), post.astype(np.uint32), w


def _source_d(neuron) -> np.ndarray:
    """d(t) by source step of a population's neurons (ours or mlGeNN's)."""
    m = _models()
    if isinstance(neuron, (m.FSPairInput, m.FSPairNeuron)):
        return m.pair_arrays(neuron.code)["d"]
    if isinstance(neuron, (m.FSSignedInput, m.FSSignedNeuron)):
        return m.signed_arrays(neuron.code)["d"]
    if isinstance(neuron, (m.FSInput, m.FSNeuron)):
        return neuron.code.d.astype(np.float32)
    if isinstance(neuron, m.FewSpikeReluInput):
        return _binary_d(neuron.k, neuron.alpha, neuron.signed_input)
    if isinstance(neuron, m.FewSpikeRelu):
        return _binary_d(neuron.k, neuron.alpha, False)
    raise TypeError(f"population of {type(neuron).__name__} cannot drive FS neurons")


def _ratio(d: np.ndarray, ref: np.ndarray) -> float | None:
    """r with d = r · ref (float32 rounding aside), or None if d is not proportional to ref."""
    ref = ref.astype(np.float64)
    r = float(np.dot(d, ref) / np.dot(ref, ref))
    return r if np.allclose(d, r * ref, rtol=1e-5, atol=1e-9 * np.abs(ref).max()) else None


def align_sources(network) -> dict[Any, str]:
    """Give every FS neuron/read-out the d of its sources (indexed by arrival step). Sources
    whose d differ by a constant factor form one group (the factor folded into their
    weights); each further group (a residual sum of layers with their own trained codes)
    arrives in its own input variable with its own d. Returns the connections that do not
    target ``Isyn``, with the input variable each targets (set by :func:`_compile`)."""
    m = _models()
    targets = {}
    for pop in network.populations:
        conns = [c() for c in pop.incoming_connections]
        if not conns or not isinstance(pop.neuron, (m.FSNeuron, m.FSReadout)):
            continue
        groups: list[np.ndarray] = []                      # each group's reference d
        for c in conns:
            d = _source_d(c.source().neuron)
            found = [(i, r) for i, ref in enumerate(groups) if (r := _ratio(d, ref)) is not None]
            i, r = found[0] if found else (len(groups), 1.0)
            if not found:
                groups.append(d)
            if r != 1.0:
                c.connectivity.weight = np.asarray(c.connectivity.weight) * np.float32(r)
            if i:
                targets[c] = m.input_names(i)[0]
        pop.neuron.d_in = [np.roll(d, 1).astype(np.float32) for d in groups]
    return targets


def explicit_depthwise(network) -> None:
    """Replace the depthwise convolutions that mlGeNN's converter carried as Conv2D
    connections (:class:`~helpers.snn.mlgenn_models.DepthwiseKernel` weights) by explicit
    sparse synapses."""
    m = _models()
    for conn in m.depthwise_convs(network):
        c = conn.connectivity
        pre, post, w = conv_synapses(conn.source().shape, c.output_shape, c.weight.kernel,
                                     c.conv_strides, c.conv_padding.value, depthwise=True)
        conn.connectivity = m.ExplicitConv2D(pre, post, w)


def _explicit_strided_convs(network) -> None:
    """Replace strided Conv2D connections by explicit sparse synapses (CPU backends)."""
    m = _models()
    for conn in m.strided_convs(network):
        c = conn.connectivity
        pre, post, w = conv_synapses(conn.source().shape, c.output_shape, np.asarray(c.weight),
                                     c.conv_strides, c.conv_padding.value)
        conn.connectivity = m.ExplicitConv2D(pre, post, w)


def _code_network(converter, model):
    """Convert ``model`` with a :class:`~helpers.snn.mlgenn_models.CodeConverter` (depthwise
    convolutions as explicit synapses) and give its FS neurons their sources' d. Returns
    ``(network, inputs, outputs, input variable of each connection not targeting Isyn)``."""
    m = _models()
    if any(isinstance(layer, tf.keras.layers.DepthwiseConv2D) for layer in model.layers):
        model = m.with_depthwise_stand_ins(model)
    network, inputs, outputs, _ = converter.convert(model)
    explicit_depthwise(network)
    return network, inputs, outputs, align_sources(network)


# -- building and running -----------------------------------------------------------------
def _compile(network, inputs, outputs, K: int, name: str, backend: str | None,
             batch_size: int, code_dir: str | Path | None, target_vars=None):
    """Compile and build ``network``; ``target_vars``: the input variable of each connection
    that does not target Isyn (:func:`align_sources`)."""
    backend = backend or default_backend()
    code_dir = Path(code_dir or BUILD_DIR / "genn")
    code_dir.mkdir(parents=True, exist_ok=True)
    compiler = _models().few_spike_compiler(K, batch_size, backend)
    if backend != "cuda":   # CPU backends have no procedural connectivity
        _explicit_strided_convs(network)
    t0 = time.perf_counter()
    compiled = compiler.compile(network, name=name, inputs=inputs, outputs=outputs)
    for conn, var in (target_vars or {}).items():
        compiled.connection_populations[conn].post_target_var = var
    compiled.genn_model.build(path_to_model=str(code_dir) + "/")
    return compiled, time.perf_counter() - t0, backend


def _pull(compiled, pop, var: str, shape: tuple[int, ...]) -> np.ndarray:
    """A population's variable, copied from the device, as ``shape``."""
    v = compiled.neuron_populations[pop].vars[var]
    v.pull_from_device()
    return np.reshape(v.view, shape)


def _present(compiled, inp, x: np.ndarray, w: int, B: int) -> None:
    """Set the input for window ``w``: images ``x[w B:(w+1) B]``, zero-padded to ``B``."""
    xb = x[w * B:(w + 1) * B]
    if len(xb) < B:
        xb = np.concatenate([xb, np.zeros((B - len(xb),) + xb.shape[1:], xb.dtype)])
    compiled.set_input({inp: xb if B > 1 else xb[0]})


class _SpikeTally:
    """Spikes per image in every counted population, from GeNN's cumulative ``SpikeCount``:
    the input population counts batch ``w`` in window ``w``, a population at pipeline depth
    ``d`` counts it in window ``w + d + 1``."""

    def __init__(self, compiled, inp, out, n_batches: int, B: int):
        depth = compiled.pop_pipeline_depth
        pops = [p for p in compiled.neuron_populations
                if p is not out and "SpikeCount" in compiled.neuron_populations[p].vars]
        pops.sort(key=lambda p: (p is not inp, depth.get(p, 0)))
        self.compiled, self.pops, self.n_batches, self.B = compiled, pops, n_batches, B
        self.offset = {p: 0 if p is inp else depth[p] + 1 for p in pops}
        self.spikes = np.zeros((n_batches * B, len(pops)))       # (images, populations)
        self.prev = {p: np.zeros((B, int(np.prod(p.shape)))) for p in pops}

    def window_done(self, w: int) -> None:
        """Record the spikes of window ``w`` against the batch each population worked on."""
        B = self.B
        for i, p in enumerate(self.pops):
            cur = _pull(self.compiled, p, "SpikeCount", (B, -1)).astype(np.float64)
            b = w - self.offset[p]
            if 0 <= b < self.n_batches:
                self.spikes[b * B:(b + 1) * B, i] = (cur - self.prev[p]).sum(1)
            self.prev[p] = cur


def _drive(compiled, inp, out, x: np.ndarray, K: int, batch_size: int, exact: bool,
           progress: bool, build_seconds: float) -> dict[str, Any]:
    """Present ``x`` window by window (one batch per window), flush the pipeline, and collect
    read-outs and per-image spike counts."""
    depth = compiled.pop_pipeline_depth
    lag = depth[out] + (1 if exact else 0)
    N, B = len(x), batch_size
    nb = math.ceil(N / B)
    n_out = int(np.prod(out.shape))
    tally = _SpikeTally(compiled, inp, out, nb, B)
    logits = np.zeros((nb * B, n_out), np.float32)
    out_var = out.neuron.readout.output_var_name
    t0 = time.perf_counter()
    with compiled:
        build_seconds += time.perf_counter() - t0
        t1 = time.perf_counter()
        for w in trange(nb + lag, desc=f"GeNN ({compiled.genn_model.name})", disable=not progress):
            compiled.genn_model.timestep = 0    # t follows; mlGeNN's reset_time sets t too,
                                                # which GeNN 5.4 no longer allows
            if w < nb:
                _present(compiled, inp, x, w, B)
            for _ in range(K):
                compiled.genn_model.step_time()
            j = w - lag
            if 0 <= j < nb:
                logits[j * B:(j + 1) * B] = _pull(compiled, out, out_var, (B, n_out))
            tally.window_done(w)
        seconds = time.perf_counter() - t1
    return {"logits": logits[:N], "spikes": tally.spikes[:N], "pops": tally.pops,
            "latency_timesteps": (depth[out] + 1) * K + (1 if exact else 0),
            "build_seconds": build_seconds, "ms_per_image": 1e3 * seconds / N}


def _result(r: dict[str, Any], K: int, backend: str, batch_size: int, **meta) -> GeNNRun:
    pops = r["pops"]
    return GeNNRun(r["logits"], r["spikes"], [p.name for p in pops],
                   np.array([int(np.prod(p.shape)) for p in pops]), K, r["latency_timesteps"],
                   round(r["build_seconds"], 2), round(r["ms_per_image"], 3), backend,
                   batch_size, meta)


def mlgenn_keras_model(model: tf.keras.Model) -> tf.keras.Model:
    """A copy of a bias-free, BN-free Keras model whose output Dense layer has softmax
    activation (mlGeNN's converter refuses a linear output layer; the read-out is taken before
    the activation anyway, so predictions are unchanged)."""
    clone = tf.keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    last = clone.layers[-1]
    if isinstance(last, tf.keras.layers.Dense) and last.activation is tf.keras.activations.linear:
        last.activation = tf.keras.activations.softmax
    return clone


def fewspike_network(model: tf.keras.Model, x_calib: np.ndarray, K: int,
                     signed_norm: str = "mlgenn", batch_size: int = 100):
    """Convert with mlGeNN's FewSpike (data-normalised on ``x_calib``, signed input).
    Returns ``(network, inputs, outputs, layer_pops, converter)``."""
    m = _models()
    norm = [[(x_calib[i:i + batch_size], None) for i in range(0, len(x_calib), batch_size)]]
    conv = m.CountingFewSpike(k=K, signed_input=True, norm_data=norm, signed_norm=signed_norm)
    net, inputs, outputs, pops = conv.convert(mlgenn_keras_model(model))
    return net, inputs, outputs, pops, conv


def run_fewspike(model: tf.keras.Model, x_calib: np.ndarray, x: np.ndarray, K: int = 8, *,
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


def run_fewspike_with_fs_neurons(model: tf.keras.Model, x_calib: np.ndarray, x: np.ndarray,
                                 K: int = 8, *, readout: str = "mlgenn",
                                 signed_norm: str = "mlgenn", backend: str | None = None,
                                 batch_size: int = 1, code_dir: str | Path | None = None,
                                 name: str = "fsbinary", progress: bool = True) -> GeNNRun:
    """mlGeNN's FewSpike network rebuilt with our FS neuron
    (:class:`~helpers.snn.mlgenn_models.FSNeuron`): the binary code with mlGeNN's per-layer α,
    mlGeNN's input encoder. With ``readout="mlgenn"`` it must reproduce :func:`run_fewspike`
    exactly; ``"exact"`` adds the last spike."""
    m = _models()
    _, _, _, pops, _ = fewspike_network(model, x_calib, K, signed_norm)
    codes, inp = {}, None
    for layer, pop in pops.items():
        n = pop.neuron
        if isinstance(n, m.FewSpikeReluInput):      # mlGeNN's encoder (with a counter)
            inp = m.CountingFewSpikeReluInput(n.k, n.alpha, n.signed_input)
        elif n.readout is None:
            codes[layer.name] = binary(K, float(n.alpha), name=f"mlgenn_binary@{layer.name}")
    conv = m.CodeConverter(codes, {}, 0.0, inp, "V" if readout == "exact" else "Fx")
    net, inputs, outputs, targets = _code_network(conv, model)
    compiled, build, backend = _compile(net, inputs, outputs, K, name, backend, batch_size,
                                        code_dir, targets)
    r = _drive(compiled, inputs[0], outputs[0], x, K, batch_size, readout == "exact",
               progress, build)
    return _result(r, K, backend, batch_size, path="FS neurons, mlGeNN alphas", readout=readout)


def first_layer_input(net: FSNetwork, x: np.ndarray, batch_size: int = 250,
                      affine: tf.keras.Model | None = None) -> np.ndarray:
    """Pre-activation of the analog first FS layer for normalised images ``x`` (host side).
    ``affine``: :func:`helpers.snn.simulate.affine_model` of ``net``, if already built."""
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


def _shared_K(net: FSNetwork) -> int:
    """The K of all FS layers of an analog-input network (GeNN's pipeline needs one)."""
    if net.input_mode != "analog":
        raise NotImplementedError(
            "run_fs_network drives the analog first layer's FS neurons directly; convert with "
            "input_mode='analog' (for spike-encoded input use run_fewspike, mlGeNN's encoder)")
    special = sorted({type(i.code).__name__ for i in net.layers} - {"FSCode", "OffsetCode"})
    if special:
        raise NotImplementedError(
            f"the GeNN backend runs plain and offset-folded FS codes; this network has "
            f"{special} layers (JRA floating point). Check them with helpers.snn.simulate "
            "instead")
    Ks = {info.code.K for info in net.layers}
    if len(Ks) != 1:
        raise ValueError(f"all FS layers must share one K for GeNN's pipeline, got {sorted(Ks)}")
    return Ks.pop()


def _genn_code(info: FSLayerInfo) -> FSCode:
    """The code of a layer's GeNN neurons: signed identity neurons (a pair on x and −x with
    one code, as in linear bottlenecks) as an offset-folded code with offset 0 whose negative
    half is that same code (:func:`~helpers.snn.mlgenn_models.pair_arrays`)."""
    c = info.code
    if not info.signed or isinstance(c, OffsetCode):
        return c
    return OffsetCode(c.name, c.activation, c.h, c.T, c.d, c.x_range,
                      {**c.meta, "negative": c.to_dict(), "offset": 0.0})


def run_fs_network(net: FSNetwork, x: np.ndarray, *, readout: str = "exact",
                   backend: str | None = None, batch_size: int = 1,
                   code_dir: str | Path | None = None, name: str = "fsnet",
                   progress: bool = True) -> GeNNRun:
    """Run a converted network (``input_mode="analog"``) in GeNN with its own codes, biases
    and folded BatchNorm, on normalised images ``x`` ``(N, H, W, C)``. Signed neurons --
    offset-folded pairs and the signed identity neurons of linear bottlenecks -- run side by
    side (:class:`~helpers.snn.mlgenn_models.FSSignedNeuron`) in K-step windows; if one
    pair cannot (:func:`~helpers.snn.mlgenn_models.signed_arrays` is None), every FS layer
    runs as neurons whose halves take turns
    (:class:`~helpers.snn.mlgenn_models.FSPairNeuron`) in windows of 2K steps: the same
    spikes and values, twice the latency. Depthwise convolutions run as explicit synapses."""
    m = _models()
    K = _shared_K(net)
    keras_cut = folded_keras_model(net, start="first_fs")
    first = keras_cut.input_names[0]
    info = {i.name: i for i in net.layers}
    signed = frozenset(n for n, i in info.items() if i.signed)
    paired = any(m.signed_arrays(info[n].code) is None for n in signed)
    steps = 2 * K if paired else K
    codes = {name: _genn_code(i) if paired else i.code for name, i in info.items()}
    if paired:
        first_neuron, signed = m.FSPairInput(codes[first]), frozenset()
    else:
        first_neuron = (m.FSSignedInput if first in signed else m.FSInput)(codes[first])
    affine = affine_model(net)
    biases, out_bias = _biases(net, affine)
    conv = m.CodeConverter(codes, biases, out_bias, first_neuron,
                           "V" if readout == "exact" else "Fx", paired=paired, signed=signed)
    network, inputs, outputs, targets = _code_network(conv, keras_cut)
    compiled, build, backend = _compile(network, inputs, outputs, steps, name, backend,
                                        batch_size, code_dir, targets)
    x0 = first_layer_input(net, x, affine=affine)
    r = _drive(compiled, inputs[0], outputs[0], x0, steps, batch_size, readout == "exact",
               progress, build)
    if readout != "exact":   # the running sum lacks the bias (added when the next window opens)
        r["logits"] = r["logits"] + out_bias.astype(np.float32)
    run = _result(r, K, backend, batch_size, path="FS neurons, our codes", readout=readout,
                  window_steps=steps)
    neurons = {info.name: info.n_neurons for info in net.layers}
    run.n_neurons = np.array([neurons[n] for n in run.layer_names])   # a pair: two neurons
    return run


def versions() -> dict[str, str]:
    """Installed versions of pygenn, ml_genn and ml_genn_tf (for results files)."""
    out = {}
    for pkg in ("pygenn", "ml_genn", "ml_genn_tf"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    return out
