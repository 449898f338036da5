"""A class of ten on one server (issue 13): ten browsers press Train at once while an eleventh uses the app.

    python bench/load_class.py [--workers N] [--deadline 1800] [--students-elsewhere] [--students 10] [--one-run]

Starts `streamlit run app.py` on a free port with a fresh RLVIZ_RUNS_DIR (RLVIZ_MAX_WORKERS unset,
so one worker per core, unless --workers) and one Debian chromium driven by Playwright:

- ten browser contexts (ten students, each its own ?sid=) open the Train page from a link, each with
  another CartPole-v1 configuration (a2c 100k, td-ac 40k, nstep-ac 40k, dqn 20k, a2c-1step 20k steps,
  seeds 0 and 1), and press Train at the same moment;
- an eleventh context keeps switching pages through the sidebar (Home -> Train -> Runs) and moving
  the Train page's gamma slider, and times each action until the page shows what it should: the
  page's last element after a switch, the new gamma in the page's link (the URL the server writes)
  after the slider. It goes on until every run has finished and at least 40 actions were timed;
- meanwhile the server's process tree is sampled every 0.5 s (PSS and RSS from smaps_rollup) and the
  CPU time of the server, its workers and the browser side (chromium and Playwright's driver) is read.

With --one-run the ten students all open the same link instead, a 5M-step a2c run that stays a
near-random policy (learning rate 1e-5, entropy bonus 0.1, 64 envs: about 220k short episodes, as
a run that collapsed), so one run is watched by ten sessions while it writes a long history.

Reports, per student: the first state the page showed (training, or queued with its number), click
to first curve point, click to Finished, and whether the run directory is intact (summary.json, and
events.jsonl ending with a "finished" event); the observer's p50/p95 per action; peak PSS; wall time.
Every wait is bounded by --deadline (default 30 min from the server's start) and fails with a message
(and a screenshot in the run's temporary folder) when it passes.

All eleven pages draw on the server's own two cores, which no real class does: each student's
browser runs on their own machine. Linux schedules by session group first
(kernel.sched_autogroup_enabled = 1), and the workers run at group nice 10 so that the server comes
first; a chromium on the same box, in a group of its own at nice 0, then takes the cores from the
training. With --students-elsewhere the ten students' pages run in a chromium of their own whose
group is set to nice 19: it gets only the CPU that the server, the observer's chromium and the
workers leave, as if it ran elsewhere (their own waits then grow instead). The observer's chromium
keeps nice 0 either way.
Prints markdown. Needs playwright (Python) and /usr/bin/chromium; Linux (/proc).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import statistics
import sys
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from playwright.async_api import Page, async_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent))
from app_harness import (
    CHROMIUM,
    CHROMIUM_FLAGS,
    CURVE_POINTS_JS,
    AppServer,
    TreeSample,
    cmdline,
    cpu_seconds,
    descendants,
    is_worker,
    load_average,
    machine,
    markdown_table,
    mb,
    sample_tree,
)

CLASS = [(algo, steps, seed) for seed in (0, 1)
         for algo, steps in (("a2c", 100_000), ("td-ac", 40_000), ("nstep-ac", 40_000), ("dqn", 20_000),
                             ("a2c-1step", 20_000))]
# One long run with a long history, watched by every student (--one-run).
ONE_RUN = ("a2c", 5_000_000, 0)
ONE_RUN_SETTINGS = "&learning_rate=1e-05&ent_coef=0.1&n_envs=64&eval_episodes=0"
VIEWPORT = {"width": 1280, "height": 900}
SAMPLE_SECONDS = 0.5
MIN_ACTIONS = 40
ACTION_TIMEOUT_S = 60.0  # one action slower than this counts as failed (and is recorded at this value)
GOAL_P95_S = 1.0
FINISHED = re.compile(r"Finished in [\d.]+ s")
ENDED_BADLY = re.compile(r"Training failed|Diverged\.|was interrupted|files are damaged")
STARTED = re.compile(r"^Training.*env steps|^Starting|Finished in [\d.]+ s")
FIRST_STATE = re.compile(r"^Training.*env steps|^Starting|^Queued: |Finished in [\d.]+ s")

# What each page shows once it is drawn and usable: its last element (the script ran to the end) and,
# on Train, the gamma slider (on a first visit the sliders' code loads seconds after the rest is drawn).
PAGE_DONE = {
    "Home": lambda page: [page.locator("h3", has_text="The environments")],
    "Train": lambda page: [page.get_by_text("The reward curve appears here and grows"), gamma_slider(page)],
    "Runs": lambda page: [page.get_by_text(re.compile(r"No run yet|\d+ of \d+ runs shown"))],
}
GAMMA_IN_URL_JS = "() => new URLSearchParams(location.search).get('gamma')"


async def page_done(page: Page, title: str, timeout_ms: float) -> None:
    for locator in PAGE_DONE[title](page):
        await locator.first.wait_for(timeout=timeout_ms)


def nav_link(page: Page, title: str):
    """The sidebar's link to a page (its text is the icon's name then the title, e.g. 'play_circleTrain')."""
    return page.locator('[data-testid="stSidebarNavLink"]').filter(has_text=re.compile(rf"{title}\s*$"))


def gamma_slider(page: Page):
    return page.locator('input[type="range"][aria-label="Discount gamma"]')


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return self.end - time.monotonic()

    def ms(self) -> float:
        """Milliseconds left, for a Playwright timeout; raises once the deadline has passed."""
        left = self.end - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"the deadline of {self.seconds:.0f} s has passed")
        return left * 1000


@dataclass
class Student:
    index: int
    algo: str
    total_steps: int
    seed: int
    settings: str = ""  # more of the link's query string: "&name=value..."
    page: Page | None = None
    clicked: float = 0.0
    first_state: str = "-"
    first_state_s: float | None = None  # click to the page's first answer (queued, starting, training)
    started_s: float | None = None  # click to the page showing the run start (Starting or Training)
    first_point_s: float | None = None
    finished_s: float | None = None
    page_text: str = ""
    error: str = ""

    @property
    def link(self) -> str:
        return (f"train?algo={self.algo}&env_id=CartPole-v1&total_steps={self.total_steps}&seed={self.seed}"
                + self.settings)


@dataclass
class Monitor:
    server_pid: int
    samples: list[TreeSample] = field(default_factory=list)
    running: bool = True

    async def run(self) -> None:
        next_tick = time.monotonic()
        while self.running:
            self.samples.append(await asyncio.to_thread(sample_tree, self.server_pid))
            next_tick += SAMPLE_SECONDS
            await asyncio.sleep(max(0.0, next_tick - time.monotonic()))  # the sampling cadence


def cpu_by_group(server_pid: int) -> dict[str, float]:
    """CPU seconds so far of the server, its workers (with their ffmpeg children) and the browser side."""
    server_tree = {server_pid, *descendants(server_pid)}
    browser_side = [pid for pid in descendants(os.getpid()) if pid not in server_tree]
    return {
        "server": cpu_seconds(server_pid, with_children=False),
        "workers": sum(cpu_seconds(pid) for pid in server_tree if pid != server_pid and is_worker(pid)),
        "browser (chromium + Playwright driver)": sum(cpu_seconds(pid, with_children=False) for pid in browser_side),
    }


async def student_run(student: Student, deadline: Deadline, shots: Path) -> None:
    page = student.page
    try:
        first = page.get_by_text(FIRST_STATE).first
        await first.wait_for(timeout=deadline.ms())
        student.first_state_s = time.monotonic() - student.clicked
        text = (await first.inner_text(timeout=deadline.ms())).strip()
        queued = re.search(r"number (\d+) in the queue", text)
        student.first_state = (f"queued #{queued.group(1)}" if queued else "queued" if text.startswith("Queued")
                               else "starting" if text.startswith("Starting")
                               else "training" if text.startswith("Training") else "finished")
        if text.startswith("Queued"):
            await page.get_by_text(STARTED).first.wait_for(timeout=deadline.ms())
        student.started_s = time.monotonic() - student.clicked
        await page.wait_for_function(f"({CURVE_POINTS_JS})() > 0", polling=50, timeout=deadline.ms())
        student.first_point_s = time.monotonic() - student.clicked
        ended = page.get_by_text(FINISHED).or_(page.get_by_text(ENDED_BADLY)).first
        await ended.wait_for(timeout=deadline.ms())
        student.page_text = (await ended.inner_text(timeout=deadline.ms())).strip()
        if FINISHED.search(student.page_text):
            student.finished_s = time.monotonic() - student.clicked
        else:
            student.error = f"the page says: {student.page_text[:200]}"
    except Exception as error:  # noqa: BLE001 - recorded in the table, the others go on
        student.error = f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"
        shot = shots / f"student-{student.index:02d}.png"
        with contextlib.suppress(Exception):
            await page.screenshot(path=str(shot), full_page=True, timeout=30_000)
        print(f"student {student.index}: {student.error}; screenshot {shot}", file=sys.stderr)


@dataclass
class Action:
    kind: str
    seconds: float
    under_load: bool
    ok: bool


async def observe(page: Page, home_url: str, students_done: asyncio.Event, deadline: Deadline,
                  shots: Path) -> list[Action]:
    """Home -> Train -> (gamma slider) -> Runs, again and again, each action timed until the page shows its result.

    Ends once every student's run has ended and MIN_ACTIONS were timed, or at the deadline. A failed
    action is recorded (at ACTION_TIMEOUT_S), its screenshot saved, and the observer starts again from Home.
    """
    actions: list[Action] = []
    direction = "ArrowRight"
    cycle = ("Home", "Train", "slider", "Runs")
    step = 0
    while not (students_done.is_set() and len(actions) >= MIN_ACTIONS):
        if deadline.left() < 1:
            print(f"observer: the deadline has passed after {len(actions)} actions", file=sys.stderr)
            break
        kind = cycle[step % len(cycle)]
        step += 1
        under_load = not students_done.is_set()
        timeout = min(ACTION_TIMEOUT_S * 1000, deadline.ms())
        started = time.perf_counter()
        try:
            if kind == "slider":
                before = await page.evaluate(GAMMA_IN_URL_JS)
                slider = gamma_slider(page)
                await slider.focus(timeout=timeout)
                started = time.perf_counter()
                await slider.press(direction, timeout=timeout)
                await page.wait_for_function(f"(before) => ({GAMMA_IN_URL_JS})() !== before", arg=before,
                                             polling=10, timeout=timeout)
                direction = "ArrowLeft" if direction == "ArrowRight" else "ArrowRight"
            else:
                link = nav_link(page, kind)
                await link.wait_for(timeout=timeout)
                started = time.perf_counter()
                await link.click(timeout=timeout)
                await page_done(page, kind, timeout)
            actions.append(Action(kind, time.perf_counter() - started, under_load, True))
        except Exception as error:  # noqa: BLE001 - a failed action is a result; the next one starts afresh
            shot = shots / f"observer-{len(actions) + 1:03d}-{kind}.png"
            with contextlib.suppress(Exception):
                await page.screenshot(path=str(shot), full_page=True, timeout=30_000)
            print(f"observer: action {len(actions) + 1} ({kind}) failed after {time.perf_counter() - started:.1f} s: "
                  f"{type(error).__name__}: {str(error).splitlines()[0][:200]}; screenshot {shot}", file=sys.stderr)
            actions.append(Action(kind, ACTION_TIMEOUT_S, under_load, False))
            with contextlib.suppress(Exception):
                await page.goto(home_url, timeout=min(ACTION_TIMEOUT_S * 1000, deadline.ms()))
                await page_done(page, "Home", min(ACTION_TIMEOUT_S * 1000, deadline.ms()))
            step = 1  # on Home now (or trying again from there): Train comes next
    return actions


def chromium_sessions() -> set[int]:
    """The session ids of the chromium browsers running now (one per launch: each is a session leader)."""
    sessions = set()
    for pid in descendants(os.getpid()):
        with contextlib.suppress(OSError):
            if "chromium" in cmdline(pid) and os.getsid(pid) == pid:
                sessions.add(pid)
    return sessions


def lowest_priority_group(leader: int) -> None:
    """Set the scheduling group of ``leader``'s session (one chromium and all its processes) to nice 19."""
    Path(f"/proc/{leader}/autogroup").write_text("19")
    print(f"chromium session {leader}: {Path(f'/proc/{leader}/autogroup').read_text().strip()}", file=sys.stderr)


