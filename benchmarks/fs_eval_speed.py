"""Images per second of the ANN, the FS-equivalent model and the event-level simulator,
measured side by side on the same images in one run; prints the ratios.

    .venv/bin/python benchmarks/fs_eval_speed.py [--model resnet20_relu] [--n 256] [--K 8]

Uses the committed model in data/models and CIFAR-10 test images (CIFAR10_DIR etc.).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from helpers.fs import codes
from helpers.snn.convert import convert
from helpers.data import load_cifar10, normalize
from helpers.ann.resnet import load_card, load_model, model_paths
from helpers.paths import project_dirs
from helpers.seeding import set_seed
from helpers.snn.simulate import simulate


def timed(fn, reps: int = 3) -> float:
    fn()  # warm-up (tracing)
    best = np.inf
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default="resnet20_relu")
    ap.add_argument("--n", type=int, default=256, help="images (the simulator uses n/4)")
    ap.add_argument("--K", type=int, default=8)
    ap.add_argument("--batch", type=int, default=256)
    args = ap.parse_args()
    set_seed()
    dirs = project_dirs()
    model = load_model(model_paths(dirs.models, args.model)[0])
    pp = load_card(dirs.models, args.model)["preprocessing"]
    data = load_cifar10(n_train=256, n_test=args.n)
    x_cal = normalize(data.x_train, pp["mean"], pp["std"])
    x = normalize(data.x_test, pp["mean"], pp["std"])
    net = convert(model, codes.binary(args.K, 1.0), x_cal)
    n_sim = max(1, args.n // 4)
    t_ann = timed(lambda: [net.ann(x[i:i + args.batch], training=False)
                           for i in range(0, len(x), args.batch)])
    t_fs = timed(lambda: net.run(x, args.batch))
    t_sim = timed(lambda: simulate(net, x[:n_sim], batch_size=min(args.batch, n_sim),
                                   progress=False), reps=1)
    ips = {"ANN": len(x) / t_ann, "FS-equivalent": len(x) / t_fs,
           "event-level simulator": n_sim / t_sim}
    for k, v in ips.items():
        print(f"{k:>22}: {v:10.1f} images/s")
    print(f"FS-equivalent / ANN     = {ips['FS-equivalent'] / ips['ANN']:.3f}")
    print(f"simulator / ANN         = {ips['event-level simulator'] / ips['ANN']:.4f}")
    print(f"simulator / FS-equiv.   = {ips['event-level simulator'] / ips['FS-equivalent']:.4f}")


if __name__ == "__main__":
    main()
