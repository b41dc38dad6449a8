"""The HTML report: one self-contained file whose every figure is there and drawn, opened
in headless Chromium (Debian's `chromium`) without console errors."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")
                 if shutil.which(n)), None)
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="no headless Chromium here (Debian: apt-get install chromium; "
    ".ci/run installs it)")
WIDTH = 1280


class _Page(HTMLParser):
    """The report's images, links and scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[dict] = []
        self.refs: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.images.append(a)
        if tag == "script":
            self.scripts += 1
        for key in ("src", "href"):
            if a.get(key) and not a[key].startswith(("data:", "#")):
                self.refs.append(a[key])


def parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text())
    return page


def expected_figures(doc: dict) -> list[str]:
    """One set of curves per trace with several limits, then per replay its timeline and
    its distributions."""
    names = [rp["trace_name"] for rp in doc["replays"]]
    figs = ["limit-curves" for n in dict.fromkeys(names) if names.count(n) > 1]
    return figs + ["timeline", "distribution"] * len(doc["replays"])


def test_the_report_is_one_self_contained_file(compared):
    assert compared.returncode == 0, compared.stderr
    page = parse(compared.html)
    assert page.refs == [] and page.scripts == 0         # nothing fetched, nothing run
    assert [im["data-figure"] for im in page.images] == expected_figures(compared.doc)
    for im in page.images:
        assert im["alt"]
        prefix = "data:image/svg+xml;base64,"
        assert im["src"].startswith(prefix)
        svg = ET.fromstring(base64.b64decode(im["src"][len(prefix):]))
        assert svg.tag.endswith("svg")
        assert len(list(svg.iter())) > 200                # axes, lines, text: a drawn figure
    text = compared.html.read_text()
    for rp in compared.doc["replays"]:                    # the tables, with kernel names
        major = [f"{r['counters']['pgmajfault']:,}" for r in rp["results"]]
        assert all(v in text for v in major)
    for name in ("pgmajfault", "zswpin", "zswpwb", "pswpin", "workingset_refault_anon",
                 "hugepages-64kB/stats", "anon_fault_alloc", "Settings and policies"):
        assert name in text


PROBE = """<script>
window.addEventListener("load", () => {
  const images = [...document.querySelectorAll("img.plot")].map(im => {
    const r = im.getBoundingClientRect();
    return {figure: im.dataset.figure, x: r.left + scrollX, y: r.top + scrollY,
            w: r.width, h: r.height, natural: im.naturalWidth, complete: im.complete};
  });
  const pre = document.createElement("pre");
  pre.id = "probe";
  pre.textContent = JSON.stringify({images, height: document.documentElement.scrollHeight});
  document.body.appendChild(pre);
});
</script>"""


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--hide-scrollbars", f"--user-data-dir={profile}",
         "--enable-logging=stderr", "--v=0", *args],
        capture_output=True, text=True, timeout=180, check=False)


def console_messages(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


@needs_chromium
def test_console_messages_are_caught(tmp_path):
    """The check below would see an error: a page that logs one and throws is caught."""
    bad = tmp_path / "bad.html"
    bad.write_text("<html><body><script>console.error('report-probe'); nosuch();"
                   "</script></body></html>")
    p = chromium(tmp_path, "--virtual-time-budget=3000", "--dump-dom", bad.as_uri())
    found = console_messages(p.stderr)
    assert any("report-probe" in m for m in found) and any("nosuch" in m for m in found)


ACCEPTANCE = ["compare", "kvscan", "--memory-limit", "16M", "--memory-limit", "24M",
              "--memory-limit", "32M", "--html"]


@pytest.fixture(scope="module")
def kvscan_report(tmp_path_factory) -> Path:
    """The issue's acceptance command, as a user types it, on the bundled trace: the report
    lands in the reports folder ($FOLIO_REPLAY_REPORTS here)."""
    import os
    import sys
    reports = tmp_path_factory.mktemp("reports")
    env = {**os.environ, "FOLIO_REPLAY_REPORTS": str(reports)}
    env.pop("FOLIO_REPLAY_TRACES", None)
    p = subprocess.run([sys.executable, "-m", "replay.cli", *ACCEPTANCE], env=env,
                       capture_output=True, text=True, timeout=900, check=False)
    assert p.returncode == 0, p.stderr
    for size, share in (("16M", "33%"), ("24M", "50%"), ("32M", "66%")):
        assert f"kvscan: memory limit {size} = {share} of the footprint" in p.stdout
    written = list(reports.glob("kvscan-*.html"))
    assert len(written) == 1 and f"wrote report {written[0]}" in p.stderr
    return written[0]


@needs_chromium
def test_chromium_draws_every_figure_without_console_errors(kvscan_report, tmp_path):
    report = kvscan_report
    assert [im["data-figure"] for im in parse(report).images] == \
        ["limit-curves"] + ["timeline", "distribution"] * 3
    # where each figure is laid out, from a copy of the page with a probe
    probe = tmp_path / "probe.html"
    probe.write_text(report.read_text().replace("</body>", PROBE + "</body>"))
    p = chromium(tmp_path, f"--window-size={WIDTH},1000", "--virtual-time-budget=5000",
                 "--dump-dom", probe.as_uri())
    found = re.search(r'<pre id="probe">(.*?)</pre>', p.stdout, re.DOTALL)
    assert found, p.stderr[-2000:]
    layout = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    images = layout["images"]
    assert [im["figure"] for im in images] == ["limit-curves"] + ["timeline",
                                                                   "distribution"] * 3
    for im in images:
        assert im["complete"] and im["natural"] > 0, im     # the SVG decoded
        assert im["w"] > 600 and im["h"] > 250, im           # laid out full width
    # the report itself, as a browser draws it: no console message, every figure drawn
    shot = tmp_path / "report.png"
    p = chromium(tmp_path, f"--window-size={WIDTH},{int(layout['height']) + 40}",
                 "--virtual-time-budget=5000", f"--screenshot={shot}", report.as_uri())
    assert shot.exists(), p.stderr[-2000:]
    assert console_messages(p.stderr) == []
    from PIL import Image
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=np.float64)
    assert pixels.shape[1] == WIDTH and pixels.shape[0] >= layout["height"]
    for im in images:
        x0, y0 = int(im["x"]) + 4, int(im["y"]) + 4
        x1, y1 = int(im["x"] + im["w"]) - 4, int(im["y"] + im["h"]) - 4
        region = pixels[y0:y1, x0:x1]
        ink = (region < 200).mean()                          # lines, bars, text
        assert 0.01 < ink < 0.6, (im["figure"], ink)
        assert region.std() > 20, im["figure"]
        # every panel has ink: the figure's quarters (timeline: 2x2 panels) are not blank
        h, w = region.shape
        for qy in (0, 1):
            for qx in (0, 1):
                q = region[qy * h // 2:(qy + 1) * h // 2, qx * w // 2:(qx + 1) * w // 2]
                assert (q < 200).mean() > 0.005, (im["figure"], qy, qx)
    # and the page around them is there: the title in the first screen is dark on white
    assert (pixels[:120] < 100).mean() > 0.005
