"""replay serve in a browser: headless Chromium (Debian's `chromium`, driven by playwright)
uploads a generated trace through the page's form, follows the job page until the report
is there, and sees its figures drawn: every plot decoded and laid out, and a screenshot
with ink in every panel. Then the result's share link and JSON download, and the list of
comparisons searched by trace and policy."""

from __future__ import annotations

import gzip
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from serve_server import Server
from test_serve_api import csv_of

from replay.gen import generate_to

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser") if shutil.which(n)),
                None)
try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:                       # pragma: no cover - the test extra installs it
    expect = sync_playwright = None

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="no headless Chromium here (Debian: apt-get "
                       "install chromium; .ci/run installs it)"),
    pytest.mark.skipif(sync_playwright is None, reason="playwright is not installed (pip "
                       "install -e '.[test]')"),
]

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
KEPT = ["order0-fallback", "hybrid-rejected", "hybrid-supported"]
WIDTH = 1280


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    traces = tmp_path_factory.mktemp("browser-traces")
    generate_to(traces / "small.parquet", "zipf", accesses=10_000, pages=2_000, seed=2)
    data = tmp_path_factory.mktemp("browser") / "data"
    with Server(data, "--workers", "1", traces=traces) as s:
        yield s


@pytest.fixture(scope="module")
def upload_file(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("browser-upload")
    generate_to(folder / "gen.parquet", "zipf", accesses=80_000, pages=10_000, seed=8)
    out = folder / "webapp.csv.gz"
    out.write_bytes(gzip.compress(csv_of(folder / "gen.parquet", folder / "t.csv").read_bytes()))
    return out


def ink_problems(pixels: np.ndarray, box: dict, name: str) -> list[str]:
    """What is blank about a figure's region of a screenshot (nothing, when drawn)."""
    x0, y0 = int(box["x"]) + 4, int(box["y"]) + 4
    x1, y1 = int(box["x"] + box["width"]) - 4, int(box["y"] + box["height"]) - 4
    region = pixels[y0:y1, x0:x1]
    problems = []
    ink = (region < 200).mean()                          # lines, bars, text
    if not 0.01 < ink < 0.6:
        problems.append(f"{name}: ink {ink:.3f}")
    if region.std() <= 20:
        problems.append(f"{name}: flat (std {region.std():.1f})")
    h, w = region.shape
    for qy in (0, 1):                                    # every quarter: a panel's share
        for qx in (0, 1):
            q = region[qy * h // 2:(qy + 1) * h // 2, qx * w // 2:(qx + 1) * w // 2]
            if (q < 200).mean() <= 0.005:
                problems.append(f"{name}: quarter {qy},{qx} blank")
    return problems


def test_upload_compare_and_share_in_a_browser(server, upload_file, tmp_path):
    from PIL import Image
    errors: list[str] = []
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True, args=ARGS,
            viewport={"width": WIDTH, "height": 900}, accept_downloads=True)
        try:
            context.grant_permissions(["clipboard-read", "clipboard-write"],
                                      origin=server.url)
            page = context.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))

            # the form: a file, two memory limits, three policies, one setting changed
            page.goto(server.url + "/")
            assert page.title() == "New comparison · folio-replay"
            page.set_input_files("input[type=file]", str(upload_file))
            assert page.is_checked("input[name=trace_source][value=upload]")
            page.fill("#f-limits", "40% 70%")
            for box in page.query_selector_all("input[name=policy]"):
                if box.get_attribute("value") not in KEPT:
                    box.uncheck()
            page.fill("#f-mthp", "16K,64K")
            page.screenshot(path=str(tmp_path / "form.png"), full_page=True)
            page.click("button[type=submit]")
            page.wait_for_url(re.compile(r"/jobs/[0-9a-f]{12}$"), timeout=60_000)
            job_url = page.url
            job_id = job_url.rsplit("/", 1)[1]

            # the job page follows the job, then shows the report
            if page.query_selector("#job-phase"):
                assert page.inner_text("#job-phase")
                page.screenshot(path=str(tmp_path / "progress.png"), full_page=True)
            page.wait_for_selector("img.plot", timeout=240_000)
            page.wait_for_load_state("load")
            figures = page.eval_on_selector_all("img.plot", """ims => ims.map(im => ({
                figure: im.dataset.figure, complete: im.complete, natural: im.naturalWidth,
                box: (r => ({x: r.left + scrollX, y: r.top + scrollY, width: r.width,
                             height: r.height}))(im.getBoundingClientRect())}))""")
            assert [f["figure"] for f in figures] == \
                ["limit-curves", "timeline", "distribution", "timeline", "distribution"]
            for f in figures:
                assert f["complete"] and f["natural"] > 0, f
                assert f["box"]["width"] > 600 and f["box"]["height"] > 250, f
            title = page.inner_text("h1")
            assert title == "folio-replay: webapp"
            shot = tmp_path / "report.png"
            page.screenshot(path=str(shot), full_page=True)
            pixels = np.asarray(Image.open(shot).convert("L"), dtype=np.float64)
            assert pixels.shape[1] == WIDTH
            problems = [m for f in figures for m in ink_problems(pixels, f["box"], f["figure"])]
            assert problems == []
            assert (pixels[:60] < 100).mean() > 0.3                  # the dark top bar

            # share it: the address of this page, copied by the button
            assert page.input_value("#share-url") == job_url
            page.click("button[data-copy=share-url]")
            # a locator's text is polled by Playwright itself: a wait_for_function
            # predicate is a string the page's CSP (script-src 'self') refuses to eval
            expect(page.locator("[data-copy]").first).to_have_text("Copied", timeout=5_000)
            assert page.evaluate("navigator.clipboard.readText()") == job_url
            with page.expect_download() as download:
                page.click("text=Download JSON")
            doc = json.loads(Path(download.value.path()).read_text())
            assert download.value.suggested_filename == f"webapp-{job_id}.json"
            assert doc["policies"] == KEPT
            assert [rp["memory_limit"]["given"] for rp in doc["replays"]] == ["40%", "70%"]
            assert doc["replays"][0]["results"][0]["config"]["mthp_sizes_kb"] == [16, 64]
            command = page.inner_text("#job-command")
            assert command.startswith("replay import csv webapp.csv.gz -o webapp.parquet && "
                                      "replay compare webapp.parquet --memory-limit 40% "
                                      "--memory-limit 70% --policy order0-fallback")

            # the list, searched by trace and policy
            page.click("nav >> text=Comparisons")
            page.fill("#q-trace", "webapp")
            page.select_option("#q-policy", "hybrid-rejected")
            page.click("button:has-text('Search')")
            page.wait_for_url(re.compile(r"/jobs\?"))
            assert page.query_selector(f"a[href='/jobs/{job_id}']") is not None
            page.screenshot(path=str(tmp_path / "list.png"), full_page=True)
            page.select_option("#q-policy", "full-zswap")
            page.click("button:has-text('Search')")
            page.wait_for_load_state("load")
            assert page.query_selector(f"a[href='/jobs/{job_id}']") is None
            assert "No comparison matches" in page.inner_text("main")
        finally:
            context.close()
    assert errors == []
