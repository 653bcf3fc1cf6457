"""The CJK font the PDFs embed: Noto Sans SC (SIL Open Font License 1.1), shipped by the PyPI
package ``pylopdf-fonts-zh-cn`` that ``pyproject.toml`` lists, so ``make install`` brings it
on every machine (no system font package needed).

WeasyPrint gets it through an ``@font-face`` rule whose ``src`` is the package's own file
(:func:`font_face_css`); the report stylesheet names the family "Noto Sans SC" after the
Latin fonts, so Chinese text is set in it and embedded (subset) in each PDF. Without it a
Chinese listing would print as empty boxes, so its absence is an error said in one line
before any PDF is made (:func:`require_cjk_font`).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from sgbm_redcap.errors import ConfigError

#: the family name the stylesheet uses (templates/report.css.j2)
CJK_FAMILY = "Noto Sans SC"
#: the PyPI distribution and its import name
CJK_PACKAGE = "pylopdf-fonts-zh-cn"
_MODULE = "pylopdf_fonts_zh_cn"


@lru_cache(maxsize=1)
def cjk_font_path() -> Path:
    """The Noto Sans SC file of the installed font package; ConfigError when absent."""
    try:
        import pylopdf_fonts_zh_cn as package
    except ImportError:
        path = None
    else:
        path = Path(package.sans_path())
    if path is None or not path.is_file():
        raise ConfigError(
            f"The Chinese font for the PDFs (Noto Sans SC, from the Python package "
            f"{CJK_PACKAGE}) is not installed: run `make install` (or `pip install "
            f"{CJK_PACKAGE}`) in the project's environment.",
            setting=CJK_PACKAGE, source="installed packages")
    return path


def require_cjk_font() -> Path:
    """Fail early (before a long job) when the CJK font is missing; returns its path."""
    return cjk_font_path()


def font_face_css() -> str:
    """The ``@font-face`` rule that registers the font file with WeasyPrint."""
    return (f'@font-face {{ font-family: "{CJK_FAMILY}"; '
            f'src: url("{cjk_font_path().as_uri()}"); }}')
