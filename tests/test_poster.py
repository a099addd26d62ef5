"""Poster panels from small synthetic results files, and the display names they show."""

from __future__ import annotations

import json
import re

import matplotlib.pyplot as plt
import numpy as np
import pytest
from PIL import Image

from helpers.fs import codes
from helpers.fs.neuron import FSCode
from helpers.report import poster
from helpers.report.poster_page import make_poster
from helpers.report.style import code_label, model_label, savefig
from helpers.results import write_json

#: What an identifier looks like: snake_case words, a λ tag or a K suffix.
IDENTIFIER = re.compile(r"[A-Za-z0-9]_[A-Za-z0-9]|lam\d|_K\d")


def _fs_row(model, code, family, K, acc, spikes, mode="analog"):
    return {"model": model, "method": "fs", "code": code, "family": family, "K": K,
            "input_mode": mode, "ann_accuracy": 0.91, "snn_accuracy": acc,
            "accuracy_gap_pp": 100 * (0.91 - acc), "mean_spikes_per_neuron": spikes,
            "latency_timesteps": 19 * K, "energy_ratio": 0.2, "n_test": 100, "T": None}


@pytest.fixture()
def root(tmp_path):
    cdir, rdir = tmp_path / "data" / "codes", tmp_path / "data" / "results"
    codes.binary(4, 10.0, name="binary_K4").save(cdir)
    for act in ("relu", "silu", "sigmoid"):
        rng = np.random.default_rng(len(act))
        FSCode(f"fitted_{act}_K4", act, rng.uniform(0.5, 3, 4), rng.uniform(0, 3, 4),
               rng.uniform(0, 2, 4), (-10, 10), {"family": "fitted"}).save(cdir)
    codes.sm_published("silu").save(cdir)
    codes.sm_published("sigmoid").save(cdir)
    write_json(rdir / "fitting.json", {
        "comparison": [{"activation": a, "code": "ours (fitted)", "K": 4, "mse": 0.01}
                       for a in ("relu", "silu", "sigmoid")],
        "error_vs_K": [{"activation": a, "K": K, "family": "fitted", "mse": 0.1 / K}
                       for a in ("relu", "silu") for K in (2, 4)]})
    net_rows = [{"code": f"{f}_K{K}", "family": f, "K": K, "layer": "network",
                 "mse": 1e-3 / K ** 2, "mae": 0.0, "mean_spikes": 0.2 * K}
                for f in ("binary", "binary_max", "fibonacci") for K in (4, 6, 8)]
    write_json(rdir / "codes.json", {"relu": {"rows": net_rows, "reference": net_rows[2],
                                              "winners": net_rows[:1]}, "smooth_rows": []})
    rows = [_fs_row("resnet20_relu", f"binary_K{K}", "binary", K, 0.85 + 0.01 * K, 0.2 * K)
            for K in (4, 6, 8)]
    rows.append(_fs_row("resnet20_relu", "relu_fib_K6", "fibonacci", 6, 0.905, 0.8))
    rows.append(_fs_row("resnet20_relu", "relu_fitted_density_lam1e-05_K6", "fitted", 6, 0.9, 0.7))
    rows.append(_fs_row("resnet20_silu", "fitted_silu_K8", "fitted", 8, 0.88, 1.9))
    for K, acc, spikes in ((4, 0.9, 0.45), (2, 0.8, 0.3), (3, 0.78, 0.4)):   # (3: dominated)
        rows.append({**_fs_row(f"resnet20_relu_ft_K{K}_binary_K{K}_lam0.2_sm", f"binary_K{K}",
                               "binary", K, acc, spikes), "finetuned": True,
                     "parent": "resnet20_relu", "activation": "relu"})
    rows += [{"model": "resnet20_relu", "method": "rate", "code": "rate_max_constant",
              "family": "rate", "K": None, "T": T, "input_mode": "constant",
              "ann_accuracy": 0.91, "snn_accuracy": 0.5 + T / 1000,
              "mean_spikes_per_neuron": T / 20, "latency_timesteps": T} for T in (32, 64)]
    write_json(rdir / "cifar10.json", {"rows": rows, "provenance": {"params": {"models": {
        "relu": "resnet20_relu", "silu": "resnet20_silu"}}}, "energy": {
        "code": "relu_fib_K6", "ratio": 0.25, "precision": "fp32",
        "table": [{"layer": "c", "network": "ANN", "energy_pj": 1e6},
                  {"layer": "c", "network": "SNN", "energy_pj": 2.5e5}]}})
    write_json(rdir / "conversion.json", {"rows": [], "agreement": [], "raster": {
        "image": 0, "K": 2, "latency_timesteps": 4, "total_spikes": 3,
        "model": "resnet20_relu", "code": "binary_K2",
        "layers": [{"name": "a", "stage": 0, "n_shown": 2, "spikes": [0, 1, 1, 0],
                    "spikes_per_neuron": 1.0},
                   {"name": "b", "stage": 1, "n_shown": 2, "spikes": [1, 1],
                    "spikes_per_neuron": 0.5}]}})
    write_json(rdir / "imagenet.json", {"rows": [
        {"code": f"binary_K{K}", "family": "binary", "K": K, "snn_accuracy": 0.7 + 0.01 * K, "ann_accuracy": 0.83,
         "accuracy_gap_pp": 13 - K, "mean_spikes_per_neuron": 0.3 * K} for K in (4, 8)] + [
        {"code": "relu_distaware_lam0_K6", "family": "distribution_aware", "K": 6,
         "snn_accuracy": 0.75, "ann_accuracy": 0.83, "accuracy_gap_pp": 8.0,
         "mean_spikes_per_neuron": 1.5}]})
    write_json(rdir / "mlgenn.json", {"n_test": 100, "rows": [
        {"model": "m", "backend": "GeNN single_threaded_cpu: our FS neuron", "code": "binary_K8",
         "K": 8, "accuracy": 0.9, "agreement_with_reference": 0.994,
         "reference": "event-level simulator", "mean_spikes_per_neuron": 1.6,
         "ms_per_image": 1200.0, "n_test": 100}]})
    bound = [{"code": c, "family": f, "K": K, "layer": "network", "mse": mse, "mean_spikes": s,
              "spike_bound": b}
             for c, f, K, mse, s, b in (("binary_p_K8", "binary", 8, 2e-5, 1.66, 1.35),
                                        ("relu_distaware_lam0_K6", "distribution_aware", 6,
                                         1.9e-5, 1.07, 0.86),
                                        ("jra_fp_K4_E4", "jra_fp", 8, 9e-5, 3.94, 0.98),
                                        ("jra_fp_implicit_K6_E2", "jra_fp_improved", 8, 2.2e-5,
                                         1.65, 1.35))]
    bound += [{**r, "family": "spike_bound", "code": "spike_bound_" + r["code"],
               "mean_spikes": r["spike_bound"]} for r in bound]
    write_json(rdir / "spike_bound.json", {"rows": bound, "reference": bound[0], "bound_gaps": [
        {"family": "distribution_aware", "code": "relu_distaware_lam0_K6", "K": 6, "mse": 1.9e-5,
         "mean_spikes": 1.07, "bound_at_error": 0.86}], "jra_reproduction": {}})
    (tmp_path / "poster.yaml").write_text(
        'title: "A test poster with a title long enough to wrap onto two lines of the banner"\n'
        'subtitle: "sub"\nauthors: ["A. Author", "B. Author"]\naffiliation: "Somewhere"\n'
        'references: ["Stöckl & Maass (2021), Nat. Mach. Intell. 3, 230."]\n')
    return tmp_path


