"""Compile a generated ``.tex`` with pdflatex and rasterise it with pdftoppm (for the README)."""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from bench.errors import UserError

#: Debian packages that provide the tools (pdflatex with booktabs/geometry/graphicx, pdftoppm)
APT_PACKAGES = ("texlive-latex-base", "texlive-latex-recommended", "poppler-utils")


def _require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise UserError(f"'{tool}' not found; install it with: apt-get install -y --no-install-recommends "
                        + " ".join(APT_PACKAGES))
    return path


def compile_pdf(tex: Path) -> Path:
    """Run pdflatex on ``tex`` (beside it) and return the PDF; the log tail is in the error on failure."""
    pdflatex = _require("pdflatex")
    tex = Path(tex).resolve()
    with tempfile.TemporaryDirectory() as build:
        proc = subprocess.run([pdflatex, "-interaction=nonstopmode", "-halt-on-error", f"-output-directory={build}",
                               str(tex)], capture_output=True, text=True, timeout=120)
        pdf = Path(build) / (tex.stem + ".pdf")
        if proc.returncode != 0 or not pdf.is_file():
            tail = "\n".join(proc.stdout.splitlines()[-15:])
            raise UserError(f"pdflatex failed on {tex}:\n{tail}")
        target = tex.with_suffix(".pdf")
        shutil.copyfile(pdf, target)
    return target


def pdf_to_png(pdf: Path, dpi: int = 200) -> Path:
    """First page of ``pdf`` as a PNG beside it, cropped to the ink with a small white margin."""
    from PIL import Image, ImageChops

    pdftoppm = _require("pdftoppm")
    pdf = Path(pdf).resolve()
    stem = pdf.with_suffix("")
    subprocess.run([pdftoppm, "-png", "-r", str(dpi), "-f", "1", "-l", "1", "-singlefile", str(pdf), str(stem)],
                   check=True, capture_output=True, timeout=120)
    png = stem.with_suffix(".png")
    with Image.open(png) as page:
        image = page.convert("RGB")
    box = ImageChops.difference(image, Image.new("RGB", image.size, "white")).getbbox()
    if box:
        margin = dpi // 10
        box = (max(box[0] - margin, 0), max(box[1] - margin, 0),
               min(box[2] + margin, image.width), min(box[3] + margin, image.height))
        image = image.crop(box)
    image.save(png)
    return png
