"""The report as a reader sees it: rendered by headless Chromium (Debian package `chromium`; .ci/run installs it).

Skipped with the reason when no Chromium is on PATH, except under CI=true, where that is a failure.
"""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from interdep.outputs.browser import inspect_page  # noqa: E402


def _png(draw: bool) -> str:
    fig, ax = plt.subplots(figsize=(2, 1))
    if draw:
        ax.plot([0, 1], [0, 1])
    else:
        ax.set_axis_off()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def test_inspection_finds_broken_blank_and_overflowing_content(chromium, tmp_path):
    page = tmp_path / "bad.html"
    page.write_text(
        "<!DOCTYPE html><html><body>"
        f'<figure id="fig-good"><img alt="good" src="data:image/png;base64,{_png(True)}"></figure>'
        f'<figure id="fig-empty"><img alt="empty" src="data:image/png;base64,{_png(False)}"></figure>'
        '<figure id="fig-broken"><img alt="broken" src="data:image/png;base64,AAAA"></figure>'
        '<table><tr><td style="white-space:nowrap">' + "wide " * 400 + "</td></tr></table>"
        '<p>Models</p><div class="table-wrap" style="overflow-x:auto;max-width:300px"><table><tr>'
        '<td style="white-space:nowrap">' + "hidden " * 100 + "</td></tr></table></div>"
        "</body></html>")
    found = inspect_page(page, chromium)
    assert found["images"] == 3
    assert found["broken"] == ["fig-broken"]
    assert found["blank"] == ["fig-empty"]
    assert found["overflow"] > 0
    assert "Models" in found["clipped"]  # a table one must scroll sideways inside its box


def test_a_clean_page_passes(chromium, tmp_path):
    page = tmp_path / "good.html"
    page.write_text(f'<!DOCTYPE html><html><body><figure id="f"><img src="data:image/png;base64,{_png(True)}">'
                    "</figure><p>text</p></body></html>")
    found = inspect_page(page, chromium)
    assert (found["images"], found["broken"], found["blank"]) == (1, [], [])
    assert found["overflow"] <= 0 and found["clipped"] == []