def test_every_panel_draws_both_formats(root, tmp_path):
    out = tmp_path / "panels"
    status = poster.draw_panels(root, out, context="notebook")
    assert status == {name: "drawn" for name in poster.PANELS}
    for name in poster.PANELS:
        assert (out / f"{name}.png").stat().st_size > 1000
        assert (out / f"{name}.pdf").read_bytes()[:5] == b"%PDF-"
        with Image.open(out / f"{name}.png") as im:
            assert im.info["dpi"] == pytest.approx((poster.PANEL_DPI, poster.PANEL_DPI), abs=0.01)
            # tight crop: within a few tenths of an inch of the drawn figure size
            assert im.width / poster.PANEL_DPI == pytest.approx(poster.PANELS[name][1][0], abs=2.5)


def test_mlgenn_anchor_is_read_from_the_results_file(root):
    from helpers.results import read_json, write_json

    path = root / "data" / "results" / "mlgenn.json"
    assert poster.mlgenn_anchors(poster.Sources(root)) == []      # no mlGeNN FewSpike row yet
    d = read_json(path)
    d["rows"].append({**d["rows"][0], "backend": "GeNN cuda: mlGeNN FewSpike", "accuracy": 0.815,
                      "mean_spikes_per_neuron": 0.78, "model": "nobn"})
    write_json(path, d)
    (a,) = poster.mlgenn_anchors(poster.Sources(root))
    assert (a["x"], a["y"]) == (0.78, 81.5) and "nobn" in a["label"]
    path.unlink()
    assert poster.mlgenn_anchors(poster.Sources(root)) == []


