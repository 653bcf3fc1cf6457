"""HTML → PDF with WeasyPrint (a real CSS paged-media engine: running heads, page counters,
repeated table headers, vector SVG).

The PDF is made from exactly the HTML the report writes, so there is one rendering path to
test. WeasyPrint fetches nothing from the network here: the HTML is self-contained (inline
CSS and SVG) and the URL fetcher refuses anything that is not a ``data:`` URL.
"""

from __future__ import annotations

import logging
from pathlib import Path

from sgbm_redcap.errors import SgbmRedcapError

log = logging.getLogger(__name__)


def _no_fetch(url: str, timeout: int = 10, ssl_context: object = None) -> dict:
    from weasyprint import default_url_fetcher

    if url.startswith("data:"):
        return default_url_fetcher(url, timeout=timeout, ssl_context=ssl_context)
    raise SgbmRedcapError(f"report HTML tried to load an external resource: {url[:80]}")


def html_to_pdf(html: str, path: Path | str) -> Path:
    """Write ``html`` as a PDF at ``path`` and return the path."""
    from weasyprint import HTML

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    logging.getLogger("fontTools").setLevel(logging.WARNING)
    HTML(string=html, url_fetcher=_no_fetch, base_url=str(path.parent)).write_pdf(path)
    log.info("wrote %s (%d bytes)", path, path.stat().st_size)
    return path
