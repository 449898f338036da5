"""Measure what a student waits for in the app, in a real browser (Debian chromium + Playwright).

    python bench/measure_app.py

Prints: cold start to first page, click to first curve point, redraw rate of the live curve,
the training speed of runs watched live in the app against the same runs on the command line
(the short a2c CartPole preset and the long a2c LunarLander one),
and the memory of the server plus its worker processes while two runs train at once.
Needs bench/requirements.txt.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
CURVE_POINTS_JS = """() => {
    const plot = document.querySelector('.stPlotlyChart .js-plotly-plot');
    if (!plot || !plot._fullData || !plot._fullData.length) return 0;
    const trace = plot._fullData[plot._fullData.length - 1];
    return trace._length || (trace.x ? trace.x.length : 0);
}"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tree_rss_mb(process: psutil.Process) -> float:
    processes = [process, *process.children(recursive=True)]
    return sum(p.memory_info().rss for p in processes if p.is_running()) / 2**20


def cli_steps_per_second(algo: str, env_id: str, seed: int = 0) -> float:
    """The same run as the app's default form for ``algo`` on ``env_id`` (preset, videos), on the command line."""
    out_dir = Path(tempfile.mkdtemp(prefix="rlviz-cli-")) / algo
    subprocess.run([sys.executable, "-m", "rlviz", "train", "--algo", algo, "--env", env_id, "--seed", str(seed), "--video",
                    "--out", str(out_dir)], cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return json.loads((out_dir / "summary.json").read_text())["steps_per_second"]


def app_steps_per_second(runs_dir: Path, algo: str, env_id: str, seed: int = 0) -> float:
    """Steps/s of the app's run of ``algo`` on ``env_id``, once it has finished (its page keeps polling it meanwhile)."""
    while True:
        for summary in runs_dir.glob("*/summary.json"):
            data = json.loads(summary.read_text())
            if (data["algo"], data["env_id"], data["seed"]) == (algo, env_id, seed):
                return data["steps_per_second"]
        time.sleep(1)


def report_live_cost(runs_dir: Path, algo: str, env_id: str) -> None:
    app = app_steps_per_second(runs_dir, algo, env_id)
    cli = cli_steps_per_second(algo, env_id)
    print(f"{algo} {env_id} preset, steps/s: app with the live curve {app:,.0f}, command line {cli:,.0f} "
          f"(app = {app / cli:.0%} of the command line)", flush=True)


def report_steady_live_cost(page: Page, runs_dir: Path, algo: str, env_id: str) -> None:
    """The a2c LunarLander preset (1M steps) watched live against the command line, in the order app, CLI, CLI, app
    (seeds 0, 0, 1, 1): this machine's speed drifts by 10-30% over minutes, and the mirrored order cancels a steady drift."""
    app = [app_steps_per_second(runs_dir, algo, env_id, seed=0)]
    cli = [cli_steps_per_second(algo, env_id, seed=0), cli_steps_per_second(algo, env_id, seed=1)]
    seed_box = page.get_by_role("spinbutton", name="Seed")
    seed_box.fill("1")
    seed_box.press("Enter")
    time.sleep(1)
    page.get_by_role("button", name="Train", exact=True).click()
    app.append(app_steps_per_second(runs_dir, algo, env_id, seed=1))
    print(f"{algo} {env_id} preset, steps/s: app with the live curve {app[0]:,.0f} then {app[1]:,.0f}, "
          f"command line {cli[0]:,.0f} then {cli[1]:,.0f} (app = {sum(app) / sum(cli):.0%} of the command line)", flush=True)


def main() -> None:
    port = free_port()
    runs_dir = tempfile.mkdtemp(prefix="rlviz-measure-")
    url = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port)],
                              cwd=ROOT, env={**os.environ, "RLVIZ_RUNS_DIR": runs_dir},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_FLAGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1600})
            while True:
                try:
                    page.goto(url)
                    break
                except Exception:
                    time.sleep(0.2)
            page.get_by_text("deep reinforcement learning you can watch").first.wait_for(timeout=60_000)
            print(f"cold start to first page: {time.perf_counter() - started:.2f} s")

            page.goto(f"{url}/train")
            page.get_by_role("button", name="Train", exact=True).wait_for()
            time.sleep(3)  # let the warm-up of the workers finish, as it does while a student reads the page
            clicked = time.perf_counter()
            page.get_by_role("button", name="Train", exact=True).click()
            while page.evaluate(CURVE_POINTS_JS) == 0:
                time.sleep(0.02)
            print(f"click to first curve point: {time.perf_counter() - clicked:.2f} s")

            changes, last, window_start = 0, None, time.perf_counter()
            while time.perf_counter() - window_start < 5:
                points = page.evaluate(CURVE_POINTS_JS)
                if points != last:
                    changes, last = changes + 1, points
                time.sleep(0.02)
            print(f"curve redraws while training: {changes / 5:.1f} per second")

            # The live view's cost: a run watched live until it ends, against the same run on the command
            # line. The default a2c preset lasts a few seconds, so the click's own rerun weighs on it; the
            # a2c LunarLander preset (1M steps) shows the steady polling cost.
            report_live_cost(Path(runs_dir), "a2c", "CartPole-v1")
            page.get_by_role("combobox", name="Environment").click()
            page.get_by_role("option", name="LunarLander-v3").click()
            page.get_by_role("button", name="Train", exact=True).click()
            report_steady_live_cost(page, Path(runs_dir), "a2c", "LunarLander-v3")

            # Two sessions start long runs (N-step and TD actor-critic): both workers busy.
            for algorithm in ("N-step Actor-Critic", "TD Actor-Critic"):
                session = browser.new_page(viewport={"width": 1400, "height": 1600})
                session.goto(f"{url}/train")
                session.get_by_role("combobox", name="Algorithm").click()
                session.get_by_role("option", name=algorithm).click()
                session.get_by_role("button", name="Train", exact=True).click()
                session.get_by_text("Training:").first.wait_for(timeout=30_000)
            server_process = psutil.Process(server.pid)
            workers = [c for c in server_process.children(recursive=True) if "spawn_main" in " ".join(c.cmdline())]
            for worker in workers:
                worker.cpu_percent()
            peak = 0.0
            for _ in range(10):
                time.sleep(1)
                peak = max(peak, tree_rss_mb(server_process))
            busy = [worker for worker in workers if worker.cpu_percent() > 20]  # a share of a loaded core still counts
            print(f"busy workers: {len(busy)} of {len(workers)}; peak memory of server + workers: {peak:.0f} MB")
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=20)


if __name__ == "__main__":
    main()
