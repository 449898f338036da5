"""What a person sees, in a real browser: Debian's chromium driven by Playwright.

Starts the app, trains a CartPole run from the Train page, watches the curve gain points while
training, and checks that the browser can decode the rollout video.
"""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

playwright = pytest.importorskip("playwright.sync_api")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists() and not os.environ.get("CI"),
                                reason="Debian chromium is not installed (.ci/run installs it)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def app_url(tmp_path):
    port = _free_port()
    env = {**os.environ, "RLVIZ_RUNS_DIR": str(tmp_path / "runs")}
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port), "--server.headless", "true"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{url}/_stcore/health", timeout=1)
            break
        except OSError:
            time.sleep(0.3)
    else:
        server.kill()
        pytest.fail("the app did not start within 60 s")
    yield url
    server.terminate()
    server.wait(timeout=20)


def _curve_points(page) -> int:
    # Plotly 6 ships arrays base64-encoded; _fullData holds them decoded. The last trace, the
    # moving average, has one point per finished episode.
    return page.evaluate("""() => {
        const plot = document.querySelector('.stPlotlyChart .js-plotly-plot');
        if (!plot || !plot._fullData || !plot._fullData.length) return 0;
        const trace = plot._fullData[plot._fullData.length - 1];
        return trace._length || (trace.x ? trace.x.length : 0);
    }""")


def test_train_live_curve_and_playable_video(app_url):
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        page.goto(f"{app_url}/train")
        page.get_by_role("button", name="Train", exact=True).click()

        # The curve gains points while the run trains.
        counts = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (len(counts) < 2 or counts[-1] <= counts[0]):
            page.wait_for_timeout(700)
            points = _curve_points(page)
            if points:
                counts.append(points)
        assert len(counts) >= 2 and counts[-1] > counts[0], f"curve did not grow: {counts}"

        stop = page.get_by_role("button", name="Stop", exact=True)
        if stop.is_enabled():
            stop.click()
        page.locator("video").first.wait_for(timeout=90_000)
        page.wait_for_function("""() => {
            const v = document.querySelector('video');
            return v && v.readyState >= 2 && v.duration > 0;
        }""", timeout=30_000)
        video = page.evaluate("() => { const v = document.querySelector('video'); "
                              "return {ready: v.readyState, duration: v.duration, width: v.videoWidth}; }")
        assert video["ready"] >= 2 and video["duration"] > 0 and video["width"] == 600
        assert page.locator("[data-testid='stException']").count() == 0
        browser.close()
