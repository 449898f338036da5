"""The Bug lab page's Streamlit parts: pick a bug, read its line, predict, run the pair, read the diagnostic.

The bugs, their lines and their setups live in rlviz.bugs; the paired runs go through the Compare
page's machinery (rlviz.ui.compare_form), each bug's comparison under its own session key, so a
student can run one bug, look at another and come back to the first.
"""

from __future__ import annotations

import streamlit as st

from rlviz.bugs import BUG_NAMES, BUGS, PREDICTIONS, Bug, CodeLine, lab_pair
from rlviz.compare import MAX_SEEDS, aggregate_curves, metric_curve
from rlviz.config import ALGOS, format_value
from rlviz.feeds import feed
from rlviz.plots import compare_figure, metric_label
from rlviz.ui.compare_form import (Comparison, Display, comparison_runs, comparison_view, current_comparison,
                                   is_running, start_comparison, stop_comparison)
from rlviz.estimate import comparison_time_note
from rlviz.ui.store import get_store

CHOICE_KEY = "bug:choice"
LABELS = ("correct", "with the bug")
DISPLAY = Display(band="ci", window=20, axis="env_step", show_seeds=False)


def comparison_key(bug: Bug) -> str:
    return f"bug_lab:{bug.name}"


def pick_bug() -> Bug:
    """The bug picker; the choice stays for the session and in the URL (?bug=name), so a link opens a bug."""
    linked = st.query_params.get("bug")
    if linked in BUGS and CHOICE_KEY not in st.session_state:
        st.session_state[CHOICE_KEY] = linked
    name = st.selectbox("Pick a bug", BUG_NAMES, key=CHOICE_KEY, persist_state="session",
                        format_func=lambda key: f"{BUGS[key].title}  ({key})",
                        help="Each one is a switch in the real agents: the same code that trains every other run, "
                             "with one line changed.")
    if st.query_params.get("bug") != name:
        st.query_params["bug"] = name
    return BUGS[name]


def _code(line: CodeLine, title: str, kind: str) -> None:
    number = line.line_number()
    where = f"`{line.path}`, line {number}" if number else f"`{line.path}`"
    st.markdown(f"**{title}**")
    st.code(line.text, language="python", wrap_lines=True)
    st.caption(f"{where} ({kind})")


def describe(bug: Bug) -> None:
    """What the bug does, where it was seen, and its line next to the correct one, read from the source."""
    st.markdown(bug.what)
    st.caption(f"Seen in: {bug.seen_in}")
    right, wrong = st.columns(2)
    with right:
        _code(bug.right, ":green[:material/check_circle: Correct]", "what every run trains with")
    with wrong:
        _code(bug.wrong, ":red[:material/bug_report: With the bug]",
              f"runs only when the config's bugs include {bug.name}")


def setup_text(bug: Bug, seeds: list[int]) -> str:
    correct, _ = lab_pair(bug.name)
    info = ALGOS[correct.algo]
    return (f"**The pair**: {info.display_name} on {correct.env_id}, its preset with "
            f"{format_value('total_steps', correct.total_steps)} env steps and stop-when-solved off (so both train "
            f"equally long), once correct and once with the bug, on seeds {', '.join(map(str, seeds))}.")


def seeds_input(bug: Bug) -> list[int]:
    count = st.number_input("Seeds", min_value=1, max_value=MAX_SEEDS, value=bug.lab.seeds, step=1,
                            key=f"bug:seeds:{bug.name}",
                            help="Both variants train with the same seeds (0, 1, 2, ...): a paired comparison, so "
                                 "a difference is the bug's, not luck's.")
    return list(range(int(count)))


def predict(bug: Bug) -> str | None:
    return st.radio("Before you run it: what will this bug do to the reward curve?", PREDICTIONS, index=None,
                    key=f"bug:prediction:{bug.name}", horizontal=True,
                    help="Commit to a guess first: a prediction that turns out wrong is the one you remember.")


def run_controls(bug: Bug, seeds: list[int], prediction: str | None) -> Comparison | None:
    """Run and Stop buttons with the time it takes; returns this bug's comparison (started now or before)."""
    key = comparison_key(bug)
    comparison = current_comparison(key)
    configs = list(lab_pair(bug.name))
    run_column, stop_column, note_column = st.columns([1, 1, 4], vertical_alignment="center")
    if run_column.button("Run the pair", type="primary", icon=":material/play_arrow:", disabled=prediction is None,
                         width="stretch", key=f"bug:run:{bug.name}",
                         help="Pick a prediction first." if prediction is None else
                         "Trains both variants on every seed; runs trained before come back from the cache."):
        comparison = start_comparison(list(LABELS), configs, seeds, key=key)
    if stop_column.button("Stop", icon=":material/stop:", disabled=not is_running(comparison, key), width="stretch",
                          key=f"bug:stop:{bug.name}", help="Stop the pair's runs that are still queued or training."):
        stop_comparison(comparison, key)
        st.toast("Stopping: queued runs will not start, running ones stop after their current episode.")
    note_column.caption(comparison_time_note(get_store(), comparison_runs(configs, seeds)))
    return comparison


def results(bug: Bug, comparison: Comparison, prediction: str | None) -> None:
    """The mean curves and table of the pair, the verdict once every run is done, then the diagnostic
    (live too, while the runs train)."""
    def below_the_table(comparison: Comparison, live: bool) -> None:
        if not live:
            _verdict(bug, prediction)
        _diagnostic(bug, comparison)

    comparison_view(comparison, DISPLAY, key=comparison_key(bug), extra=below_the_table)


def _verdict(bug: Bug, prediction: str | None) -> None:
    verdict = f"In this lab, measured over 3 seeds: **{bug.outcome}**. {bug.outcome_note}"
    if prediction is None:
        st.info(verdict, icon=":material/science:")
    elif prediction == bug.outcome:
        st.success(f"You predicted **{prediction}**: right. {verdict}", icon=":material/check_circle:")
    else:
        st.warning(f"You predicted **{prediction}**. {verdict}", icon=":material/help:")


def _diagnostic(bug: Bug, comparison: Comparison) -> None:
    diagnostic = bug.diagnostic
    correct, _ = lab_pair(bug.name)
    scale = getattr(correct, "reward_scale", 1.0)  # only actor-critics scale rewards
    store = get_store()
    curves = [[metric_curve(feed(store.run_dir(run_id)).update_table(), diagnostic.metric, scale)
               for run_id in ids] for ids in comparison.run_ids]
    st.subheader(f"The diagnostic: {diagnostic.title}")
    aggregated = aggregate_curves(list(comparison.labels), curves, "env_step", window=1, band=DISPLAY.band)
    figure = compare_figure(aggregated, list(comparison.labels), {}, "environment steps",
                            y_title=f"{metric_label(diagnostic.metric, scale)}, mean over seeds",
                            x_range=(0, max(comparison.total_steps)), height=340, y_log=diagnostic.log_scale)
    st.plotly_chart(figure, width="stretch", key=f"bug:diagnostic:{bug.name}")
    st.markdown(diagnostic.read)


def how_to_spot(bug: Bug) -> None:
    st.subheader("How to spot it in your own code")
    st.markdown(bug.spot)
    st.caption("Any run can carry a bug: on the Train and Compare pages, open Hyperparameters and pick it under "
               "**Bugs (on purpose)**, with any other setting.")