def check_run_dir(runs_dir: Path, student: Student) -> str:
    """'intact' when the run's directory has summary.json and events.jsonl ending with a finished event."""
    for config_path in runs_dir.glob("*/config.json"):
        try:
            config = json.loads(config_path.read_text())
        except (OSError, ValueError):
            continue
        if (config.get("algo"), config.get("env_id"), config.get("seed"), config.get("total_steps")) != (
                student.algo, "CartPole-v1", student.seed, student.total_steps):
            continue
        run_dir = config_path.parent
        problems = []
        if not (run_dir / "summary.json").is_file():
            problems.append("no summary.json")
        try:
            lines = (run_dir / "events.jsonl").read_text().strip().splitlines()
            last = json.loads(lines[-1]) if lines else {}
            if last.get("kind") != "finished":
                problems.append(f"events.jsonl ends with {last.get('kind')!r}")
            elif last.get("stopped") or last.get("diverged"):
                problems.append("finished event says stopped or diverged")
        except (OSError, ValueError) as error:
            problems.append(f"events.jsonl unreadable ({error})")
        try:
            state = json.loads((run_dir / "status.json").read_text()).get("state")
        except (OSError, ValueError):
            state = "?"
        if state != "finished":
            problems.append(f"status {state}")
        return "intact" if not problems else "; ".join(problems)
    return "NO run directory"


