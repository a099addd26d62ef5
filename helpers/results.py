"""Results files: JSON written atomically, the one atomic-write helper for every output, and
the provenance that decides whether a stored result may be re-used.

:func:`atomic_output` yields a temporary file in the target's folder and renames it over the
target only once it is complete on disk, so a crash or an unserialisable value half-way
through a write never leaves a truncated file: the previous version stays intact. JSON,
figures, the poster, Keras models and cached weights are all written through it.

A results file records its :func:`provenance`: the parameters that produced it and SHA-256
fingerprints of the files it read (models, codes, weights). :func:`reuse_results` returns
the stored results only on an exact match; otherwise it prints one line naming what changed
and the caller recomputes. A long study keeps its pieces (a row, a job's rows) under build/
through :func:`cached`, keyed by everything that shapes them, so an interrupted run resumes.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np


def _to_jsonable(obj: Any) -> Any:
    """Convert NumPy scalars/arrays and Paths so :mod:`json` can write them."""
    if isinstance(obj, dict):
        return {str(k): _to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _to_jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, float) and not math.isfinite(obj):
        raise ValueError(f"cannot write non-finite float {obj!r} to JSON; replace it with None")
    return obj


@contextmanager
def atomic_output(path: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is synced and renamed over
    ``path`` (mode 0644), on any error it is removed and ``path`` stays as it was.

    The temporary name ends with ``suffix`` (default: ``path``'s own, e.g. ``.keras``), for
    writers that choose the format from the name (Keras wants ``.weights.h5`` for weights).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix if suffix is None else suffix
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{suffix}", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; results are ordinary shared files
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; return the path."""
    with atomic_output(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    return Path(path)


def write_json(path: str | Path, obj: Any) -> Path:
    """Serialise ``obj`` (dicts, lists, NumPy values) to ``path`` atomically, indented."""
    text = json.dumps(_to_jsonable(obj), indent=2, sort_keys=False, allow_nan=False)
    return atomic_write_text(path, text + "\n")


def read_json(path: str | Path) -> Any:
    """Read a JSON file, with an error that names the file when it is missing."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"results file {path} does not exist; run the notebook that writes it "
            "(see the README's notebook table) or restore it with `git checkout`"
        )
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def provenance(params: Mapping[str, Any], files: Iterable[str | Path] = (),
               root: str | Path | None = None) -> dict[str, Any]:
    """``{"params": params, "files": {name: sha256}}`` for a result computed with ``params``
    from ``files``: files under ``root/data`` are named relative to ``root`` (so quick and
    full runs, and copies of the repository, compare), others (installed weights) by their
    file name only."""
    fps = {}
    for f in files:
        f = Path(f)
        if not f.is_file():
            raise FileNotFoundError(f"{f} does not exist: it is an input of this result; run "
                                    "the notebook that writes it (see the README's table)")
        data = Path(root) / "data" if root else None
        name = f.relative_to(root).as_posix() if data and f.is_relative_to(data) else f.name
        fps[name] = sha256_file(f)
    return {"params": json.loads(json.dumps(_to_jsonable(dict(params)))),
            "files": dict(sorted(fps.items()))}


def provenance_changes(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> list[str]:
    """What differs between a stored provenance and the current one (empty: a match)."""
    if not old:
        return ["the stored file records no provenance"]
    out = []
    p_old, p_new = old.get("params", {}), new.get("params", {})
    for k in sorted(set(p_old) | set(p_new)):
        if p_old.get(k, "<unset>") != p_new.get(k, "<unset>"):
            out.append(f"{k}: {p_old.get(k, '<unset>')!r} -> {p_new.get(k, '<unset>')!r}")
    f_old, f_new = old.get("files", {}), new.get("files", {})
    for k in sorted(set(f_old) | set(f_new)):
        if k not in f_old:
            out.append(f"new input {k}")
        elif k not in f_new:
            out.append(f"input {k} no longer read")
        elif f_old[k] != f_new[k]:
            out.append(f"{k} changed")
    return out


def _one_line(changes: list[str], limit: int = 3) -> str:
    """``changes`` on one line: the first ``limit`` of them and how many more there are."""
    more = len(changes) - limit
    return "; ".join(changes[:limit]) + (f"; and {more} more" if more > 0 else "")


def recorded_results(path: str | Path, prov: Mapping[str, Any]) -> Any:
    """The results stored at ``path`` as they are, for a stage that cannot be recomputed
    here (e.g. GeNN is not installed), after one line saying whether they were made for the
    inputs ``prov`` describes and, if not, what differs; None (also said) when there are
    none."""
    path = Path(path)
    if not path.is_file():
        print(f"no {path.name} recorded at {path}")
        return None
    stored = read_json(path)
    changes = provenance_changes(stored.get("provenance"), prov)
    print(f"showing {path.name} as recorded, " + (
        f"made for other inputs than the current ones: {_one_line(changes)}" if changes
        else "made for the current parameters and input files"))
    return stored


def results_match(path: str | Path, prov: Mapping[str, Any]) -> bool:
    """Whether results are stored at ``path`` with provenance ``prov`` (silently; a stage
    that cannot run here needs to know before it says so)."""
    path = Path(path)
    return path.is_file() and not provenance_changes(read_json(path).get("provenance"), prov)


def reuse_results(path: str | Path, prov: Mapping[str, Any], reuse: bool = True) -> Any:
    """The results stored at ``path`` when ``reuse`` and their ``provenance`` equals ``prov``;
    otherwise ``None``, after printing one line that says why they are recomputed."""
    path = Path(path)
    if not reuse:
        print(f"recomputing {path.name}: reuse=False")
        return None
    if not path.is_file():
        print(f"computing {path.name}: no stored results at {path}")
        return None
    stored = read_json(path)
    changes = provenance_changes(stored.get("provenance"), prov)
    if changes:
        print(f"recomputing {path.name}: " + _one_line(changes))
        return None
    print(f"re-using {path} (its parameters and input files match)")
    return stored


def cache_file(cache_dir: str | Path, label: str, key: Any) -> Path:
    """Where :func:`cached` keeps a piece labelled ``label`` (readable: model, code, ...)
    whose ``key`` (JSON-able) holds everything that shapes it, e.g. the SHA-256 of the files
    it reads: ``cache_dir/<label>__<16 hex digits of the key's SHA-256>.json`` (characters
    other than letters, digits and ``._@=+-`` in the label become ``_``)."""
    text = json.dumps(_to_jsonable(key), sort_keys=True)
    label = re.sub(r"[^A-Za-z0-9._@=+-]+", "_", label).strip("_")
    return Path(cache_dir) / f"{label}__{hashlib.sha256(text.encode()).hexdigest()[:16]}.json"


def cached(cache_dir: str | Path | None, label: str, key: Any, compute: Callable[[], Any],
           reuse: bool = True) -> Any:
    """``compute()``'s value as JSON gives it back (the same whether computed or read), written
    atomically to :func:`cache_file` and read from there instead when ``reuse`` and a piece
    with the same ``key`` is stored (its recorded key must equal ``key``). ``cache_dir``
    None: computed every time, nothing kept."""
    key = json.loads(json.dumps(_to_jsonable(key), sort_keys=True))
    path = cache_file(cache_dir, label, key) if cache_dir is not None else None
    if reuse and path is not None and path.is_file():
        stored = read_json(path)
        if stored.get("key") == key:
            return stored["value"]
    value = json.loads(json.dumps(_to_jsonable(compute())))
    if path is not None:
        write_json(path, {"key": key, "value": value})
    return value
