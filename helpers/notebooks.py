"""Run and check the project's notebooks (papermill), for the main job and for CI.

* :func:`static_problems` -- a notebook must have exactly one cell tagged ``parameters`` and
  carry no outputs (sources are committed stripped, nbstripout-style);
* :func:`profile_problems` -- every notebook on disk must appear in a profile file
  (``ci/quick.yaml``, ``ci/full.yaml``) and vice versa, and every parameter a profile passes
  must be defined in the notebook's parameters cell (papermill would inject it unused);
* :func:`run_notebook` / :func:`run_profile` -- execute with papermill from ``notebooks/``,
  writing executed copies to ``build/executed/<profile>/``; the full profile also publishes
  a reader's copy of each to ``notebooks/executed/`` (:func:`publish_executed`).

Command line: ``python -m helpers.notebooks check`` and
``python -m helpers.notebooks run --profile full [--force] [--only 01 02]``.
"""

from __future__ import annotations

import argparse
import ast
import os
import re
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import nbformat
import yaml

from helpers.paths import BUILD_DIR, REPO_ROOT

NOTEBOOK_DIR = REPO_ROOT / "notebooks"
PROFILE_DIR = REPO_ROOT / "ci"


def notebooks_on_disk(folder: Path = NOTEBOOK_DIR) -> list[Path]:
    """All ``NN_*.ipynb`` notebooks in ``folder``, in order."""
    return sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb"))


def static_problems(path: str | Path) -> list[str]:
    """Problems that make a committed notebook unacceptable (empty list: fine)."""
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    problems = []
    tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(tagged) != 1:
        problems.append(f"{path.name}: needs exactly one cell tagged 'parameters', "
                        f"found {len(tagged)} (add the tag in Jupyter: View > Cell Toolbar > Tags)")
    for i, c in enumerate(nb.cells):
        if c.cell_type != "code":
            continue
        if c.get("outputs") or c.get("execution_count") is not None:
            problems.append(f"{path.name}: cell {i} carries outputs or an execution count; "
                            "strip them (`make strip` or `jupyter nbconvert "
                            "--clear-output --inplace`) before committing")
            break
    return problems


def parameter_names(path: str | Path) -> set[str]:
    """Names assigned in the notebook's cell tagged ``parameters`` (empty set if none)."""
    nb = nbformat.read(Path(path), as_version=4)
    names: set[str] = set()
    for c in nb.cells:
        if "parameters" in c.get("metadata", {}).get("tags", []):
            for node in ast.walk(ast.parse(c.source)):
                if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                    names.add(node.id)
    return names


#: Parameters that say where files are or whether to re-use them, not what is computed.
WHERE_NOT_WHAT = ("output_root", "input_root", "cifar10_dir", "imagenet_dir", "class_index_json",
                  "reuse", "verify")


def study_parameters(notebook: str, namespace: dict[str, Any], drop: tuple[str, ...] = ()
                     ) -> dict[str, Any]:
    """The values of ``notebook``'s parameters-cell names in ``namespace`` (a notebook's
    ``globals()``), without those in :data:`WHERE_NOT_WHAT` and ``drop``: what a results
    file records as the parameters that produced it."""
    names = parameter_names(NOTEBOOK_DIR / notebook)
    missing = sorted(n for n in names if n not in namespace)
    if missing:
        raise NameError(f"{notebook}: parameters {missing} are not defined; run the parameters "
                        "cell first")
    return {n: namespace[n] for n in sorted(names) if n not in WHERE_NOT_WHAT + tuple(drop)}


class ParameterError(ValueError):
    """Notebook parameters that do not fit together."""


def check_parameters(checks: list[tuple[bool, str]]) -> None:
    """Raise :class:`ParameterError` listing the message of every failed ``(ok, message)``
    check -- called once at the top of a notebook, so bad parameters fail before any work."""
    failed = [msg for ok, msg in checks if not ok]
    if failed:
        raise ParameterError("notebook parameters do not fit together:\n- " + "\n- ".join(failed))


def load_profile(profile: str | Path) -> dict[str, dict[str, Any]]:
    """Parameters per notebook from ``ci/<profile>.yaml`` (or a path to a YAML file)."""
    path = Path(profile)
    if not path.suffix:
        path = PROFILE_DIR / f"{profile}.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"profile file {path} not found; expected ci/quick.yaml or "
                                "ci/full.yaml")
    with open(path, encoding="utf-8") as f:
        params = yaml.safe_load(f) or {}
    return {k: (v or {}) for k, v in params.items()}


