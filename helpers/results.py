"""Results files: JSON written atomically (temporary file in the same folder, then rename).

A crash or an unserialisable value half-way through a write never leaves a truncated file:
the previous version stays intact until the new one is complete on disk.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
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


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically; return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; results are ordinary shared files
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


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
