"""The memory of the app's server and its training workers, against the Community Cloud budget (issue 13).

    python bench/measure_memory.py [--dqn-steps 300000]

Starts `streamlit run app.py` on a free port with a fresh RLVIZ_RUNS_DIR and drives it with Debian's
chromium through Playwright. Memory is PSS (proportional set size: shared pages split between the
processes that map them) from /proc/<pid>/smaps_rollup, summed over the server process and all its
descendants (training workers, multiprocessing's resource tracker, ffmpeg while a video encodes);
RSS beside it. Three states, in this order on one server:

(a) idle: one browser has opened Home, Train, Runs and Compare, no run yet (no worker should exist);
(b) one busy worker: that browser trains the a2c LunarLander preset (1M steps); PSS sampled every
    0.5 s for 30 s, then the run is stopped;
(c) two busy workers: two more browser contexts each train DQN on LunarLander-v3 (different seeds,
    --dqn-steps each, four videos per run encoded after training); sampled every 0.5 s until both
    pages show Finished. One of the two workers is the one (b) used.

Prints a markdown table. Needs playwright (Python) and /usr/bin/chromium; Linux (/proc).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent))
from app_harness import (
    CHROMIUM,
    CHROMIUM_FLAGS,
    AppServer,
    TreeSample,
    cpu_seconds,
    descendants,
    describe_tree,
    is_worker,
    load_average,
    machine,
    markdown_table,
    mb,
    sample_tree,
    torch_loaded,
)

GOALS_MB = {"a": 250, "b": 690, "c": 1100}  # (c): "1.1 GB", taken as 1,100 MB (1.1 GiB would be 1,126 MB)
SAMPLE_SECONDS = 0.5
VIEWPORT = {"width": 1400, "height": 1000}
FINISHED = re.compile(r"Finished in [\d.]+ s")
ENDED_BADLY = re.compile(r"Training failed|Diverged\.|was interrupted|files are damaged")

# What each page shows once its script has run to the end (the last element it draws).
PAGE_DONE = {
    "Home": lambda page: page.locator("h3", has_text="The environments"),
    "Train": lambda page: page.get_by_text("The reward curve appears here and grows"),
    "Runs": lambda page: page.get_by_text(re.compile(r"No run yet|\d+ of \d+ runs shown")),
    "Compare": lambda page: page.get_by_text("Start a ready-made comparison, or set up your configurations"),
}


def nav_link(page: Page, title: str):
    """The sidebar's link to a page (its text is the icon's name then the title, e.g. 'play_circleTrain')."""
    return page.locator('[data-testid="stSidebarNavLink"]').filter(has_text=re.compile(rf"{title}\s*$"))


def open_by_nav(page: Page, title: str, timeout_ms: float = 60_000) -> float:
    started = time.perf_counter()
    nav_link(page, title).click(timeout=timeout_ms)
    PAGE_DONE[title](page).first.wait_for(timeout=timeout_ms)
    return time.perf_counter() - started


def session_id(page: Page) -> str:
    page.wait_for_url(re.compile(r"[?&]sid="), timeout=30_000)
    return re.search(r"[?&]sid=([A-Za-z0-9_-]+)", page.url).group(1)


@dataclass
class Window:
    """Samples of one state."""

    samples: list[TreeSample] = field(default_factory=list)

    def add(self, server_pid: int) -> TreeSample:
        sample = sample_tree(server_pid)
        self.samples.append(sample)
        return sample

    @property
    def peak(self) -> TreeSample:
        return max(self.samples, key=lambda sample: sample.total_pss)

    def row(self, label: str, goal_key: str | None, note: str) -> list[object]:
        peak = self.peak
        server_max = max(sample.server_pss for sample in self.samples)
        others_max = max(sample.others_pss for sample in self.samples)
        rss_max = max(sample.total_rss for sample in self.samples)
        goal = GOALS_MB.get(goal_key) if goal_key else None
        verdict = "-" if goal is None else f"<= {goal:,} MB: **{'met' if peak.total_pss <= goal else 'NOT met'}**"
        below = f"{mb(others_max)} ({peak.processes} processes, {peak.workers} workers)"
        total = f"**{mb(peak.total_pss)}** (server {peak.server_pss:,.0f} + {peak.others_pss:,.0f})"
        return [label, f"{len(self.samples)}", mb(server_max), below, total,
                f"{mb(peak.total_rss)} (max {rss_max:,.0f})", verdict, note]


def sample_for(server_pid: int, seconds: float) -> Window:
    window = Window()
    next_tick = time.monotonic()
    end = next_tick + seconds
    while next_tick <= end:
        window.add(server_pid)
        next_tick += SAMPLE_SECONDS
        time.sleep(max(0.0, next_tick - time.monotonic()))  # the sampling cadence, not a wait for the page
    return window


def click_train(page: Page) -> None:
    button = page.get_by_role("button", name="Train", exact=True)
    button.wait_for(timeout=60_000)
    button.click()


def run_dir_of(runs_dir: Path, **wanted: object) -> Path | None:
    for config in runs_dir.glob("*/config.json"):
        try:
            data = json.loads(config.read_text())
        except (OSError, ValueError):
            continue
        if all(data.get(name) == value for name, value in wanted.items()):
            return config.parent
    return None


def read_json(run_dir: Path | None, name: str) -> dict:
    try:
        return json.loads((run_dir / name).read_text()) if run_dir is not None else {}
    except (OSError, ValueError):
        return {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dqn-steps", type=int, default=300_000, help="total_steps of each DQN LunarLander run in (c)")
    parser.add_argument("--busy-seconds", type=float, default=30.0, help="sampling window of (b)")
    parser.add_argument("--deadline", type=float, default=900.0, help="seconds (c) may take before it counts as failed")
    args = parser.parse_args()

    started = time.perf_counter()
    print(f"# measure_memory: {date.today()}, {machine()}; load average before: {load_average()}", file=sys.stderr)
    server = AppServer()
    rows: list[list[object]] = []
    notes: list[str] = []
    try:
        fresh = sample_for(server.pid, 2.0)
        rows.append(fresh.row("server just started, no browser yet", None, f"{fresh.peak.processes} processes below it"))
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)

            # (a) one browser opens Home, Train, Runs and Compare; no run.
            student = browser.new_context(viewport=VIEWPORT).new_page()
            student.goto(server.url, timeout=60_000)
            PAGE_DONE["Home"](student).first.wait_for(timeout=60_000)
            sid = session_id(student)
            page_times = {title: open_by_nav(student, title) for title in ("Train", "Runs", "Compare")}
            idle = sample_for(server.pid, 5.0)
            idle_tree = describe_tree(server.pid)
            torch_idle = torch_loaded(server.pid)
            rows.append(idle.row("(a) idle: Home, Train, Runs and Compare opened, no run", "a",
                                 f"{idle.peak.processes} processes below the server"
                                 + (f": {'; '.join(idle_tree)}" if idle_tree else " (no worker, as designed)")
                                 + f"; torch {'LOADED' if torch_idle else 'not loaded'} in the server"))
            print("page switches (a): " + ", ".join(f"{title} {seconds:.2f} s" for title, seconds in page_times.items()),
                  file=sys.stderr)

            # (b) the same browser trains the a2c LunarLander preset (1M steps).
            student.goto(f"{server.url}/train?sid={sid}&algo=a2c&env_id=LunarLander-v3&total_steps=1000000&seed=11",
                         timeout=60_000)
            click_train(student)
            # Busy: the progress bar counts steps (before the worker's first episode it shows 0).
            student.get_by_text(re.compile(r"^Training.*: [1-9][\d,]* / [\d,]+ env steps")).first.wait_for(timeout=120_000)
            workers = [pid for pid in descendants(server.pid) if is_worker(pid)]
            cpu_before = {pid: cpu_seconds(pid) for pid in workers}
            busy_started = time.monotonic()
            busy = sample_for(server.pid, args.busy_seconds)
            elapsed = time.monotonic() - busy_started
            worker_cpu = ", ".join(f"{(cpu_seconds(pid) - cpu_before[pid]) / elapsed:.0%}" for pid in workers)
            status = read_json(run_dir_of(server.runs_dir, algo="a2c", seed=11), "status.json")
            rows.append(busy.row("(b) one busy worker: a2c LunarLander-v3, 1M steps", "b",
                                 f"{len(workers)} worker(s), CPU {worker_cpu} of a core over {elapsed:.0f} s; "
                                 f"{status.get('env_steps', 0):,} steps done at the end of the window"))
            stop_clicked = time.perf_counter()
            student.get_by_role("button", name="Stop", exact=True).click()
            student.get_by_text("Stopped at step").first.wait_for(timeout=args.deadline * 1000)
            notes.append(f"(b) Stop clicked to the page showing 'Stopped at step': {time.perf_counter() - stop_clicked:.1f} s "
                         f"(a stopped run still records its videos before its final status)")

            # (c) two more browsers train DQN on LunarLander-v3 (videos after training), both workers busy.
            pages, seeds = [], (21, 22)
            for seed in seeds:
                page = browser.new_context(viewport=VIEWPORT).new_page()
                page.goto(f"{server.url}/train?algo=dqn&env_id=LunarLander-v3&total_steps={args.dqn_steps}&seed={seed}",
                          timeout=60_000)
                page.get_by_role("button", name="Train", exact=True).wait_for(timeout=60_000)
                pages.append(page)
            clicked = time.monotonic()
            for page in pages:
                click_train(page)
            for page in pages:  # the run is submitted once the page shows it
                page.get_by_text(re.compile(r"^Training.*env steps|^Starting|^Queued: ")).first.wait_for(timeout=120_000)
            dqn_dirs = [run_dir_of(server.runs_dir, algo="dqn", seed=seed) for seed in seeds]
            if None in dqn_dirs:
                raise RuntimeError(f"(c) a DQN run directory is missing after the clicks: {dqn_dirs}")
            two = Window()
            phases: list[str] = []
            finished_after: dict[int, float] = {}
            next_tick = time.monotonic()
            while len(finished_after) < len(pages):
                two.add(server.pid)
                videos = sum(len(list((run_dir / "videos").glob("*.mp4"))) for run_dir in dqn_dirs)
                phases.append("videos" if videos else "training")
                for index, page in enumerate(pages):
                    if index in finished_after:
                        continue
                    if page.get_by_text(FINISHED).count():
                        finished_after[index] = time.monotonic() - clicked
                    elif page.get_by_text(ENDED_BADLY).count():
                        raise RuntimeError(f"(c) run of seed {seeds[index]} ended badly: "
                                           f"{page.get_by_text(ENDED_BADLY).first.inner_text()}")
                if time.monotonic() - clicked > args.deadline:
                    raise RuntimeError(f"(c) not finished after {args.deadline:.0f} s: {len(finished_after)} of 2 done")
                next_tick += SAMPLE_SECONDS
                time.sleep(max(0.0, next_tick - time.monotonic()))  # the sampling cadence
            training = [s for s, phase in zip(two.samples, phases) if phase == "training"]
            encoding = [s for s, phase in zip(two.samples, phases) if phase == "videos"]
            peak_phase = phases[two.samples.index(two.peak)]
            wall = [page.get_by_text(FINISHED).first.inner_text() for page in pages]
            rows.append(two.row(f"(c) two busy workers: DQN LunarLander-v3, {args.dqn_steps:,} steps, seeds "
                                f"{seeds[0]} and {seeds[1]}, 4 videos each", "c",
                                f"peak while {'encoding videos' if peak_phase == 'videos' else 'both trained'}; "
                                f"peak while training {mb(max(s.total_pss for s in training)) if training else '-'}, "
                                f"while encoding {mb(max(s.total_pss for s in encoding)) if encoding else '-'}; "
                                f"pages: {'; '.join(text.strip() for text in wall)}; both done "
                                f"{max(finished_after.values()):.0f} s after the clicks"))
            torch_end = torch_loaded(server.pid)
            notes.append(f"torch in the server process (/proc/{server.pid}/maps has libtorch): "
                         f"{'YES' if torch_end or torch_idle else 'no'} (idle: {'yes' if torch_idle else 'no'}, "
                         f"after (c): {'yes' if torch_end else 'no'})")
            notes.append(f"processes below the server after (c): {'; '.join(describe_tree(server.pid))}")
            browser.close()
    finally:
        left_behind = server.close()
    notes.append("processes still alive 30 s after the server exited: "
                 + ("; ".join(left_behind) if left_behind else "none"))

    header = ["state", "samples", "server PSS, max", "below the server PSS, max", "total PSS, peak",
              "total RSS at the PSS peak", "goal (PSS)", "notes"]
    table = markdown_table(header, rows)
    print(table)
    print()
    for note in notes:
        print(f"- {note}")
    print(f"- sampling every {SAMPLE_SECONDS} s; MB = 2^20 bytes; total wall time {time.perf_counter() - started:.0f} s; "
          f"load average after: {load_average()}")


if __name__ == "__main__":
    main()
