"""What a person sees, in a real browser: Debian's chromium driven by Playwright.

Starts the app and drives it as students do: trains a CartPole run from the Train page, watches
the curve gain points while training, and checks that the browser can decode the rollout video;
two browsers share one run and one of them stops watching it; a reload finds the run again.

Every wait is on what the page shows, with deadlines long enough for a loaded 2-core machine.
"""

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

playwright = pytest.importorskip("playwright.sync_api")
expect = playwright.expect

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ROOT = Path(__file__).resolve().parent.parent
VIEWPORT = {"width": 1400, "height": 1800}
# Playwright's own default (30 s) once failed a wait for the Train button on a loaded 2-core machine.
WAIT_MS = 180_000
# A whole training run may take this long when both cores are busy with something else (the shared
# run of 20,000 DQN steps took 400 s with a load average of 15 on 2 cores).
RUN_MS = 900_000
SERVER_START_SECONDS = 180
# The live view's progress bar: "Training · on this server: 1,234 / 20,000 env steps · ..."
PROGRESS = re.compile(r"Training.*: [\d,]+ / [\d,]+ env steps")

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists() and not os.environ.get("CI"),
                                reason="Debian chromium is not installed (.ci/run installs it)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def app_url(tmp_path):
    """A fresh server (its own runs directory, two training workers) for each test; its log is in tmp_path."""
    port = _free_port()
    env = {**os.environ, "RLVIZ_RUNS_DIR": str(tmp_path / "runs"), "RLVIZ_MAX_WORKERS": "2"}
    with open(tmp_path / "server.log", "wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
             "--server.headless", "true"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{url}/_stcore/health", timeout=5)
            break
        except OSError:
            if server.poll() is not None:
                pytest.fail(f"the app exited with code {server.returncode}: see {tmp_path / 'server.log'}")
            time.sleep(0.3)
    else:
        server.kill()
        pytest.fail(f"the app did not start within {SERVER_START_SECONDS} s")
    yield url
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(timeout=30)


@pytest.fixture
def browser(tmp_path):
    """Chromium; at the end each of its tabs leaves a screenshot in tmp_path, to see what a failed test saw."""
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        pages = [page for context in browser.contexts for page in context.pages]
        for number, page in enumerate(pages, start=1):
            try:
                page.screenshot(path=str(tmp_path / f"tab{number}.png"), full_page=True, timeout=30_000)
            except playwright.Error:
                pass
        browser.close()


def _open(browser, url: str):
    """A new browser (its own context, so its own session id) showing ``url``, once its Train button is there."""
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    page.goto(url, timeout=WAIT_MS)
    expect(_button(page, "Train")).to_be_enabled(timeout=WAIT_MS)
    return page


def _button(page, name: str):
    return page.get_by_role("button", name=name, exact=True)


def _curve(page) -> dict:
    # Plotly 6 ships arrays base64-encoded; _fullData holds them decoded. The last trace, the
    # moving average, has one point per shown episode, the newest always among them.
    return page.evaluate("""() => {
        const plot = document.querySelector('.stPlotlyChart .js-plotly-plot');
        if (!plot || !plot._fullData || !plot._fullData.length) return {points: 0, last_step: -1};
        const trace = plot._fullData[plot._fullData.length - 1];
        const points = trace._length || (trace.x ? trace.x.length : 0);
        return {points: points, last_step: points ? Number(trace.x[points - 1]) : -1};
    }""")


def _curve_points(page) -> int:
    return _curve(page)["points"]


def _curve_with(page, min_step: int) -> dict | None:
    """The curve if it has points and its newest episode ended at ``min_step`` or later, else None."""
    curve = _curve(page)
    return curve if curve["points"] and curve["last_step"] >= min_step else None


def _wait_for(page, predicate, seconds: float, what: str):
    """Polls ``predicate`` (every half second) until it returns something truthy; fails after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not seen within {seconds:.0f} s")
        page.wait_for_timeout(500)


def _no_exception(page) -> None:
    assert page.locator("[data-testid='stException']").count() == 0, page.locator(
        "[data-testid='stException']").first.inner_text()


def _finished_marker(page):
    # "**Finished** in 23.4 s (850 steps/s)": the word in bold, as only the finished view writes it.
    return page.locator("strong").filter(has_text=re.compile(r"^Finished$"))


def test_train_live_curve_and_playable_video(app_url, browser):
    page = _open(browser, f"{app_url}/train")
    _button(page, "Train").click()

    # The curve gains points while the run trains.
    counts = []
    deadline = time.monotonic() + WAIT_MS / 1000
    while time.monotonic() < deadline and (len(counts) < 2 or counts[-1] <= counts[0]):
        page.wait_for_timeout(700)
        points = _curve_points(page)
        if points:
            counts.append(points)
    assert len(counts) >= 2 and counts[-1] > counts[0], f"curve did not grow: {counts}"

    stop = _button(page, "Stop")
    if stop.is_enabled():
        stop.click()
    page.locator("video").first.wait_for(timeout=RUN_MS)
    page.wait_for_function("""() => {
        const v = document.querySelector('video');
        return v && v.readyState >= 2 && v.duration > 0;
    }""", timeout=WAIT_MS)
    video = page.evaluate("() => { const v = document.querySelector('video'); "
                          "return {ready: v.readyState, duration: v.duration, width: v.videoWidth}; }")
    assert video["ready"] >= 2 and video["duration"] > 0 and video["width"] == 600
    _no_exception(page)


# About 25 s of DQN on CartPole on an idle core of the 2-core machine: long enough for two browsers
# to join it and one to stop watching, short enough to wait for its end.
SHARED_RUN = "/train?algo=dqn&env_id=CartPole-v1&total_steps=20000&seed=3"


def test_stop_in_one_browser_does_not_stop_anothers_run(app_url, browser):
    first = _open(browser, app_url + SHARED_RUN)
    second = _open(browser, app_url + SHARED_RUN)
    first_sid = re.search(r"[?&]sid=([^&]+)", first.url)
    second_sid = re.search(r"[?&]sid=([^&]+)", second.url)
    assert first_sid and second_sid and first_sid.group(1) != second_sid.group(1), (first.url, second.url)

    _button(first, "Train").click()
    expect(first.get_by_text(PROGRESS).first).to_be_visible(timeout=WAIT_MS)
    _button(second, "Train").click()  # the same settings and seed: the same run, watched together
    expect(second.get_by_text(PROGRESS).first).to_be_visible(timeout=WAIT_MS)
    for page in (first, second):
        expect(page.get_by_text("Shared: also watched by 1 other session")).to_be_visible(timeout=WAIT_MS)
    assert _finished_marker(first).count() == 0, "the run ended before the test could stop it: make it longer"

    _button(first, "Stop").click()
    expect(first.get_by_text("You stopped watching this run. It keeps training because 1 other session watches it")
           ).to_be_visible(timeout=WAIT_MS)
    expect(_button(first, "Stop")).to_be_disabled(timeout=WAIT_MS)  # nothing left for this browser to stop
    # The other browser no longer shares it, and still sees it train. (While the caption goes, the live
    # view briefly shows its old progress bar, stale, beside the new one: wait for one.)
    expect(second.get_by_text("Shared: also watched by")).to_have_count(0, timeout=WAIT_MS)
    expect(second.get_by_text(PROGRESS)).to_have_count(1, timeout=WAIT_MS)

    # The run trains to its end for the browser still watching it.
    expect(_finished_marker(second)).to_be_visible(timeout=RUN_MS)
    expect(second.get_by_text(re.compile(r"Finished\s+in [\d.]+ s"))).to_be_visible(timeout=WAIT_MS)
    assert second.get_by_text("Stopped at step").count() == 0
    for page in (first, second):
        _no_exception(page)


# Long enough that it is still training after the reload: the test stops it.
RELOADED_RUN = "/train?algo=dqn&env_id=CartPole-v1&total_steps=100000&seed=5"


def test_a_reload_keeps_the_run_and_its_stop(app_url, browser):
    page = _open(browser, app_url + RELOADED_RUN)
    _button(page, "Train").click()
    expect(page.get_by_text(PROGRESS).first).to_be_visible(timeout=WAIT_MS)
    heading = page.locator("h4").first.inner_text()
    before = _wait_for(page, lambda: _curve_with(page, min_step=0), WAIT_MS / 1000, "the first points of the curve")
    sid = re.search(r"[?&](sid=[^&]+)", page.url).group(1)  # this browser's id: a reload keeps it

    page.reload(timeout=WAIT_MS)
    expect(page.get_by_text(PROGRESS).first).to_be_visible(timeout=WAIT_MS)
    assert sid in page.url, (sid, page.url)
    assert page.locator("h4").first.inner_text() == heading
    # The run's curve is back with what it had, then keeps growing. (Past 500 episodes the live curve
    # shows every k-th one, so the newest episode's step measures the growth, not only the count.)
    back = _wait_for(page, lambda: _curve_with(page, min_step=before["last_step"]), WAIT_MS / 1000,
                     f"the curve after the reload (before it: {before})")
    grown = _wait_for(page, lambda: _curve_with(page, min_step=back["last_step"] + 1), WAIT_MS / 1000,
                      f"the curve growing after the reload (at the reload: {back})")
    assert back["points"] >= min(before["points"], 250) and grown["points"] >= min(back["points"], 250), (
        before, back, grown)
    print(f"curve points: {before['points']} before the reload, {back['points']} after it, then {grown['points']}")

    stop = _button(page, "Stop")
    expect(stop).to_be_enabled(timeout=WAIT_MS)  # the reloaded browser still owns the run
    stop.click()
    expect(page.get_by_text(re.compile(r"Stopped at step [\d,]+ of 100,000"))).to_be_visible(timeout=RUN_MS)
    expect(_finished_marker(page)).to_have_count(0)
    _no_exception(page)


def test_bug_lab_asks_for_a_prediction_then_shows_the_pair_and_the_verdict(app_url, browser):
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    page.goto(app_url + "/bug_lab?bug=advantage_with_grad", timeout=WAIT_MS)
    expect(page.get_by_text("If A keeps its graph, the actor's loss also trains the critic")).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_text("advantages = minibatch.returns - values")).to_be_visible()  # the buggy line
    expect(page.get_by_text("advantages = minibatch.advantages")).to_be_visible()  # the correct one
    run = _button(page, "Run the pair")
    expect(run).to_be_disabled()  # a prediction comes first
    seeds = page.get_by_label("Seeds", exact=True).and_(page.get_by_test_id("stNumberInputField"))
    seeds.fill("1")
    seeds.press("Enter")
    expect(page.get_by_text("on seeds 0.")).to_be_visible(timeout=WAIT_MS)
    page.get_by_text("never learns", exact=True).click()
    expect(run).to_be_enabled(timeout=WAIT_MS)
    run.click()
    expect(page.get_by_text("You predicted")).to_be_visible(timeout=RUN_MS)
    expect(page.get_by_text("right.", exact=False).first).to_be_visible()
    expect(page.get_by_text("2 of 2 runs done")).to_be_visible()
    expect(page.locator(".stPlotlyChart")).to_have_count(2)  # the pair's curves and the diagnostic
    _no_exception(page)


def test_inside_the_agent_picks_a_checkpoint_by_clicking_the_curve_and_steps_through_its_episode(app_url, browser, tmp_path):
    from rlviz.config import make_config
    from rlviz.inside import run_checkpoints
    from rlviz.rundir import write_run, write_status
    from rlviz.trainer import train

    # A finished run in the server's runs directory, as the Train page leaves one (the server reads it on demand).
    config = make_config("a2c", "CartPole-v1", total_steps=60_000, seed=0, eval_episodes=0, stop_when_solved=False)
    run_dir = tmp_path / "runs" / config.run_hash()
    for _ in write_run(config, run_dir, train(config)):
        pass
    write_status(run_dir, state="finished", env_steps=config.total_steps, total_steps=config.total_steps)
    steps = [step for step, _ in run_checkpoints(run_dir)]

    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    page.goto(f"{app_url}/inside?run={config.run_hash()}", timeout=WAIT_MS)
    expect(page.get_by_text(f"Checkpoint at step {steps[-1]:,}")).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_text("s_0: the state at step 0")).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("img[src*='media']")).to_have_count(1)
    # Click the curve's diamond of the 6th checkpoint: the page picks that checkpoint.
    point = page.evaluate("""(index) => {
        const plot = document.querySelector('.stPlotlyChart .js-plotly-plot');
        const trace = plot._fullData.find(t => t.name === 'checkpoints');
        const xaxis = plot._fullLayout.xaxis, yaxis = plot._fullLayout.yaxis, box = plot.getBoundingClientRect();
        return {x: box.left + xaxis._offset + xaxis.l2p(trace.x[index]), y: box.top + yaxis._offset + yaxis.l2p(trace.y[index])};
    }""", 5)
    page.mouse.click(point["x"], point["y"])
    expect(page.get_by_text(f"Checkpoint at step {steps[5]:,}")).to_be_visible(timeout=WAIT_MS)
    # The step slider moves the frame and the numbers one step on.
    page.get_by_role("slider").nth(1).focus()
    page.keyboard.press("ArrowRight")
    expect(page.get_by_text("s_1: the state at step 1")).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_text("push right: pi = ")).to_be_visible()  # pi(a|s_1), one bar per action
    expect(page.locator(".stPlotlyChart")).to_have_count(3)  # the curve, the timeline and the maps
    # A click on the timeline's V(s_t) line at step 6 moves t there.
    point = page.evaluate("""() => {
        const plot = document.querySelectorAll('.stPlotlyChart .js-plotly-plot')[1];
        const trace = plot._fullData[0];
        const xaxis = plot._fullLayout.xaxis, yaxis = plot._fullLayout.yaxis, box = plot.getBoundingClientRect();
        return {x: box.left + xaxis._offset + xaxis.l2p(trace.x[6]), y: box.top + yaxis._offset + yaxis.l2p(trace.y[6])};
    }""")
    page.mouse.click(point["x"], point["y"])
    expect(page.get_by_text("s_6: the state at step 6")).to_be_visible(timeout=WAIT_MS)
    _no_exception(page)
