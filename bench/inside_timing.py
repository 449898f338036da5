"""How fast the Inside the agent page answers, in a real browser (Debian's chromium via Playwright).

    python bench/inside_timing.py http://127.0.0.1:8501 RUN_ID [--repeats 5]

For the run: moves the checkpoint slider one checkpoint back (keyboard) and times until its episode
shows (the new "Checkpoint at step ..." line, the frame of the new episode loaded, Streamlit's script
run over and the browser painted); then moves the step slider one step on (back, at the episode's end) and times the same until
the new frame and its numbers and charts are drawn. Start a fresh server first: a checkpoint seen
before comes from the cache. Prints each time, then the median and max.
"""

from __future__ import annotations

import argparse
import statistics
import time

from playwright.sync_api import sync_playwright

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
IDLE = """() => document.querySelector('[data-testid="stApp"]')?.getAttribute('data-test-script-state') === 'notRunning'"""
PAINTED = """() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(() => done(true))))"""


def wait_until(page, script: str, arg=None, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not page.evaluate(script, arg):
        if time.monotonic() > deadline:
            page.screenshot(path="/tmp/inside_timing_timeout.png", full_page=True)
            raise TimeoutError(f"{script} (arg {arg!r}); the page is in /tmp/inside_timing_timeout.png")
        time.sleep(0.005)


def caption_of_frame(page) -> str:
    return page.evaluate("""() => { const c = document.querySelector('[data-testid="stImageCaption"]');
                                     return c ? c.innerText : ''; }""")


def settled(page) -> None:
    """Streamlit's script run is over, every image has loaded and the browser has painted."""
    wait_until(page, IDLE)
    wait_until(page, "() => [...document.images].every(img => img.complete && img.naturalWidth > 0)")
    page.evaluate(PAINTED)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url")
    parser.add_argument("run_id")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1400})
        page.set_default_timeout(180_000)
        page.goto(f"{args.url}/inside?run={args.run_id}")
        page.get_by_text("Checkpoint at step").first.wait_for()
        time.sleep(3)
        settled(page)
        checkpoint_times, step_times = [], []
        for _ in range(args.repeats):
            before = page.locator("p", has_text="Checkpoint at step").first.inner_text()
            page.get_by_role("slider").nth(0).focus()
            start = time.perf_counter()
            page.keyboard.press("ArrowLeft")
            # Shown: a new checkpoint line, and the frame's caption of that checkpoint's episode ("... of N").
            wait_until(page, """(before) => {
                const line = [...document.querySelectorAll('p')].find(e => e.innerText.startsWith('Checkpoint at step'));
                const caption = document.querySelector('[data-testid="stImageCaption"]');
                if (!line || !caption || line.innerText === before) return false;
                const length = line.innerText.split(' lasted ')[1].split(' ')[0];
                return caption.innerText.endsWith(' of ' + length);
            }""", before)
            settled(page)
            checkpoint_times.append(time.perf_counter() - start)
            frame_before = caption_of_frame(page)  # "s_7: the state at step 7 of 183"
            t, length = int(frame_before.split(":")[0][2:]), int(frame_before.rsplit(" ", 1)[1])
            page.get_by_role("slider").nth(1).focus()
            start = time.perf_counter()
            page.keyboard.press("ArrowRight" if t < length - 1 else "ArrowLeft")  # one step, within the episode
            wait_until(page, """(before) => { const c = document.querySelector('[data-testid="stImageCaption"]');
                                              return c && c.innerText !== before; }""", frame_before)
            settled(page)
            step_times.append(time.perf_counter() - start)
            print(f"checkpoint {checkpoint_times[-1]:.2f} s ({page.get_by_text('Checkpoint at step').first.inner_text()[:40]}), "
                  f"step {step_times[-1]:.3f} s ({caption_of_frame(page)})", flush=True)
        browser.close()
    for name, times in (("select a checkpoint", checkpoint_times), ("move the step slider", step_times)):
        print(f"{name}: median {statistics.median(times):.3f} s, max {max(times):.3f} s over {len(times)}")


if __name__ == "__main__":
    main()
