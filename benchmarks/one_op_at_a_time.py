"""What running TensorFlow one op at a time costs: ``helpers.seeding.set_seed`` sets inter-op
parallelism to 1 (concurrent ops made float32 sums vary run to run), against TensorFlow's
default, measured side by side in one run. The setting must precede TensorFlow's first op,
so each setting runs in a subprocess of its own, on the same work: the per-step event-level
simulation of the committed ResNet-20 (binary K = 8) on CIFAR-10 test images, and training
steps of a fresh ResNet-20 (SGD, batch 128). Prints the seconds per case and the ratios.

    .venv/bin/python benchmarks/one_op_at_a_time.py [--n 250] [--steps 20]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

SETTINGS = ("one op at a time", "TensorFlow's default")


def child(setting: str, n: int, steps: int) -> dict[str, float]:
    """The two timings under ``setting`` (this process's TensorFlow is configured first)."""
    import tensorflow as tf

    from helpers.seeding import set_seed
    set_seed(deterministic_tf=setting == SETTINGS[0])
    if setting != SETTINGS[0]:
        tf.config.experimental.enable_op_determinism()      # the same kernels, ops concurrent
    from fs_eval_speed import resnet_inputs, timed           # benchmarks/ is on sys.path

    from helpers.ann.resnet import resnet_cifar
    from helpers.fs import codes
    from helpers.snn.convert import convert
    from helpers.snn.simulate import EventSimulator

    model, x_cal, x, y_cal = resnet_inputs(n)
    sim = EventSimulator(convert(model, codes.binary(8, 1.0), x_cal), "per_step")
    out = {"simulation": timed(lambda: sim(x, 250, progress=False), reps=1)}
    net = resnet_cifar(20)
    net.compile(tf.keras.optimizers.SGD(0.01, momentum=0.9),
                tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    xb, yb = x_cal[:128], y_cal[:128]
    out["training"] = timed(lambda: [net.train_on_batch(xb, yb) for _ in range(steps)])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=250, help="CIFAR-10 test images simulated")
    ap.add_argument("--steps", type=int, default=20, help="training steps (batch 128)")
    ap.add_argument("--child", choices=SETTINGS, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.n, args.steps)))
        return
    times = {}
    for setting in SETTINGS:
        run = subprocess.run([sys.executable, __file__, "--child", setting, "--n", str(args.n),
                              "--steps", str(args.steps)], capture_output=True, text=True,
                             check=True)
        times[setting] = json.loads(run.stdout.strip().splitlines()[-1])
    one, default = (times[s] for s in SETTINGS)
    for case in one:
        what = (f"per-step simulation, {args.n} images" if case == "simulation"
                else f"{args.steps} training steps")
        print(f"{what:>36}: one op at a time {one[case]:7.2f} s, default "
              f"{default[case]:7.2f} s, ratio {one[case] / default[case]:.3f}")


if __name__ == "__main__":
    main()