def test_headline_numbers_follow_the_results_file(root):
    h = poster.headline_numbers(root)
    assert h["missing"] == [] and h["files_missing"] == []
    text = poster.headline_text(h)
    assert any("90.50 % with code “Fibonacci, K = 6” (chosen on the test set)" in t
               and "0.80 spikes" in t and "latency 114 timesteps" in t for t in text)
    assert any("75.0 % top-1 with code “distribution-aware, K = 6”" in t for t in text)
    assert any("On GeNN (100 CIFAR-10 images)" in t and "≥ 99.4 %" in t for t in text)
    assert any("SNN / ANN = 0.250" in t for t in text)
    path = root / "data" / "results" / "cifar10.json"
    data = json.loads(path.read_text())
    for r in data["rows"]:
        if r["code"] == "relu_fib_K6":
            r["snn_accuracy"], r["accuracy_gap_pp"] = 0.9012, 0.88
    path.write_text(json.dumps(data))
    text = poster.headline_text(poster.headline_numbers(root))
    assert any("90.12 %" in t for t in text) and not any("90.50 %" in t for t in text)


def test_missing_results_are_skipped_with_a_message(root, tmp_path):
    (root / "data" / "results" / "imagenet.json").unlink()
    (root / "data" / "results" / "cifar10.json").unlink()
    status = poster.draw_panels(root, tmp_path / "p", context="notebook")
    for name in ("imagenet", "cifar_accuracy_vs_K", "accuracy_vs_spikes", "energy"):
        assert status[name].startswith("skipped:") and ".json not found" in status[name]
    assert status["code_design"] == "drawn"
    h = poster.headline_numbers(root)
    assert h["cifar"] is None and h["imagenet"] is None
    assert h["files_missing"] == ["cifar10.json", "imagenet.json"]
    text = " ".join(t for _, t in _pdf_text(make_poster(root, tmp_path / "poster.pdf",
                                                        root / "poster.yaml")))
    assert "n/a (run notebook 06)" in text and "n/a (run notebook 07)" in text
    empty = tmp_path / "empty"
    assert all(s.startswith("skipped") for s in poster.draw_panels(empty, tmp_path / "e").values())
    assert poster.headline_text(poster.headline_numbers(empty)) == [
        "(no results files yet: run notebooks 01-06)"]


def test_code_and_model_display_names():
    assert code_label("relu_fitted_density_lam1e-05_K6") == "density-fitted, K = 6"
    assert code_label("relu_fitted_density_lam1e-05_K6", with_lambda=True) == \
        "density-fitted (λ = 1e-05), K = 6"
    assert code_label("binary_K8") == "binary, K = 8"
    assert code_label("binary_max_K4") == "binary, α = max, K = 4"
    assert code_label("rate_max_constant") == "rate, max-norm, constant input"
    assert code_label("rate_percentile_poisson") == "rate, percentile-norm, Poisson input"
    assert code_label("fitted_silu_K12") == "fitted, K = 12"
    assert code_label("sigmoid_density_K8") == "density-fitted, K = 8"
    assert code_label("sm_sigmoid_K12") == "Stöckl & Maass, K = 12"
    assert code_label("relu_distaware_lam0_K6") == "distribution-aware, K = 6"
    assert code_label("float_r2.5_K4") == "float-like, radix 2.5, K = 4"
    assert code_label("binary_K8 (mlGeNN α)") == "binary, K = 8 (mlGeNN α)"
    assert code_label("new_family_K3") == "new family, K = 3"
    assert code_label("finetuned") == "its own trained per-layer codes"
    assert model_label("resnet20_relu_nobn") == "ResNet-20, ReLU, no BatchNorm"
    assert model_label("resnet20_silu") == "ResNet-20, SiLU"
    assert model_label("resnet20_sigmoid_from_relu") == "ResNet-20, sigmoid (from ReLU weights)"
    assert model_label("resnet20_relu_45k") == "ResNet-20, ReLU, 45,000 training images"
    assert model_label("resnet20_silu_from_relu_45k") == (
        "ResNet-20, SiLU (from the 45,000-image ReLU network's weights)")