def episodes_written(runs_dir: Path) -> int:
    total = 0
    for path in runs_dir.glob("*/episodes.csv"):
        with path.open() as lines:
            total += sum(1 for _ in lines) - 1  # the header
    return total


def quantile(values: list[float], q: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


def action_rows(actions: list[Action]) -> list[list[object]]:
    rows = []
    groups = [("all actions", actions)]
    groups += [(f"  {kind}", [a for a in actions if a.kind == kind]) for kind in ("Home", "Train", "slider", "Runs")]
    for label, group in groups:
        for load_label, chosen in (("while runs trained", [a for a in group if a.under_load]),
                                   ("after", [a for a in group if not a.under_load])):
            if not chosen:
                continue
            seconds = [a.seconds for a in chosen]
            failed = sum(1 for a in chosen if not a.ok)
            p95 = quantile(seconds, 0.95)
            goal = f"**{'met' if p95 < GOAL_P95_S else 'NOT met'}**" if label == "all actions" else ""
            rows.append([label, load_label, len(chosen), failed, f"{quantile(seconds, 0.5):.2f}", f"{p95:.2f}",
                         f"{max(seconds):.2f}", goal])
    return rows


async def main_async(args: argparse.Namespace) -> int:
    wall_started = time.perf_counter()
    print(f"# load_class: {date.today()}, {machine()}; load average before: {load_average()}", file=sys.stderr)
    server = AppServer(workers=args.workers)
    deadline = Deadline(args.deadline)
    if args.one_run:
        students = [Student(index, *ONE_RUN, settings=ONE_RUN_SETTINGS) for index in range(1, args.students + 1)]
    else:
        students = [Student(index, algo, steps, seed)
                    for index, (algo, steps, seed) in enumerate(CLASS[:args.students], start=1)]
    monitor = Monitor(server.pid)
    monitor_task = None
    try:
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            students_browser = browser
            if args.students_elsewhere:
                before = chromium_sessions()
                students_browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
                (leader,) = chromium_sessions() - before
                lowest_priority_group(leader)
            for student in students:  # each student opens the link to their exercise
                student.page = await (await students_browser.new_context(viewport=VIEWPORT)).new_page()
                await student.page.goto(f"{server.url}/{student.link}", timeout=deadline.ms())
                await student.page.get_by_role("button", name="Train", exact=True).wait_for(timeout=deadline.ms())
                await page_done(student.page, "Train", deadline.ms())
            observer = await (await browser.new_context(viewport=VIEWPORT)).new_page()
            await observer.goto(server.url, timeout=deadline.ms())
            await page_done(observer, "Home", deadline.ms())
            await observer.wait_for_url(re.compile(r"[?&]sid="), timeout=deadline.ms())
            observer_home = f"{server.url}/?sid={re.search(r'[?&]sid=([A-Za-z0-9_-]+)', observer.url).group(1)}"

            monitor_task = asyncio.create_task(monitor.run())
            cpu_before, cpu_started = cpu_by_group(server.pid), time.monotonic()

            async def press(student: Student) -> None:
                await student.page.get_by_role("button", name="Train", exact=True).click(timeout=deadline.ms())
                student.clicked = time.monotonic()

            await asyncio.gather(*(press(student) for student in students))
            clicks_spread = max(s.clicked for s in students) - min(s.clicked for s in students)
            students_done = asyncio.Event()

            async def class_runs() -> None:
                await asyncio.gather(*(student_run(student, deadline, server.tmp) for student in students))
                students_done.set()

            class_task = asyncio.create_task(class_runs())
            actions = await observe(observer, observer_home, students_done, deadline, server.tmp)
            await class_task
            class_seconds = max((s.finished_s or 0.0) for s in students)
            cpu_seconds_used = time.monotonic() - cpu_started
            cpu_after = cpu_by_group(server.pid)
            monitor.running = False
            await monitor_task
            await browser.close()
            if students_browser is not browser:
                await students_browser.close()
    finally:
        monitor.running = False
        left_behind = server.close()

    # --- report ---------------------------------------------------------------------------------------
    verdicts = {student.index: check_run_dir(server.runs_dir, student) for student in students}
    student_table = markdown_table(
        ["student", "configuration", "first state shown (after)", "click to run start", "click to first curve point",
         "click to Finished",
         "the page at the end", "run directory"],
        [[s.index, f"{s.algo} {s.total_steps // 1000}k seed {s.seed}",
          f"{s.first_state} ({s.first_state_s:.1f} s)" if s.first_state_s is not None else s.first_state,
          f"{s.started_s:.1f} s" if s.started_s is not None else "-",
          f"{s.first_point_s:.2f} s" if s.first_point_s is not None else "-",
          f"{s.finished_s:.1f} s" if s.finished_s is not None else "-",
          s.page_text.replace("|", "/") or s.error, verdicts[s.index]] for s in students])
    first_points = [s.first_point_s for s in students if s.first_point_s is not None]
    peak = max(monitor.samples, key=lambda sample: sample.total_pss)
    server_peak = max(sample.server_pss for sample in monitor.samples)
    server_rss_peak = max(sample.server_rss for sample in monitor.samples)
    reached = sum(1 for s in students if s.finished_s is not None)
    intact = sum(1 for verdict in verdicts.values() if verdict == "intact")
    peak_text = (f"{mb(peak.total_pss)} (server {peak.server_pss:,.0f} + {peak.others_pss:,.0f} in "
                 f"{peak.processes} processes, {peak.workers} workers); RSS {mb(peak.total_rss)}")
    cpu = ", ".join(f"{group} {(cpu_after[group] - cpu_before[group]) / cpu_seconds_used:.0%}" for group in cpu_after)
    summary = markdown_table(["measure", "value", "goal"], [
        ["runs that reached Finished on their page", f"{reached} of {len(students)}", f"{len(students)} of {len(students)}"],
        ["run directories intact (summary.json, events.jsonl ends with finished)", f"{intact} of {len(students)}",
         f"{len(students)} of {len(students)}"],
        ["click to first curve point: min / median / max",
         f"{min(first_points):.2f} / {statistics.median(first_points):.2f} / {max(first_points):.2f} s"
         if first_points else "-", "-"],
        ["episodes in the run directories (episodes.csv rows)", f"{episodes_written(server.runs_dir):,}", "-"],
        ["spread of the clicks", f"{clicks_spread:.2f} s", "-"],
        ["clicks to the last run Finished (the class's wall time)", f"{class_seconds:.1f} s", "-"],
        ["server PSS, peak (RSS peak)", f"**{mb(server_peak)}** ({mb(server_rss_peak)})", "-"],
        ["server + workers PSS, peak", peak_text, "-"],
        ["CPU while the class trained (share of one core)", cpu, "-"],
        ["processes still alive 30 s after the server exited", "; ".join(left_behind) or "none", "none"],
        ["total wall time of the script (server start, page loads, the class, the report)",
         f"{time.perf_counter() - wall_started:.0f} s", "-"],
    ])
    observer_table = markdown_table(["observer action", "when", "n", "failed", "p50 (s)", "p95 (s)", "max (s)",
                                     f"p95 < {GOAL_P95_S:g} s"], action_rows(actions))
    print(f"{len(students)} students, {server_description(args)}; load average after: {load_average()}\n")
    print(student_table)
    print()
    print(summary)
    print()
    print(observer_table)
    return 0 if reached == intact == len(students) else 1


def server_description(args: argparse.Namespace) -> str:
    workers = f"RLVIZ_MAX_WORKERS={args.workers}" if args.workers else f"one worker per core ({os.cpu_count()})"
    nice = ", the students' pages in a chromium at group nice 19 (--students-elsewhere)" if args.students_elsewhere else ""
    one_run = ", all watching one run (--one-run)" if args.one_run else ""
    return f"{workers}{nice}{one_run}, deadline {args.deadline:.0f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=None, help="RLVIZ_MAX_WORKERS (default: unset, one per core)")
    parser.add_argument("--students", type=int, default=len(CLASS), help="how many of the ten (a quick check: fewer)")
    parser.add_argument("--students-elsewhere", action="store_true",
                        help="the ten students' pages in a chromium of their own at the lowest CPU priority, as if "
                             "their browsers ran on their own machines (see the module's docstring)")
    parser.add_argument("--one-run", action="store_true",
                        help="every student opens the same 5M-step run (a long history watched by all)")
    parser.add_argument("--deadline", type=float, default=1800.0, help="seconds before any wait counts as failed")
    args = parser.parse_args()
    sys.exit(asyncio.run(main_async(args)))


if __name__ == "__main__":
    main()
