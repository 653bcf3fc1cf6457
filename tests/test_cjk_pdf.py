"""Chinese in the PDFs: the CJK font the project installs (pylopdf-fonts-zh-cn, Noto Sans SC)
is embedded and the text layer holds the Chinese text; a missing font is one clear error.

pdffonts/pdftotext come from poppler-utils (``make sysdeps``); without them the PDF checks are
skipped with a message saying so."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from sgbm_redcap.errors import ConfigError
from sgbm_redcap.reports import fonts
from sgbm_redcap.reports.pdf import write_html_pdf

needs_poppler = pytest.mark.skipif(
    shutil.which("pdffonts") is None or shutil.which("pdftotext") is None,
    reason="poppler-utils (pdffonts, pdftotext) not installed: `make sysdeps` or "
           "`apt-get install poppler-utils`")


def pdf_fonts(path) -> str:
    return subprocess.run(["pdffonts", str(path)], capture_output=True, text=True,
                          check=True).stdout


def pdf_text(path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True,
                          text=True, check=True).stdout


def embedded_cjk(fonts_listing: str) -> list[str]:
    """pdffonts lines of an embedded Noto Sans SC subset (emb = yes)."""
    return [line for line in fonts_listing.splitlines()
            if "Noto-Sans-SC" in line and line.split()[-5] == "yes"]


def test_the_font_file_comes_from_the_installed_package():
    path = fonts.cjk_font_path()
    assert path.name == "NotoSansSC-Regular.otf" and path.stat().st_size > 1_000_000
    assert path.as_uri() in fonts.font_face_css()


def test_a_missing_font_package_is_one_clear_configuration_error(monkeypatch):
    fonts.cjk_font_path.cache_clear()
    monkeypatch.setitem(sys.modules, "pylopdf_fonts_zh_cn", None)  # import fails
    try:
        with pytest.raises(ConfigError, match="pylopdf-fonts-zh-cn.*make install"):
            fonts.require_cjk_font()
    finally:
        fonts.cjk_font_path.cache_clear()


@needs_poppler
def test_chinese_html_becomes_a_pdf_with_the_font_embedded_and_searchable(tmp_path):
    html = ('<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"></head><body>'
            "<h1>数据质疑</h1><p>戈沙妥珠单抗 · 完全缓解 · cut-off</p></body></html>")
    _, pdf = write_html_pdf(html, tmp_path / "zh")
    assert embedded_cjk(pdf_fonts(pdf))
    text = pdf_text(pdf)
    assert "数据质疑" in text and "戈沙妥珠单抗" in text and "cut-off" in text


def test_the_pdf_fetcher_opens_the_font_file_and_no_other_local_file(tmp_path):
    from sgbm_redcap.reports.pdf import _fetcher

    font_url = fonts.cjk_font_path().as_uri()
    fetch = _fetcher(font_url)
    fetch = getattr(fetch, "fetch", fetch)
    other = tmp_path / "secret.txt"
    other.write_text("private")
    with pytest.raises(ValueError, match="may not load external resources"):
        fetch(other.as_uri())
    with pytest.raises(ValueError, match="may not load external resources"):
        fetch("http://127.0.0.1:9/x.css")
    response = fetch(font_url)
    try:
        assert response.read(4) == b"OTTO"  # the OpenType/CFF font file itself
    finally:
        response.close()