def test_panel_legends_and_titles_show_no_identifiers(root):
    src = poster.Sources(root)
    shown = {}
    for name, (fn, size, _) in poster.PANELS.items():
        fig = plt.figure(figsize=size, layout="constrained")
        fn(src, fig)
        shown[name] = [t.get_text() for ax in fig.axes if ax.get_legend()
                       for t in ax.get_legend().get_texts()] + [ax.get_title() for ax in fig.axes]
        plt.close(fig)
    assert "FS: Fibonacci (φ radix)" in shown["accuracy_vs_spikes"]
    assert "rate, max-norm, constant input" in shown["accuracy_vs_spikes"]
    assert "ResNet-20, SiLU" in shown["cifar_accuracy_vs_K"]
    assert sum(map(len, shown.values())) > 30
    bad = {name: [t for t in texts if IDENTIFIER.search(t)] for name, texts in shown.items()}
    assert bad == {name: [] for name in poster.PANELS}


def test_failed_figure_save_keeps_the_old_figure(tmp_path, monkeypatch):
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    _, pdf = savefig(fig, "f", tmp_path, dpi=20)
    old = pdf.read_bytes()
    real = fig.savefig

    def save_then_fail(path, **kw):
        real(path, **kw)
        if kw.get("format") == "pdf":
            raise OSError("disk full")

    monkeypatch.setattr(fig, "savefig", save_then_fail)
    with pytest.raises(OSError, match="disk full"):
        savefig(fig, "f", tmp_path, dpi=20)
    plt.close(fig)
    assert pdf.read_bytes() == old
    assert sorted(f.name for f in tmp_path.iterdir()) == ["f.pdf", "f.png"]


def _edit_json(path, edit):
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def test_a_missing_headline_number_is_shown_as_missing(root):
    rdir = root / "data" / "results"

    def drop(data):
        for r in data["rows"]:
            if r["code"] == "relu_fib_K6":
                del r["latency_timesteps"]
        del data["energy"]["ratio"]

    _edit_json(rdir / "cifar10.json", drop)
    _edit_json(rdir / "imagenet.json",
               lambda d: [r.pop("mean_spikes_per_neuron") for r in d["rows"]])
    h = poster.headline_numbers(root)
    assert h["missing"] == ["cifar10.json: latency_timesteps", "cifar10.json: energy.ratio",
                            "imagenet.json: mean_spikes_per_neuron"]
    text = poster.headline_text(h)
    assert any("90.50 %" in t and "latency n/a (missing in cifar10.json: latency_timesteps)"
               in t for t in text)
    assert "SNN / ANN = n/a (missing in cifar10.json: energy.ratio)" in " ".join(text)
    assert "ImageNet sample: n/a (missing in imagenet.json: mean_spikes_per_neuron)" in text


def test_the_relu_network_is_named_not_guessed(root):
    rdir = root / "data" / "results"

    def add_nobn(data):      # a second network whose name contains "relu", listed first
        nobn = [{**r, "model": "resnet20_relu_nobn", "snn_accuracy": 0.5,
                 "accuracy_gap_pp": 41.0} for r in data["rows"] if r["method"] == "fs"
                and r["model"] == "resnet20_relu"]
        data["rows"] = nobn + data["rows"]

    _edit_json(rdir / "cifar10.json", add_nobn)
    text = poster.headline_text(poster.headline_numbers(root))
    assert "CIFAR-10 test set (ResNet-20, ReLU): 90.50 %" in text[0]   # the default name
    h = poster.headline_numbers(root, relu_model="resnet20_relu_nobn")
    assert (h["cifar"]["model"], h["cifar"]["snn_accuracy"]) == ("resnet20_relu_nobn", 0.5)
    # notebook 06's models mapping, recorded in the file, names it too
    _edit_json(rdir / "cifar10.json", lambda d: d.update(
        provenance={"params": {"models": {"relu": "resnet20_relu_nobn"}}}))
    assert poster.headline_numbers(root)["cifar"]["model"] == "resnet20_relu_nobn"
    with pytest.raises(poster.PosterError, match=r"no FS rows of the ReLU network 'resnet20_x'"
                       r" \(its networks: \['resnet20_relu_nobn', 'resnet20_relu', "
                       r"'resnet20_silu'\]\)\. Fix: pass relu_model="):
        poster.headline_numbers(root, relu_model="resnet20_x")
    fig = plt.figure()
    with pytest.raises(poster.PosterError, match="resnet20_x"):
        poster.panel_accuracy_vs_spikes(poster.Sources(root, "resnet20_x"), fig)
    plt.close(fig)


