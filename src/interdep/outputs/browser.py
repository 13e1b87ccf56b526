"""Check a report page the way a reader sees it: rendered by headless Chromium.

:func:`inspect_page` loads the page with a small script appended (in a temporary copy) that reports every image
that failed to load or is blank (all pixels alike), and whether the page is wider than the window (horizontal
overflow). ``python -m interdep.outputs.browser report.html [shot.png]`` prints the findings and, optionally,
writes a full-page screenshot.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

WINDOW = (1100, 900)  # CSS pixels: a laptop window
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
         "--hide-scrollbars", "--virtual-time-budget=10000"]
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")

_PROBE = """
<script>
window.addEventListener("load", () => {
  const out = {broken: [], blank: [], images: 0, overflow: 0, width: window.innerWidth};
  for (const img of document.images) {
    out.images += 1;
    const name = img.closest("figure") ? img.closest("figure").id : img.alt;
    if (!img.complete || img.naturalWidth === 0) { out.broken.push(name); continue; }
    const c = document.createElement("canvas");
    c.width = Math.min(img.naturalWidth, 400); c.height = Math.min(img.naturalHeight, 400);
    const ctx = c.getContext("2d"); ctx.drawImage(img, 0, 0, c.width, c.height);
    const px = ctx.getImageData(0, 0, c.width, c.height).data;
    let differs = false;
    for (let i = 4; i < px.length; i += 4) {
      if (px[i] !== px[0] || px[i + 1] !== px[1] || px[i + 2] !== px[2]) { differs = true; break; }
    }
    if (!differs) out.blank.push(name);
  }
  out.overflow = document.documentElement.scrollWidth - window.innerWidth;
  out.clipped = [];
  for (const el of document.querySelectorAll(".table-wrap, figure, pre, table")) {
    if (el.scrollWidth > el.clientWidth + 1) {
      out.clipped.push((el.previousElementSibling && el.previousElementSibling.textContent || el.tagName).slice(0, 80));
    }
  }
  const pre = document.createElement("pre"); pre.id = "interdep-probe";
  pre.textContent = JSON.stringify(out); document.body.appendChild(pre);
});
</script>
"""


def find_chromium() -> str | None:
    """Path of a Chromium (or Chrome) executable on PATH, or None."""
    return next((path for name in CHROMIUM_NAMES if (path := shutil.which(name))), None)


def _run(chromium: str, args: list[str], profile: str) -> subprocess.CompletedProcess:
    return subprocess.run([chromium, *FLAGS, f"--user-data-dir={profile}", f"--window-size={WINDOW[0]},{WINDOW[1]}",
                           *args], capture_output=True, text=True, timeout=120, check=False)


def inspect_page(html_path: str | Path, chromium: str | None = None) -> dict:
    """Render ``html_path`` and report what a reader would see wrong.

    Returns
    -------
    dict
        ``images`` (count), ``broken`` and ``blank`` (ids of the figures, or alt texts, of images that did not
        load or show a single colour), ``overflow`` (CSS pixels by which the page is wider than the window; 0 or
        less is fine), ``clipped`` (tables or figures wider than their box, so that a reader must scroll them
        sideways: the text before each), ``width`` (the window width).
    """
    chromium = chromium or find_chromium()
    if chromium is None:
        raise FileNotFoundError("no chromium on PATH (Debian: apt-get install chromium)")
    page = Path(html_path).read_text()
    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp) / "page.html"
        probe.write_text(page.replace("</body>", _PROBE + "</body>") if "</body>" in page else page + _PROBE)
        result = _run(chromium, ["--dump-dom", probe.as_uri()], str(Path(tmp) / "profile"))
    match = re.search(r'<pre id="interdep-probe">(.*?)</pre>', result.stdout, re.S)
    if not match:
        raise RuntimeError(f"chromium did not render {html_path}: {result.stderr[-2000:]}")
    return json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&"))


def screenshot(html_path: str | Path, png_path: str | Path, height: int = 20000,
               chromium: str | None = None) -> None:
    """A screenshot of the page, ``WINDOW`` wide and ``height`` CSS pixels tall."""
    chromium = chromium or find_chromium()
    if chromium is None:
        raise FileNotFoundError("no chromium on PATH (Debian: apt-get install chromium)")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([chromium, *FLAGS, f"--user-data-dir={tmp}", f"--window-size={WINDOW[0]},{height}",
                        f"--screenshot={Path(png_path).resolve()}", Path(html_path).resolve().as_uri()],
                       capture_output=True, timeout=120, check=True)


if __name__ == "__main__":
    print(json.dumps(inspect_page(sys.argv[1]), indent=1))
    if len(sys.argv) > 2:
        screenshot(sys.argv[1], sys.argv[2])