def _numbers_as_text(value: Any) -> list[str]:
    """Strings in ``value`` (nested lists / dicts) that read as numbers: YAML 1.1, which
    PyYAML follows, takes ``1e-3`` (no dot) for a string."""
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        return [t for v in value for t in _numbers_as_text(v)]
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return []
        return [value]
    return []


def profile_problems(profile: str | Path, folder: Path = NOTEBOOK_DIR) -> list[str]:
    """Notebooks missing from the profile file, profile entries without a notebook, profile
    parameters that the notebook's parameters cell does not define, and numbers that YAML
    reads as strings."""
    params = load_profile(profile)
    on_disk = {p.name: p for p in notebooks_on_disk(folder)}
    problems = [f"{name}: not listed in profile {profile}; add its parameters there"
                for name in sorted(set(on_disk) - set(params))]
    problems += [f"{name}: listed in profile {profile} but no such notebook"
                 for name in sorted(set(params) - set(on_disk))]
    for name in sorted(set(params) & set(on_disk)):
        unknown = sorted(set(params[name]) - parameter_names(on_disk[name]))
        if unknown:
            problems.append(f"{name}: profile {profile} passes {unknown}, which its parameters "
                            "cell does not define; add them there (with defaults) or drop them "
                            "from the profile")
        for key, value in params[name].items():
            if text := _numbers_as_text(value):
                problems.append(f"{name}: profile {profile} gives {key} the strings {text}; "
                                "YAML reads a number like 1e-3 as text: write 1.0e-3 or 0.001")
    return problems


#: The kernels' environment, whatever the caller's shell holds (so an executed copy is the same
#: from any shell): figures go to files through ``helpers.report.style.savefig`` and are also
#: shown inline by IPython's inline backend (PNG at the figure's dpi, as deterministic as the
#: figure files: the reader's copies show them), and TensorFlow's C++ log lines are off.
KERNEL_ENV = {"MPLBACKEND": "module://matplotlib_inline.backend_inline",
              "TF_CPP_MIN_LOG_LEVEL": "2"}


@contextmanager
def _kernel_env():
    """:data:`KERNEL_ENV` in ``os.environ`` (which the kernel inherits) while inside."""
    saved = {k: os.environ.get(k) for k in KERNEL_ENV}
    os.environ.update(KERNEL_ENV)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run_notebook(path: str | Path, parameters: dict[str, Any], out_dir: Path,
                 log_output: bool = False) -> Path:
    """Execute one notebook with papermill (cwd ``notebooks/``, kernel environment
    :data:`KERNEL_ENV`); return the executed copy."""
    import papermill as pm

    path = Path(path)
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / path.name
    with _kernel_env():
        pm.execute_notebook(str(path), str(out), parameters=parameters, cwd=str(path.parent),
                            kernel_name="python3", progress_bar=False, log_output=log_output)
    return out


def printed_text(executed: str | Path) -> str:
    """Everything an executed notebook printed (its stdout and stderr streams, in order)."""
    import nbformat

    nb = nbformat.read(str(executed), as_version=4)
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                   for o in c.outputs if o.output_type == "stream")


#: Where the reader's copies of the full profile's executed notebooks go (rendered on GitHub).
PUBLISHED_DIR = NOTEBOOK_DIR / "executed"
#: Output types a reader's copy keeps (widget views -- progress bars -- carry per-run state).
_KEPT_DATA = ("text/plain", "text/html", "text/markdown", "image/png", "image/svg+xml")


def _machine_paths(root: Path) -> list[tuple[str, str]]:
    """(path, placeholder) pairs to hide in a reader's copy: the data folders given by
    environment variable, then the output ``root``, longest first."""
    pairs = [(os.environ[v], f"${v}") for v in ("CIFAR10_DIR", "IMAGENET_DIR")
             if os.environ.get(v)]
    pairs += [(str(root) + os.sep, ""), (str(root), ".")]
    return sorted(pairs, key=lambda p: -len(p[0]))


def _reader_text(text: str, paths: list[tuple[str, str]]) -> str:
    for path, placeholder in paths:
        text = text.replace(path, placeholder)
    return re.sub(r"at 0x[0-9a-f]+", "at 0x…", text)      # object addresses in reprs


