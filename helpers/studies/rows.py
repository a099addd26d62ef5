"""One row of the CIFAR-10 / ImageNet evaluation tables: a converted network measured end to end
(accuracy, spikes per neuron, latency, synaptic operations and energy against the ANN)."""

from __future__ import annotations

from typing import Any

import numpy as np

from helpers.ann.metrics import accuracy, paired_gap
from helpers.fs.codes import code_family
from helpers.snn.energy import ann_macs, energy_table
from helpers.snn.network import FSNetwork
from helpers.snn.simulate import agreement


def net_row(net: FSNetwork, x: np.ndarray, y: np.ndarray, *, model_name: str,
            precision: str = "fp32", batch_size: int = 250,
            ann_accuracy: float | None = None, split: str = "test",
            ann_predictions: np.ndarray | None = None) -> dict[str, Any]:
    """One results row of a converted network evaluated on ``(x, y)`` (the ``split``: "val"
    or "test" CIFAR-10 images, "eval" for the evaluation part of an ImageNet sample): ``model``, ``method`` ("fs"), ``code``, ``family``, ``K``,
    ``input_mode``, ``scale``, ``bottlenecks``, ``split``, ``ann_accuracy``,
    ``snn_accuracy``, ``snn_top5``, ``accuracy_gap_pp``, ``mean_spikes_per_neuron``,
    ``latency_timesteps``, ``synops_per_image``, ``energy_ratio`` (SNN/ANN), ``n_test``
    (images evaluated), ``spikes_per_layer`` (spikes per neuron), ``synops_per_layer`` (per
    image). ``ann_accuracy`` is measured on the same images with the BN-folded ANN unless
    given (a fine-tuned network is compared with its parent, the original ANN). With
    ``ann_predictions`` (the classes per image, shape (N,), of the ANN ``ann_accuracy``
    belongs to) the row also has ``ann_disagreement``: the fraction of images whose
    predicted class differs from the ANN's (right-to-wrong and wrong-to-right flips both
    count; in the accuracy gap they cancel), and how sure its gap is
    (:func:`gap_interval`)."""
    r = net.evaluate(x, y, batch_size)
    if ann_accuracy is None:
        ann_accuracy = accuracy(net.ann, x, y, batch_size)
    c = net.code
    _, ratio = snn_energy(net, r["synops_per_layer"], precision)
    return {"model": model_name, "method": "fs", "code": c.name,
            "family": code_family(c), "K": c.K, "input_mode": net.input_mode,
            "scale": net.scale, "bottlenecks": "spiking" if net.spiking_bottlenecks else "analog",
            "split": split, "ann_accuracy": ann_accuracy, "snn_accuracy": r["accuracy"],
            "snn_top5": r["top5"], "accuracy_gap_pp": 100 * (ann_accuracy - r["accuracy"]),
            "mean_spikes_per_neuron": r["mean_spikes_per_neuron"],
            "latency_timesteps": r["latency_timesteps"], "synops_per_image": r["synops_per_image"],
            "energy_ratio": ratio, "n_test": r["n"],
            "spikes_per_layer": r["spikes_per_neuron_per_layer"],
            "synops_per_layer": r["synops_per_layer"],
            **({} if ann_predictions is None else
               {"ann_disagreement": _disagreement(r["predictions"], ann_predictions),
                **gap_interval(y, ann_predictions, r["predictions"], ann_accuracy)})}


def gap_interval(y: np.ndarray, ann_pred: np.ndarray, snn_pred: np.ndarray,
                 ann_accuracy: float) -> dict[str, Any]:
    """A row's accuracy gap as a paired comparison over its images
    (:func:`helpers.ann.metrics.paired_gap`, 95 %): ``gap_ci_low_pp`` / ``gap_ci_high_pp``,
    ``ann_only`` / ``snn_only`` (images only the ANN / only the SNN classifies correctly) and
    ``mcnemar_p``. ``ann_accuracy`` must be the accuracy of ``ann_pred`` (the interval is of
    the row's gap)."""
    if abs(float(np.mean(np.asarray(ann_pred) == np.asarray(y))) - ann_accuracy) > 1e-9:
        raise ValueError(f"ann_predictions score {np.mean(np.asarray(ann_pred) == y):.6f}, "
                         f"not the row's ann_accuracy {ann_accuracy:.6f}. Fix: pass the "
                         "predictions of the ANN the row is compared with")
    g = paired_gap(y, ann_pred, snn_pred)
    return {"gap_ci_low_pp": g["ci_low_pp"], "gap_ci_high_pp": g["ci_high_pp"],
            "ann_only": g["ref_only"], "snn_only": g["new_only"], "mcnemar_p": g["mcnemar_p"]}


def _disagreement(pred: np.ndarray, ann_pred: np.ndarray) -> float:
    if len(pred) != len(ann_pred):
        raise ValueError(f"ann_predictions has {len(ann_pred)} classes for {len(pred)} images. "
                         "Fix: pass the ANN's predictions on the same images")
    return float(np.mean(np.asarray(pred) != np.asarray(ann_pred)))


def snn_energy(net: FSNetwork, synops_per_layer: dict[str, float], precision: str = "fp32"):
    """Energy table and SNN/ANN ratio of ``net`` (:func:`helpers.snn.energy.energy_table`):
    its synaptic operations per layer, analog MACs and every FS neuron's K steps."""
    steps = {info.name: info.n_neurons * info.code.K for info in net.layers}
    return energy_table(ann_macs(net.ann), synops_per_layer, net.analog_macs, precision, steps)


def verified(net, x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """A test row's event-level check on images ``(x, y)``: ``event_level_n``,
    ``event_level_agreement`` (fraction of images where the simulator predicts the class the
    FS-equivalent model predicts) and the full comparison as ``event_level``
    (:func:`helpers.snn.simulate.agreement`)."""
    a = agreement(net, x, y, progress=False)
    return {"event_level_n": a["n_images"], "event_level_agreement": a["same_prediction"],
            "event_level": a}
