"""Project paths, always resolved from the repository root (never from the current directory).

Notebooks run from ``notebooks/`` under Jupyter and from anywhere under papermill; every
path the package hands out is absolute and derived from this file's location.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

#: Repository root: the folder that holds ``helpers/``, ``notebooks/`` and ``data/``.
REPO_ROOT: Path = Path(__file__).resolve().parents[1]
#: Gitignored scratch space (extracted datasets, quick-profile outputs, executed notebooks).
BUILD_DIR: Path = REPO_ROOT / "build"


def resolve(path: str | Path | None, default: Path = REPO_ROOT) -> Path:
    """Return ``path`` as an absolute path; relative paths are taken from the repo root.

    ``None`` gives ``default``.
    """
    if path is None or str(path) == "":
        return default
    p = Path(path).expanduser()
    return p if p.is_absolute() else (REPO_ROOT / p)


@dataclass(frozen=True)
class ProjectDirs:
    """Where a notebook reads and writes its artefacts.

    ``root`` is the repository root for the full profile, and a scratch folder such as
    ``build/quick`` for the quick (CI) profile, so quick runs never overwrite the
    committed full-size artefacts in ``data/`` and ``figures/``.
    """

    root: Path

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def models(self) -> Path:
        return self.data / "models"

    @property
    def results(self) -> Path:
        return self.data / "results"

    @property
    def codes(self) -> Path:
        return self.data / "codes"

    @property
    def figures(self) -> Path:
        return self.root / "figures"

    def make(self) -> "ProjectDirs":
        """Create every folder (idempotent) and return ``self``."""
        for d in (self.models, self.results, self.codes, self.figures):
            d.mkdir(parents=True, exist_ok=True)
        return self


def project_dirs(output_root: str | Path | None = None) -> ProjectDirs:
    """Folders under ``output_root`` (default: the repository root), created if missing."""
    return ProjectDirs(resolve(output_root)).make()
