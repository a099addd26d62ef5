"""Results files: JSON written atomically, and the one atomic-write helper for every output.

:func:`atomic_output` yields a temporary file in the target's folder and renames it over the
target only once it is complete on disk, so a crash or an unserialisable value half-way
through a write never leaves a truncated file: the previous version stays intact. JSON,
figures, the poster, Keras models and cached weights are all written through it.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Iterator
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