def test_each_results_file_is_read_once_for_all_panels(root, tmp_path, monkeypatch):
    reads = []
    real = poster.read_json
    monkeypatch.setattr(poster, "read_json", lambda path: reads.append(path.name) or real(path))
    poster.draw_panels(root, tmp_path / "p", only=["cifar_accuracy_vs_K", "accuracy_vs_spikes",
                                                  "energy", "mlgenn"], context="notebook")
    assert sorted(reads) == ["cifar10.json", "mlgenn.json"]


def _pdf_text(path) -> list[tuple[float, str]]:
    """(size in points at print size, text) of every text run on the PDF's one page."""
    import math

    from pypdf import PdfReader

    runs = []

    def visit(text, cm, tm, font, size):
        if text.strip():
            scale = math.sqrt(abs(tm[0] * tm[3] - tm[1] * tm[2]) * abs(cm[0] * cm[3] - cm[1] * cm[2]))
            runs.append((size * scale, text.strip()))

    (page,) = PdfReader(path).pages
    page.extract_text(visitor_text=visit)
    return runs


def test_a0_poster_reads_back_with_print_sizes_and_no_identifiers(root, tmp_path):
    from pypdf import PdfReader

    pdf = make_poster(root, tmp_path / "poster.pdf", root / "poster.yaml")
    box = PdfReader(pdf).pages[0].mediabox
    assert (float(box.width), float(box.height)) == pytest.approx((841 / 25.4 * 72,
                                                                    1189 / 25.4 * 72), abs=0.5)
    runs = _pdf_text(pdf)
    assert min(s for s, _ in runs) >= 24 - 1e-6            # axis labels, ticks, legends
    title = " ".join(t for s, t in runs if s >= 90)
    assert title == "A test poster with a title long enough to wrap onto two lines of the banner"
    assert any(s >= 48 and "CIFAR-10: accuracy, spikes, timesteps" in t for s, t in runs)
    from helpers.report.poster_story import story

    paragraphs = " ".join(" ".join(s.paragraphs) for s in story(poster.Sources(root)).values())
    body = [s for s, t in runs if len(t) > 20 and t in paragraphs]     # the sections' texts
    assert len(body) > 20 and min(body) >= 28
    text = " ".join(t for _, t in runs)
    words = [w for w in text.split() if "github.com" not in w]
    assert not [w for w in words if IDENTIFIER.search(w)], "code identifiers on the poster"
    # headline numbers follow the results files (the fixture's numbers, display names)
    assert "90.50 % (0.50 points below the ANN)" in text and "Fibonacci, K = 6" in text
    assert "0.25 of the ANN's energy" in text and "75.00 % top-1" in text
    assert pdf.with_suffix(".png").stat().st_size > 10_000


def test_poster_config_errors_name_the_fix(tmp_path):
    from helpers.report.poster_page import PosterConfigError, load_config

    with pytest.raises(PosterConfigError, match="not found"):
        load_config(tmp_path / "none.yaml")
    (tmp_path / "p.yaml").write_text('title: "t"\nauthors: []\n')
    with pytest.raises(PosterConfigError, match=r"lacks \['subtitle', 'authors', 'affiliation'\]"):
        load_config(tmp_path / "p.yaml")


