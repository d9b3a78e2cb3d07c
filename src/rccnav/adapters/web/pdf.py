"""Print an HTML document to PDF with headless Chromium (the browser's own print CSS).

Chromium prints exactly what the page's Print button prints, so the PDF and the
printed page are one document. It is found as ``$RCCNAV_CHROMIUM`` or on ``PATH``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
TIMEOUT_SECONDS = 90


class PdfError(RuntimeError):
    """The PDF could not be made; the message says why and what to do."""


def find_chromium() -> str | None:
    configured = os.environ.get("RCCNAV_CHROMIUM")
    if configured:
        return configured if Path(configured).exists() else None
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    return None


def html_to_pdf(html: str, output: Path) -> None:
    browser = find_chromium()
    if browser is None:
        raise PdfError(
            "a PDF needs Chromium, which was not found (install the 'chromium' package or set "
            "RCCNAV_CHROMIUM); --output summary.html works without it"
        )
    with tempfile.TemporaryDirectory(prefix="rccnav-report-") as work:
        page = Path(work, "summary.html")
        page.write_text(html, encoding="utf-8")
        target = Path(work, "summary.pdf")
        command = [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-extensions",
            "--no-pdf-header-footer",
            f"--user-data-dir={Path(work, 'profile')}",
            f"--print-to-pdf={target}",
            page.as_uri(),
        ]
        try:
            done = subprocess.run(
                command, capture_output=True, timeout=TIMEOUT_SECONDS, check=False
            )
        except subprocess.TimeoutExpired:
            raise PdfError(f"Chromium did not finish the PDF within {TIMEOUT_SECONDS} s") from None
        except OSError as exc:
            raise PdfError(f"cannot run {browser}: {exc.strerror or exc}") from None
        if not target.exists() or not target.read_bytes().startswith(b"%PDF"):
            detail = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or [""]
            raise PdfError(f"Chromium made no PDF (exit {done.returncode}) {detail[0]}".strip())
        shutil.copyfile(target, output)