def publish_executed(executed: Path, dest_dir: Path = PUBLISHED_DIR, root: Path = REPO_ROOT
                     ) -> Path:
    """A deterministic reader's copy of an executed notebook in ``dest_dir``: no papermill or
    execution timestamps, execution counts 1, 2, ... in order (papermill's injected parameters
    cell: none), no stderr streams (log noise,
    progress bars) or widget views, consecutive chunks of a stream as one output (how a
    kernel splits a stream depends on timing), machine paths replaced (the output ``root`` ->
    ".", data folders -> ``$CIFAR10_DIR`` / ``$IMAGENET_DIR``); written atomically."""
    from helpers.results import atomic_output

    nb = nbformat.read(executed, as_version=4)
    nb.metadata.pop("papermill", None)
    paths, count = _machine_paths(root), 0
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
        if cell.cell_type != "code":
            continue
        if "injected-parameters" in cell.metadata.get("tags", []):
            cell.execution_count = None         # numbered like the source notebook's cells
            cell.id = "injected-parameters"     # papermill draws a random id each run
            continue
        count += 1
        cell.execution_count = count
        outs = []
        for o in cell.outputs:
            if o.output_type == "stream" and o.name == "stderr":
                continue
            if o.output_type == "stream":
                o.text = _reader_text(o.text, paths)
                if outs and outs[-1].output_type == "stream" and outs[-1].name == o.name:
                    outs[-1].text += o.text     # one stream: its chunking depends on timing
                    continue
            elif "data" in o:
                o.data = {k: (_reader_text(v, paths) if isinstance(v, str) and
                              not k.startswith("image/png") else v)
                          for k, v in o.data.items() if k in _KEPT_DATA}
                o.metadata = {}
                if "execution_count" in o:
                    o.execution_count = count
                if not o.data:
                    continue
            elif o.output_type == "error":
                o.traceback = [_reader_text(t, paths) for t in o.traceback]
            outs.append(o)
        cell.outputs = outs
    dest_dir.mkdir(parents=True, exist_ok=True)
    out = dest_dir / executed.name
    with atomic_output(out) as tmp:
        nbformat.write(nb, str(tmp))
    return out


def run_profile(profile: str, force: bool = False, only: list[str] | None = None,
                log_output: bool = True) -> list[tuple[str, float]]:
    """Run every notebook of a profile in order; ``force`` passes ``reuse=False`` to all."""
    problems = profile_problems(profile)
    for nb in notebooks_on_disk():
        problems += static_problems(nb)
    if problems:
        raise SystemExit("notebook checks failed:\n  " + "\n  ".join(problems))
    params = load_profile(profile)
    timings = []
    for nb in notebooks_on_disk():
        if only and not any(nb.name.startswith(o) for o in only):
            continue
        p = dict(params[nb.name])
        if force:
            p["reuse"] = False
        t0 = time.perf_counter()
        print(f"=== {nb.name} ({profile}) parameters={p}", flush=True)
        executed = run_notebook(nb, p, BUILD_DIR / "executed" / profile, log_output=log_output)
        if profile == "full":
            publish_executed(executed)
        timings.append((nb.name, time.perf_counter() - t0))
        print(f"=== {nb.name} done in {timings[-1][1]:.0f} s", flush=True)
    return timings


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m helpers.notebooks", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("check", help="static checks: parameters cell, stripped outputs, profiles")
    run = sub.add_parser("run", help="execute the notebooks of a profile in order")
    run.add_argument("--profile", default="full")
    run.add_argument("--force", action="store_true", help="recompute (reuse=False)")
    run.add_argument("--only", nargs="*", help="notebook prefixes, e.g. 01 07")
    args = ap.parse_args(argv)
    if args.cmd == "check":
        problems = profile_problems("quick") + profile_problems("full")
        for nb in notebooks_on_disk():
            problems += static_problems(nb)
        print("\n".join(problems) or f"{len(notebooks_on_disk())} notebooks OK")
        return 1 if problems else 0
    timings = run_profile(args.profile, force=args.force, only=args.only)
    total = sum(t for _, t in timings)
    print("\n".join(f"{n}: {t:.0f} s" for n, t in timings) + f"\ntotal: {total:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
