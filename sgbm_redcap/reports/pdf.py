"""HTML → PDF with WeasyPrint (a real CSS paged-media engine: running heads, page counters,
repeated table headers, vector SVG).

The PDF is made from exactly the HTML the report writes, so there is one rendering path to
test. WeasyPrint fetches nothing from the network here: the HTML is self-contained (inline
CSS and SVG) and the URL fetcher allows ``data:`` URLs and the one local file of the CJK
font (:mod:`sgbm_redcap.reports.fonts`), which an extra stylesheet registers so that Chinese
text is set in an embedded font rather than shown as empty boxes.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: WeasyPrint messages that are expected for our HTML and say nothing about the output:
#: its HTML style pass does not know SVG presentation properties (the SVG renderer applies
#: them), and the font-subsetting backend notice.
_NOISE = ("Ignored `", "Using fontTools instead of HarfBuzz", "Anchor defined twice")


class _WeasyNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(_NOISE)


def _allowed(url: str, font_url: str) -> bool:
    return url.startswith("data:") or url == font_url


def _fetcher(font_url: str) -> Any:
    """A fetcher that allows ``data:`` URLs and the font file only (WeasyPrint ≥ 66 has
    URLFetcher)."""
    try:
        from weasyprint.urls import URLFetcher
    except ImportError:  # older WeasyPrint: a plain function
        from weasyprint import default_url_fetcher

        def fetch(url: str, *args: Any, **kwargs: Any) -> Any:
            if not _allowed(url, font_url):
                raise ValueError(f"report HTML may not load external resources: {url[:80]}")
            return default_url_fetcher(url, *args, **kwargs)

        return fetch

    class _Fetcher(URLFetcher):  # type: ignore[misc]
        def fetch(self, url: str, headers: Any = None) -> Any:
            if not _allowed(url, font_url):
                raise ValueError(f"report HTML may not load external resources: {url[:80]}")
            return super().fetch(url, headers)

    return _Fetcher(allowed_protocols={"data", "file"})


def html_to_pdf(html: str, path: Path | str) -> Path:
    """Write ``html`` as a PDF at ``path`` and return the path."""
    from weasyprint import CSS, HTML
    from weasyprint.text.fonts import FontConfiguration

    from sgbm_redcap.reports.fonts import cjk_font_path, font_face_css

    font_url = cjk_font_path().as_uri()  # a clear error before any work when it is missing
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    weasy_log = logging.getLogger("weasyprint")
    noise = _WeasyNoise()
    weasy_log.addFilter(noise)
    logging.getLogger("fontTools").setLevel(logging.WARNING)
    try:
        # Fonts stay subset: embedding them whole (full_fonts) is ~20% faster but breaks
        # the text layer ("cut-off" is extracted as "cut-oﬀ", so searching the PDF fails).
        fetcher = _fetcher(font_url)
        fonts = FontConfiguration()
        cjk = CSS(string=font_face_css(), font_config=fonts, url_fetcher=fetcher)
        HTML(string=html, url_fetcher=fetcher, base_url=str(path.parent)).write_pdf(
            path, stylesheets=[cjk], font_config=fonts)
    finally:
        weasy_log.removeFilter(noise)
    log.info("wrote %s (%d bytes)", path, path.stat().st_size)
    return path


def write_html_pdf(html: str, stem: Path | str, *, pdf: bool = True) -> list[Path]:
    """The one HTML (+ PDF) writer of every report: ``<stem>.html`` and, with ``pdf``,
    ``<stem>.pdf`` made from exactly that HTML. Returns the paths written."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    html_path = stem.parent / f"{stem.name}.html"  # not with_suffix: "1.0.0" has dots
    html_path.write_text(html, encoding="utf-8")
    paths = [html_path]
    if pdf:
        paths.append(html_to_pdf(html, stem.parent / f"{stem.name}.pdf"))
    return paths
