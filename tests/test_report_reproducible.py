"""Re-rendering the monthly report from the same data cut with the same toolkit gives the
same HTML byte for byte and a PDF with the same text (issue 15): once in this process and
once in a fresh interpreter with another hash seed, so that set or dict ordering, the clock,
process ids or matplotlib's random SVG ids would all show as a difference. The cut has a
previous one, so the "changes since the previous cut" section is rendered too."""

from __future__ import annotations

import difflib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pypdf import PdfReader
from reproducible_render import make_cuts, render

HELPER = Path(__file__).with_name("reproducible_render.py")


def _pdf_text(path: Path) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(path.read_bytes())).pages)


@pytest.fixture(scope="module")
def two_renders(tmp_path_factory):
    cut = make_cuts(tmp_path_factory.mktemp("cuts"))
    here = tmp_path_factory.mktemp("render-here")
    there = tmp_path_factory.mktemp("render-there")
    env = {**os.environ, "PYTHONHASHSEED": "4321"}
    # the second interpreter renders while this one does (two cores: half the wall time)
    other = subprocess.Popen([sys.executable, str(HELPER), str(cut), str(there)], env=env,
                             cwd=tmp_path_factory.getbasetemp())
    try:
        html, pdf = render(cut, here)
    finally:
        assert other.wait(timeout=600) == 0
    return (html, pdf), (there / html.name, there / pdf.name)


def test_the_html_is_byte_identical(two_renders):
    (html_a, _), (html_b, _) = two_renders
    a, b = html_a.read_bytes(), html_b.read_bytes()
    if a != b:
        diff = difflib.unified_diff(a.decode().splitlines(), b.decode().splitlines(),
                                    lineterm="", n=0)
        pytest.fail("re-rendered HTML differs:\n" + "\n".join(line[:160] for line in
                                                                list(diff)[:20]))
    assert b"<svg" in a and b"Table 1." in a  # a whole report, figures included
    assert b'<section id="changes"' in a and b"manifest sha256" in a


def test_the_pdf_text_is_identical(two_renders):
    (_, pdf_a), (_, pdf_b) = two_renders
    text = _pdf_text(pdf_a)
    assert "Monthly interim report" in text
    assert text == _pdf_text(pdf_b)


def test_the_generation_time_is_the_cuts(two_renders):
    (html_a, _), _ = two_renders
    assert "<dt>Generated</dt><dd>2026-11-26 08:30 UTC</dd>" in html_a.read_text(
        encoding="utf-8")