def test_finetuning_panel_draws_both_groups_and_their_pareto_fronts(root):
    fig = plt.figure(figsize=(12, 5))
    poster.panel_finetuning(poster.Sources(root), fig)
    ax_spikes, ax_latency = fig.axes
    fronts = {line.get_label(): (list(line.get_xdata()), list(line.get_ydata()))
              for line in ax_spikes.get_lines() if "Pareto front" in line.get_label()}
    # fine-tuned: K=2 (0.3 spikes, 80 %) and K=4 (0.45, 90 %); K=3 (0.4, 78 %) is dominated
    assert fronts["fine-tuned: Pareto front"] == ([0.3, 0.45], [pytest.approx(80.0),
                                                                 pytest.approx(90.0)])
    # post-hoc (the parent's analog rows only, never the SiLU network or fine-tuned rows)
    xs, ys = fronts["post-hoc: Pareto front"]
    # fitted K6 (0.7, 90 %), Fibonacci K6 (0.8, 90.5 %; binary K4 at 0.8 has 89 %), binary
    # K6 (1.2, 91 %), binary K8 (1.6, 93 %)
    assert xs == pytest.approx([0.7, 0.8, 1.2, 1.6])
    assert ys == [pytest.approx(v) for v in (90.0, 90.5, 91.0, 93.0)]
    latency = [line for line in ax_latency.get_lines() if line.get_label() ==
               "fine-tuned: Pareto front"][0]
    assert list(latency.get_xdata()) == [38, 76]           # 19 layers x K
    ann = {line.get_label(): line.get_ydata()[0] for line in ax_spikes.get_lines()
           if "ANN" in line.get_label()}
    assert ann == {"ANN": pytest.approx(91.0)}             # one parent: one ANN line
    plt.close(fig)


def test_finetuning_panel_marks_the_fine_tuned_networks_own_parent(root):
    """Fine-tuned from another network (the ReLU ResNet-20 of 45,000 images): its ANN is a
    second line, and its rows are still the ReLU network's (by activation)."""
    def reparent(d):
        for r in d["rows"]:
            if r.get("finetuned"):
                r.update(parent="resnet20_relu_45k", ann_accuracy=0.899)

    _edit_json(root / "data" / "results" / "cifar10.json", reparent)
    fig = plt.figure(figsize=(12, 5))
    poster.panel_finetuning(poster.Sources(root), fig)
    ann = {line.get_label(): line.get_ydata()[0] for line in fig.axes[0].get_lines()
           if "ANN" in line.get_label()}
    assert ann == {"ANN of the post-hoc codes": pytest.approx(91.0),
                   "ANN the fine-tuned networks start from": pytest.approx(89.9)}
    fronts = [line for line in fig.axes[0].get_lines()
              if line.get_label() == "fine-tuned: Pareto front"]
    assert list(fronts[0].get_xdata()) == [0.3, 0.45]
    plt.close(fig)


def test_smooth_network_rows_pick_on_validation_and_check_the_target():
    """The code best_code picks on validation rows (<= 1 spike) is reported with its test row,
    S&M's code beside it; the target needs gap <= 0.3 pp, <= 1 spike and energy <= 0.3."""
    from helpers.report.poster import smooth_network_rows

    def row(code, split, gap, spikes, energy, family="fitted", K=6):
        return {"method": "fs", "input_mode": "analog", "model": "net_silu", "code": code,
                "family": family, "K": K, "split": split, "accuracy_gap_pp": gap,
                "mean_spikes_per_neuron": spikes, "energy_ratio": energy,
                "snn_accuracy": 0.9 - gap / 100, "ann_accuracy": 0.9}

    rows = [row("silu_density_K6", "val", 0.2, 0.9, 0.2), row("silu_density_K8", "val", 0.1, 1.5, 0.3),
            row("silu_density_K6", "test", 0.25, 0.95, 0.25),
            row("silu_density_K8", "test", 0.05, 1.4, 0.3),
            row("sm_silu_K16", "test", 0.5, 2.5, 0.6, "sm_published", 16)]
    tab = smooth_network_rows(rows, {"silu": "net_silu", "sigmoid": "absent"})
    assert list(tab.role) == ["chosen on validation images", "Stöckl & Maass"]
    assert list(tab.code) == ["silu_density_K6", "sm_silu_K16"]
    assert tab.accuracy_gap_pp.tolist() == [0.25, 0.5] and tab.target_met.tolist() == [True, False]
    rows[2]["energy_ratio"] = 0.31                 # one bound missed: target missed
    assert not smooth_network_rows(rows, {"silu": "net_silu"}).target_met.iloc[0]
    # a sparser code with a smaller gap but over the energy budget becomes the pick; the
    # best code within the budget is listed after it
    rows += [row("offset_silu_K8", "val", 0.05, 0.6, 0.32, "offset", 8),
             row("offset_silu_K8", "test", 0.1, 0.6, 0.32, "offset", 8)]
    tab = smooth_network_rows(rows, {"silu": "net_silu"})
    assert list(tab.role) == ["chosen on validation images", "chosen within the energy budget",
                              "Stöckl & Maass"]
    assert list(tab.code) == ["offset_silu_K8", "silu_density_K6", "sm_silu_K16"]
    # a network fine-tuned from it (test row) follows, with its own target check; its
    # validation row and networks of another activation do not
    tuned = {**row("finetuned", "test", 0.2, 0.7, 0.29, "offset", 6), "finetuned": True,
             "model": "net_silu_ft", "parent": "net_silu", "activation": "silu"}
    rows += [tuned, {**tuned, "split": "val"},
             {**tuned, "parent": "net_relu", "activation": "relu"}]
    tab = smooth_network_rows(rows, {"silu": "net_silu"})
    assert list(tab.role)[-1] == "FS-aware fine-tuned" and len(tab) == 4
    assert tab.model.iloc[-1] == "net_silu_ft" and tab.target_met.iloc[-1]


