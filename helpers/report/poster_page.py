"""The A0 poster (841 x 1189 mm, portrait): a title banner from ``poster.yaml``, numbered
sections that tell the story (:mod:`helpers.report.poster_story`), one large headline
figure, references. Text and panels are vector graphics: the page is drawn with matplotlib,
each panel is drawn as its own PDF at its size on the page (its own constrained layout, every
text at least :data:`MIN_PT`) and merged onto the page with pypdf. A PNG preview is written
beside the PDF. Every number comes from the results files.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import yaml
from matplotlib.font_manager import FontProperties
from matplotlib.text import Text
from matplotlib.textpath import TextToPath
from matplotlib.ticker import FuncFormatter, NullFormatter

from helpers.report.poster import PANELS, MissingResults, Sources
from helpers.report.poster_story import Section, story
from helpers.report.style import set_style
from helpers.results import atomic_output

W, H = 841 / 25.4, 1189 / 25.4                    # A0 portrait, inches
#: Font sizes at print size (points): title, banner lines, section heads, body text, and the
#: smallest text inside a panel (axis labels, ticks, legends).
TITLE_PT, BANNER_PT, HEAD_PT, BODY_PT, MIN_PT = 96, 40, 52, 28, 24
MARGIN, GUTTER, BANNER_H = 0.9, 0.8, 5.9           # inches
COL_W = (W - 2 * MARGIN - 2 * GUTTER) / 3
#: Columns: (first column, columns spanned, section keys top to bottom). A spanning group
#: starts below everything above it in the columns it spans.
COLUMNS = ((0, 1, ("question", "neuron", "codes", "genn")), (1, 2, ("cifar",)),
           (1, 1, ("smooth", "energy")), (2, 1, ("imagenet", "conclusion", "references")))
BANNER_COLOR, HEAD_COLOR = "#0b3d62", "#0b3d62"
PREVIEW_DPI = 40


class PosterConfigError(ValueError):
    """poster.yaml is missing or lacks a key."""


@dataclass(frozen=True)
class PosterConfig:
    """The banner and references of the poster (``poster.yaml``)."""

    title: str
    subtitle: str
    authors: list[str]
    affiliation: str
    contact: str = ""
    references: list[str] = field(default_factory=list)


def load_config(path: str | Path) -> PosterConfig:
    """Read ``poster.yaml`` (YAML mapping with title, subtitle, authors, affiliation;
    optional contact and references)."""
    path = Path(path)
    if not path.is_file():
        raise PosterConfigError(f"{path} not found: the poster's title, authors and "
                                "references come from it (see poster.yaml in the repository)")
    cfg = yaml.safe_load(path.read_text()) or {}
    missing = [k for k in ("title", "subtitle", "authors", "affiliation") if not cfg.get(k)]
    if missing:
        raise PosterConfigError(f"{path} lacks {missing}; add them (strings; authors: a list)")
    known = {"title", "subtitle", "authors", "affiliation", "contact", "references"}
    return PosterConfig(**{k: v for k, v in cfg.items() if k in known})


_TEXT_PATH = TextToPath()


def wrap(text: str, width_in: float, size: float, weight: str = "normal") -> list[str]:
    """``text`` broken into lines no wider than ``width_in`` at ``size`` points (measured
    with matplotlib's font metrics, so lines fill the column)."""
    prop = FontProperties(size=size, weight=weight)
    lines, line = [], ""
    for word in text.split():
        trial = f"{line} {word}".strip()
        w = _TEXT_PATH.get_text_width_height_descent(trial, prop, ismath=False)[0] / 72
        if line and w > width_in:
            lines.append(line)
            line = word
        else:
            line = trial
    return lines + [line] if line else lines


@dataclass
class _Block:
    """Something drawn on the page: text lines or a panel, at ``(x, top)`` in inches from
    the page's left and top, ``width`` x ``height`` inches."""

    kind: str                     # "head", "body", "panel"
    x: float
    top: float
    width: float
    height: float
    content: Any


def _section_blocks(number: int, sec: Section, x: float, top: float, width: float,
                    panel_scale: float) -> list[_Block]:
    """The head, paragraphs and panel of one section, stacked from ``top``."""
    line = BODY_PT * 1.32 / 72
    head = wrap(f"{number}   {sec.title}" if number else sec.title, width, HEAD_PT, "bold")
    blocks = [_Block("head", x, top, width, len(head) * HEAD_PT * 1.25 / 72, head)]
    y = top + blocks[0].height + 0.15
    for par in sec.paragraphs:
        bullet = par.startswith("• ")
        lines = wrap(par[2:] if bullet else par, width - (0.45 if bullet else 0), BODY_PT)
        blocks.append(_Block("body", x, y, width, len(lines) * line, (bullet, lines)))
        y += len(lines) * line + 0.22
    if sec.panel:
        h = sec.panel_height * panel_scale
        blocks.append(_Block("panel", x, y + 0.1, width, h, sec.panel))
        y += h + 0.3
    return blocks


def _column_bottom(blocks: list[_Block]) -> float:
    return max((b.top + b.height for b in blocks), default=0.0)


def layout(sections: dict[str, Section], references: list[str]) -> list[_Block]:
    """Every block of the page. Panels shrink together when a column would overflow."""
    numbered = {k: i + 1 for i, k in enumerate(sections)}
    secs = {**sections, "references": Section("References", references)}
    for scale in np.linspace(1.6, 0.5, 23):        # panels as large as fit
        blocks, bottom = [], [BANNER_H + 0.7] * 3
        for col, span, keys in COLUMNS:
            x = MARGIN + col * (COL_W + GUTTER)
            width = span * COL_W + (span - 1) * GUTTER
            top = max(bottom[col:col + span])
            for key in keys:
                new = _section_blocks(numbered.get(key, 0), secs[key], x, top, width, scale)
                blocks += new
                top = _column_bottom(new) + 0.45
            bottom[col:col + span] = [top] * span
        if max(bottom) <= H - 1.2:
            return blocks
    raise ValueError("the poster's sections do not fit on A0 even with panels at half size; "
                     "shorten the texts in helpers.report.poster_story")


def draw_page(cfg: PosterConfig, blocks: list[_Block]) -> plt.Figure:
    """The page without its panels: banner, section heads and texts, footer; panel places
    are left empty (filled by :func:`_merge_panels`)."""
    fig = plt.figure(figsize=(W, H))
    fig.patches.append(plt.Rectangle((0, 1 - BANNER_H / H), 1, BANNER_H / H,
                                     transform=fig.transFigure, color=BANNER_COLOR, zorder=0))
    y = 1 - 0.55 / H
    lines = [(t, TITLE_PT, "bold") for t in wrap(cfg.title, W - 2, TITLE_PT, "bold")]
    lines += [(t, BANNER_PT, "normal") for t in wrap(cfg.subtitle, W - 2, BANNER_PT)]
    byline = ", ".join(cfg.authors) + " — " + cfg.affiliation
    lines += [(t, BANNER_PT - 6, "normal") for t in wrap(byline, W - 2, BANNER_PT - 6)]
    for text, size, weight in lines:
        fig.text(0.5, y, text, ha="center", va="top", fontsize=size, weight=weight,
                 color="white")
        y -= size * 1.3 / 72 / H
    for b in blocks:
        _draw_text_block(fig, b)
    footer = ("Every number on this poster is read from the project's results files "
              "(data/results) by notebook 08. " + cfg.contact)
    fig.text(MARGIN / W, 0.55 / H, footer, fontsize=BODY_PT - 2, color="dimgray", va="bottom")
    return fig


def _draw_text_block(fig: plt.Figure, b: _Block) -> None:
    if b.kind == "head":
        for i, line in enumerate(b.content):
            fig.text(b.x / W, 1 - (b.top + i * HEAD_PT * 1.25 / 72) / H, line, va="top",
                     fontsize=HEAD_PT, weight="bold", color=HEAD_COLOR)
    elif b.kind == "body":
        bullet, lines = b.content
        indent = 0.45 if bullet else 0.0
        for i, line in enumerate(lines):
            top = 1 - (b.top + i * BODY_PT * 1.32 / 72) / H
            if bullet and i == 0:
                fig.text(b.x / W, top, "•", va="top", fontsize=BODY_PT)
            fig.text((b.x + indent) / W, top, line, va="top", fontsize=BODY_PT)


def _enforce_min_size(fig: plt.Figure, minimum: float = MIN_PT) -> None:
    """Raise every text of ``fig`` (labels, ticks, legends, tables) to at least
    ``minimum`` points; log axes get plain tick labels ("0.001", "1e-05": mathtext powers
    of ten would print their exponents smaller)."""
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            if axis.get_scale() == "log":
                axis.set_major_formatter(plain)
                axis.set_minor_formatter(NullFormatter())
    for t in fig.findobj(Text):
        if t.get_text() and t.get_fontsize() < minimum:
            t.set_fontsize(minimum)


def _legend_below(fig: plt.Figure, width: float) -> None:
    """Replace the legends of ``fig``'s axes by one legend under them (entries of the same
    label once), in as many columns as fit ``width`` inches: at poster sizes a legend inside
    an axes would cover its data."""
    handles: dict[str, Any] = {}
    for ax in fig.axes:
        leg = ax.get_legend()
        if leg is None:
            continue
        for h, label in zip(leg.legend_handles, [t.get_text() for t in leg.get_texts()]):
            handles.setdefault(label, h)
        leg.remove()
    if not handles:
        return
    fig.legend(list(handles.values()), list(handles), loc="outside lower center",
               ncol=_legend_columns(list(handles), width), frameon=False)


def _legend_columns(labels: list[str], width: float) -> int:
    """The most legend columns (filled column by column) whose widths add up to at most
    ``width`` inches at :data:`MIN_PT` (each entry: its label plus ~1.2 in of handle)."""
    prop = FontProperties(size=MIN_PT)
    w = [_TEXT_PATH.get_text_width_height_descent(t, prop, ismath=False)[0] / 72 + 1.2
         for t in labels]
    for ncol in range(len(labels), 1, -1):
        rows = -(-len(labels) // ncol)
        if sum(max(w[i:i + rows]) for i in range(0, len(w), rows)) <= width:
            return ncol
    return 1


def draw_panel(src: Sources, name: str, width: float, height: float) -> tuple[bytes, bytes]:
    """Panel ``name`` drawn at ``width`` x ``height`` inches: ``(pdf bytes, png bytes)``."""
    fig = plt.figure(figsize=(width, height), layout="constrained")
    try:
        PANELS[name][0](src, fig)
        _legend_below(fig, width)
        _enforce_min_size(fig)
        out = []
        for fmt, kw in (("pdf", {"metadata": {"CreationDate": None}}), ("png", {"dpi": PREVIEW_DPI})):
            buf = io.BytesIO()
            fig.savefig(buf, format=fmt, **kw)
            out.append(buf.getvalue())
        return out[0], out[1]
    finally:
        plt.close(fig)


def _missing_panel(block: _Block, fig: plt.Figure, why: str) -> None:
    fig.text(block.x / W, 1 - (block.top + 0.2) / H, f"(panel not drawn: {why})", va="top",
             fontsize=BODY_PT, color="dimgray", wrap=True)


def make_poster(root: str | Path, out_file: str | Path, config: str | Path,
                relu_model: str | None = None) -> Path:
    """The A0 poster of the results under ``root`` as ``out_file`` (PDF, vector) and a PNG
    preview beside it, both written atomically; ``config``: poster.yaml."""
    from pypdf import PdfReader, PdfWriter, Transformation

    src, cfg, out_file = Sources(Path(root), relu_model), load_config(config), Path(out_file)
    set_style("poster")
    with plt.rc_context({"savefig.bbox": "standard",   # the page and panels at their sizes
                         "font.size": 26, "axes.titlesize": 28, "axes.labelsize": 26,
                         "xtick.labelsize": MIN_PT, "ytick.labelsize": MIN_PT,
                         "legend.fontsize": MIN_PT, "legend.title_fontsize": MIN_PT}):
        blocks = layout(story(src), cfg.references)
        panels = {}
        for b in (b for b in blocks if b.kind == "panel"):
            try:
                panels[id(b)] = draw_panel(src, b.content, b.width, b.height)
            except MissingResults as exc:
                panels[id(b)] = str(exc)
        page = draw_page(cfg, blocks)
        for b in blocks:
            if isinstance(panels.get(id(b)), str):
                _missing_panel(b, page, panels[id(b)])
        buf = io.BytesIO()
        page.savefig(buf, format="pdf", metadata={"CreationDate": None})
    base = PdfReader(buf).pages[0]
    for b in blocks:
        if isinstance(panels.get(id(b)), tuple):
            panel = PdfReader(io.BytesIO(panels[id(b)][0])).pages[0]
            base.merge_transformed_page(panel, Transformation().translate(
                72 * b.x, 72 * (H - b.top - b.height)))
    writer = PdfWriter()
    writer.add_page(base)
    with atomic_output(out_file) as tmp:
        writer.write(str(tmp))
    with plt.rc_context({"savefig.bbox": "standard"}):
        _preview(page, blocks, panels, out_file.with_suffix(".png"))
    plt.close(page)
    return out_file


def _preview(page: plt.Figure, blocks: list[_Block], panels: dict, out: Path) -> None:
    """The page with the panels' PNG renderings in place, at :data:`PREVIEW_DPI`."""
    from PIL import Image

    for b in blocks:
        if isinstance(panels.get(id(b)), tuple):
            ax = page.add_axes([b.x / W, 1 - (b.top + b.height) / H, b.width / W, b.height / H])
            ax.imshow(np.asarray(Image.open(io.BytesIO(panels[id(b)][1]))))
            ax.axis("off")
    with atomic_output(out) as tmp:
        page.savefig(tmp, format="png", dpi=PREVIEW_DPI)
