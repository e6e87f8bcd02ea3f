"""Render a ``coconot report`` HTML page to a PNG with headless Chromium (a dev tool).

    python utils/screenshot_report.py report/report.html out.png [--width 1280] [--height 3000]

Needs a Chromium or Chrome binary (``chromium``, ``chromium-browser``, ``google-chrome``; or
``CHROMIUM=/path``). The page is loaded from the file system; the report is self-contained,
so nothing is fetched. A throw-away profile directory is used and removed afterwards.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")


def find_chromium() -> str | None:
    """The Chromium binary to use (``$CHROMIUM`` first), or ``None``."""
    explicit = os.environ.get("CHROMIUM")
    if explicit:
        return explicit if Path(explicit).exists() or shutil.which(explicit) else None
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def screenshot(
    html_path: Path, png_path: Path, width: int = 1280, height: int = 3000, timeout: float = 120
) -> None:
    """Render ``html_path`` into ``png_path`` (the top ``width`` x ``height`` pixels).

    Raises:
        FileNotFoundError: no Chromium binary, or the page does not exist.
        RuntimeError: Chromium failed or wrote no image.
    """
    binary = find_chromium()
    if binary is None:
        raise FileNotFoundError("no chromium binary found (install chromium or set CHROMIUM=/path/to/chrome)")
    page = html_path.resolve()
    if not page.is_file():
        raise FileNotFoundError(f"{page}: no such file")
    png = png_path.resolve()
    png.parent.mkdir(parents=True, exist_ok=True)
    if png.exists():
        png.unlink()
    with tempfile.TemporaryDirectory(prefix="coconot-chromium-") as profile:
        cmd = [
            binary,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--disable-extensions",
            f"--user-data-dir={profile}",
            f"--screenshot={png}",
            f"--window-size={width},{height}",
            page.as_uri(),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if not png.is_file() or png.stat().st_size == 0:
        raise RuntimeError(f"chromium wrote no screenshot (exit {proc.returncode}):\n{proc.stderr[-2000:]}")


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("html", type=Path, help="the report.html to render")
    parser.add_argument("png", type=Path, help="where to write the screenshot")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=3000)
    args = parser.parse_args(argv)
    try:
        screenshot(args.html, args.png, args.width, args.height)
    except (FileNotFoundError, RuntimeError, subprocess.TimeoutExpired) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {args.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