def test_imagenet_section_reads_the_codes_chosen_per_K_and_lite2(root):
    """With choices made on the validation part, the ImageNet section lists the chosen code
    of each K (the headline first where two share a K) and the Lite2 row of the recipe."""
    from helpers.report.poster_story import imagenet

    def choose(d):
        d["rows"][0]["chosen_on"] = "val: headline code (best_code)"          # K = 4
        d["rows"][1]["chosen_on"] = "reference code"                          # K = 8
        d["rows"][2]["chosen_on"] = "val: best designed code at this K"       # K = 6
        d["rows"].append({**d["rows"][0], "code": "other_K4", "accuracy_gap_pp": 0.1,
                          "chosen_on": "val: best designed code at this K"})
        d["lite2"] = {"recipe": {"code": "relu_distaware_lam0_K6", "K": 6},
                      "rows": [{"code": "binary_K6", "accuracy_gap_pp": 9.0,
                                "mean_spikes_per_neuron": 0.5},
                               {"code": "relu_distaware_lam0_K6", "accuracy_gap_pp": 1.25,
                                "mean_spikes_per_neuron": 0.8}]}

    _edit_json(root / "data" / "results" / "imagenet.json", choose)
    text = imagenet(poster.Sources(root)).paragraphs
    assert text[0].endswith("K = 4: -9.0 at 1.20; K = 6: -8.0 at 1.50.")
    assert text[1] == ("The larger EfficientNet-Lite2 with the K = 6 recipe: 1.2 points below "
                       "the ANN at 0.80 spikes.")
    _edit_json(root / "data" / "results" / "imagenet.json",
               lambda d: d["lite2"]["rows"][1].update(accuracy_gap_pp=-1.0))   # above the ANN
    assert imagenet(poster.Sources(root)).paragraphs[1] == (
        "The larger EfficientNet-Lite2 with the K = 6 recipe: 1.0 points above the ANN at "
        "0.80 spikes.")


def test_genn_section_adds_efficientnet_lite0_on_genn_when_recorded(root):
    """The GeNN sentence counts the ImageNet images on which GeNN gave the event-level
    simulator's class (imagenet_genn.json, notebook 07); without that file it says nothing."""
    from helpers.report.poster_story import genn

    before = genn(poster.Sources(root)).paragraphs
    assert len(before) == 1 and "Lite0" not in before[0] and "≥ 99.4 % (1 network)" in before[0]
    write_json(root / "data" / "results" / "imagenet_genn.json", {"rows": [
        {"backend": "GeNN single_threaded_cpu: our FS neuron", "reference": "event-level simulator",
         "agreement_with_reference": 0.95, "n_test": 20},
        {"backend": "event-level simulator (NumPy/TF)", "reference": "FS-equivalent model",
         "agreement_with_reference": 1.0, "n_test": 20}]})
    (text,) = genn(poster.Sources(root)).paragraphs
    assert text.startswith(before[0]) and text.endswith(
        "So does EfficientNet-Lite0 (depthwise convolutions as explicit synapses): the "
        "simulator's class on 19 of 20 ImageNet images.")
    flip = {"image": 3, "explained": True}      # the one other image: a rounding flip
    _edit_json(root / "data" / "results" / "imagenet_genn.json",
               lambda d: d["rows"][0].update(disagreements=[flip]))
    assert genn(poster.Sources(root)).paragraphs[0].endswith(
        "19 of 20 ImageNet images, the others float32 rounding at near-ties.")
    _edit_json(root / "data" / "results" / "imagenet_genn.json",
               lambda d: d["rows"][0].update(disagreements=[{**flip, "explained": False}]))
    assert genn(poster.Sources(root)).paragraphs[0].endswith("19 of 20 ImageNet images.")


def test_smooth_section_names_the_code_within_the_energy_budget(root):
    """The SiLU sentence quotes the code chosen on validation images with its energy and,
    where another code keeps the target's energy budget, that code beside it."""
    from helpers.report.poster_story import smooth

    def add(d):
        for split in ("val", "test"):
            for code, fam, K, acc, spikes, energy in (
                    ("offset_silu_lam0.001_K8", "offset", 8, 0.9085, 0.64, 0.317),
                    ("offset_silu_lam0.001_K6", "offset", 6, 0.9070, 0.67, 0.2995)):
                d["rows"].append({**_fs_row("resnet20_silu", code, fam, K, acc, spikes),
                                  "split": split, "energy_ratio": energy})

    _edit_json(root / "data" / "results" / "cifar10.json", add)
    line = smooth(poster.Sources(root)).paragraphs[0]
    assert line.startswith("ResNet-20, SiLU (ANN 91.00 %): 90.85 % with the ")
    assert "at 0.64 spikes per neuron (energy 0.32 of the ANN's); within 0.3 of its " in line
    assert line.endswith("K = 6 code: 90.70 % at 0.67 (energy 0.30).")
    # a network fine-tuned from it (notebook 04) is quoted after the codes
    _edit_json(root / "data" / "results" / "cifar10.json", lambda d: d["rows"].append(
        {**_fs_row("resnet20_silu_ft_K6_x", "finetuned", "offset", 6, 0.9091, 0.66),
         "split": "test", "finetuned": True, "parent": "resnet20_silu", "activation": "silu",
         "energy_ratio": 0.301}))
    line = smooth(poster.Sources(root)).paragraphs[0]
    assert line.endswith("(energy 0.30); FS-aware fine-tuned, K = 6: 90.91 % at "
                         "0.66 (energy 0.30).")
    assert "offset_silu" not in line                   # display names, not identifiers


def test_finetuned_sentences_quote_the_test_rows_of_the_validation_picks(tmp_path):
    from helpers.report.poster_story import _finetuned_sentences

    def row(model, split, acc, spikes, K=4, act="relu", parent="resnet20_relu"):
        return {"model": model, "method": "fs", "code": "finetuned", "input_mode": "analog",
                "finetuned": True, "K": K, "split": split, "snn_accuracy": acc,
                "mean_spikes_per_neuron": spikes, "latency_timesteps": 19 * K,
                "activation": act, "parent": parent, "ann_accuracy": 0.9022}
    rows = [row("dense", "val", 0.95, 0.68), row("dense", "test", 0.8924, 0.676),
            row("lean", "val", 0.89, 0.47), row("lean", "test", 0.855, 0.469),
            row("leaner", "val", 0.80, 0.40), row("leaner", "test", 0.70, 0.41),
            row("sig", "val", 0.97, 0.45, act="sigmoid"), row("sig", "test", 0.9, 0.45,
                                                             act="sigmoid")]   # not ReLU
    write_json(tmp_path / "data" / "results" / "cifar10.json", {"rows": rows})
    first, lean = _finetuned_sentences(poster.Sources(tmp_path))
    assert first.startswith("Trained with its FS neurons in the loop, it reaches 89.24 % at "
                            "K = 4 (76 timesteps, 0.68 spikes per neuron).")
    assert lean.endswith("85.50 % at 0.47 spikes per neuron.")     # not the test set's best
    write_json(tmp_path / "data" / "results" / "cifar10.json", {"rows": rows[:2]})
    assert len(_finetuned_sentences(poster.Sources(tmp_path))) == 1   # none within the budget
    # fine-tuned from another parent (the ReLU network trained on 45,000 images): named
    twin = [{**r, "parent": "resnet20_relu_45k", "ann_accuracy": 0.899} for r in rows[:2]]
    write_json(tmp_path / "data" / "results" / "cifar10.json", {"rows": twin})
    (first,) = _finetuned_sentences(poster.Sources(tmp_path))
    assert first.startswith("Trained with FS neurons in the loop, the network “ResNet-20, ReLU, "
                            "45,000 training images” (ANN 89.90 %) reaches 89.24 % at K = 4")
