"""The Compare page's Streamlit parts: configuration slots, seeds, starting a comparison and its live view.

The statistics live in rlviz.compare and the figure in rlviz.plots; this module only arranges
widgets and keeps the page's state in ``st.session_state``:
    compare_slots       the configurations being edited (list of Slot)
    comparison          the comparison last started (Comparison): its labels, seeds and run ids
Widget keys start with "cmp:"; a slot's widgets carry the slot's id (not its position), so
removing a slot does not shift the values of the ones after it.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Callable

import streamlit as st

from rlviz.compare import (BANDS, MAX_CONFIGS, MAX_SEEDS, MIN_CONFIGS, X_AXES, EpisodeCurve, ReadyMade,
                           aggregate_curves, config_labels, episodes_csv, feed_curve, format_summary_table,
                           mean_curves_csv, read_curve, same_settings, seed_curves, summary_table)
from rlviz.config import ALGOS, Config, ConfigError, config_from_dict, make_config, run_label
from rlviz.envs import ENVS, env_info
from rlviz.estimate import comparison_time_note
from rlviz.plots import compare_figure
from rlviz.feeds import feed
from rlviz.runs import QueueFull, RunStatus, RunStoreError
from rlviz.ui.config_form import bugs_widget, field_widget
from rlviz.ui.store import get_store, session_id

POLL_SECONDS = 1.0
SLOT_COLORS = ("blue", "orange", "green", "violet", "red")  # Streamlit's names for plots.COMPARE_COLORS
SLOTS_KEY = "compare_slots"
COMPARISON_KEY = "comparison"
_NEXT_ID_KEY = "compare_next_slot_id"
_PAGE_FIELDS = ("seed",)  # set once for the whole comparison, not per configuration
_AXIS_BUTTONS = {"env_step": "env steps", "wall_seconds": "wall seconds"}


@dataclass
class Slot:
    """One configuration being edited: ``overrides`` on top of the preset of ``algo`` on ``env_id``.

    ``label`` names it in the legend as long as its settings equal ``labelled`` (a ready-made
    comparison's names); once the student changes a slider, an automatic label takes over.
    """

    id: int
    algo: str
    env_id: str
    overrides: dict[str, Any] = field(default_factory=dict)
    label: str = ""
    labelled: dict[str, Any] | None = None

    def start_config(self, algo: str, env_id: str) -> Config:
        """Where this slot's sliders start: its own settings, or the preset after a switch of algo or env."""
        if (algo, env_id) == (self.algo, self.env_id):
            return make_config(algo, env_id, **self.overrides)
        return make_config(algo, env_id)


@dataclass(frozen=True)
class Comparison:
    """A started comparison: ``run_ids[c][s]`` is configuration c with ``seeds[s]``."""

    labels: tuple[str, ...]
    env_ids: tuple[str, ...]
    seeds: tuple[int, ...]
    run_ids: tuple[tuple[str, ...], ...]
    total_steps: tuple[int, ...]  # each configuration's budget
    cached: int  # how many runs came back from the cache when it started


@dataclass(frozen=True)
class Display:
    band: str  # a key of rlviz.compare.BANDS
    window: int  # moving-average window, in episodes
    axis: str  # a key of rlviz.compare.X_AXES
    show_seeds: bool


# --- slots ----------------------------------------------------------------------------------------

def _new_slot_id() -> int:
    slot_id = st.session_state.get(_NEXT_ID_KEY, 0)
    st.session_state[_NEXT_ID_KEY] = slot_id + 1
    return slot_id


def slots() -> list[Slot]:
    """The configurations being edited; a new session starts with DQN against A2C on CartPole."""
    if SLOTS_KEY not in st.session_state:
        st.session_state[SLOTS_KEY] = [Slot(_new_slot_id(), "dqn", "CartPole-v1"),
                                       Slot(_new_slot_id(), "a2c", "CartPole-v1")]
    return st.session_state[SLOTS_KEY]


def add_slot(algo: str = "a2c", env_id: str = "CartPole-v1", overrides: dict[str, Any] | None = None,
             label: str = "") -> None:
    current = slots()
    if len(current) >= MAX_CONFIGS:
        return
    slot = Slot(_new_slot_id(), algo, env_id, dict(overrides or {}))
    if label:
        slot.label, slot.labelled = label, make_config(algo, env_id, **slot.overrides).to_dict()
    current.append(slot)


def remove_slot(slot_id: int) -> None:
    st.session_state[SLOTS_KEY] = [slot for slot in slots() if slot.id != slot_id]


def add_run(run_id: str) -> None:
    """A slot with the settings of a trained run (its seed is replaced by the comparison's)."""
    config = get_store().config(run_id)
    overrides = {name: value for name, value in config.to_dict().items() if name not in ("algo", "env_id", "seed")}
    add_slot(config.algo, config.env_id, overrides, label=f"your run {run_id[:6]} ({ALGOS[config.algo].display_name})")


def send_runs_to_compare(run_ids: list[str]) -> str | None:
    """Replace the slots with the distinct settings of ``run_ids`` and the seeds with theirs.

    Returns why it cannot (more distinct settings than Compare holds), or None.
    """
    store = get_store()
    configs = [store.config(run_id) for run_id in run_ids]
    distinct = {json.dumps({**config.to_dict(), "seed": 0}, sort_keys=True): config for config in configs}
    if len(distinct) > MAX_CONFIGS:
        return (f"These runs have {len(distinct)} different settings; Compare holds at most {MAX_CONFIGS}. "
                "Pick fewer, or runs that differ only by seed.")
    st.session_state[SLOTS_KEY] = []
    for config in distinct.values():
        overrides = {name: value for name, value in config.to_dict().items() if name not in ("algo", "env_id", "seed")}
        add_slot(config.algo, config.env_id, overrides, label=run_label(config.replace(seed=0)).removesuffix(" · seed 0"))
    seeds = sorted({config.seed for config in configs})
    st.session_state["cmp:base_seed"] = seeds[0]
    st.session_state["cmp:seeds"] = min(MAX_SEEDS, seeds[-1] - seeds[0] + 1)
    return None


def load_ready_made(ready: ReadyMade) -> list[Config]:
    """Replace the slots with a ready-made comparison's configurations, and return them."""
    st.session_state[SLOTS_KEY] = []
    for label, algo, env_id, overrides in ready.entries:
        add_slot(algo, env_id, overrides, label)
    return ready.configs()


def _slot_form(slot: Slot) -> Config | None:
    """The algorithm, env and hyperparameter widgets of one slot; None (with the reason shown) if invalid."""
    algo = st.selectbox("Algorithm", list(ALGOS), index=list(ALGOS).index(slot.algo), key=f"cmp:{slot.id}:algo",
                        format_func=lambda key: ALGOS[key].display_name)
    env_id = st.selectbox("Environment", list(ENVS), index=list(ENVS).index(slot.env_id), key=f"cmp:{slot.id}:env",
                          help="; ".join(f"{env.env_id}: solved at {env.solve_threshold:g}" for env in ENVS.values()))
    start = slot.start_config(algo, env_id)
    info = ALGOS[algo]
    values: dict[str, Any] = {}
    hyperparameters = st.expander("Hyperparameters", icon=":material/tune:")
    with hyperparameters:
        for name in info.sliders:
            if name not in _PAGE_FIELDS:
                values[name] = field_widget(info.config_class, name, getattr(start, name),
                                            key=f"cmp:{slot.id}:{algo}:{env_id}:{name}")
    try:
        config = start.replace(**values, bugs=())
        with hyperparameters:
            config = config.replace(bugs=bugs_widget(config, start.bugs, key=f"cmp:{slot.id}:{algo}:{env_id}:bugs"))
    except ConfigError as error:  # widgets keep values in range, but say so if one slips through
        st.error(str(error))
        return None
    # Remember the choice in the slot itself: Streamlit forgets widget values when the student
    # visits another page, and the sliders start from here when they come back.
    preset = make_config(algo, env_id)
    slot.algo, slot.env_id = algo, env_id
    slot.overrides = {name: value for name, value in config.to_dict().items()
                      if name != "seed" and value != getattr(preset, name)}
    return config


def _changes(config: Config) -> str:
    preset = make_config(config.algo, config.env_id)
    changed = [f"{f.name}={getattr(config, f.name):g}" if isinstance(getattr(config, f.name), float) else
               f"{f.name}={getattr(config, f.name)}" for f in dataclasses.fields(config)
               if f.name != "seed" and getattr(config, f.name) != getattr(preset, f.name)]
    return "changed from the preset: " + ", ".join(changed) if changed else "the preset, unchanged"


def configurations_form() -> tuple[list[str], list[Config], list[str]]:
    """Every slot side by side. Returns the labels, the valid configs and the problems that stop a run."""
    current = slots()
    problems: list[str] = []
    if not current:
        st.info("No configurations yet: add one, or start from a ready-made comparison above.")
    configs: list[Config | None] = []
    headers = []
    for column, slot in zip(st.columns(max(len(current), 1)), current):
        with column, st.container(border=True):
            headers.append(st.container())
            configs.append(_slot_form(slot))
            st.button("Remove", key=f"cmp:{slot.id}:remove", icon=":material/delete:", on_click=remove_slot,
                      args=(slot.id,),
                      help="Take this configuration out of the comparison.")
    valid = [config for config in configs if config is not None]
    auto = config_labels(valid) if valid else []
    labels: list[str] = []
    for index, (slot, config, header) in enumerate(zip(current, configs, headers)):
        color = SLOT_COLORS[index % len(SLOT_COLORS)]
        if config is None:
            header.markdown(f":{color}[**{index + 1}. (invalid settings)**]")
            problems.append(f"Configuration {index + 1} has an invalid setting (see its message).")
            continue
        use_given = slot.label and slot.labelled is not None and same_settings(config, config_from_dict(slot.labelled))
        label = slot.label if use_given else auto[len(labels)]
        labels.append(label)
        header.markdown(f":{color}[**{index + 1}. {label}**]")
        header.caption(_changes(config))
    labels = _unique(labels)
    if len(current) < MIN_CONFIGS:
        problems.append(f"A comparison needs at least {MIN_CONFIGS} configurations: add "
                        f"{MIN_CONFIGS - len(current)} more with **Add a configuration**.")
    for first in range(len(configs)):
        for second in range(first + 1, len(configs)):
            one, other = configs[first], configs[second]
            if one is not None and other is not None and same_settings(one, other):
                problems.append(f"Configurations {first + 1} and {second + 1} are identical: change a hyperparameter "
                                "of one of them, or remove it.")
    return labels, valid, problems


def _unique(labels: list[str]) -> list[str]:
    """Legend labels must differ: number the repeats."""
    seen: dict[str, int] = {}
    unique = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        unique.append(label if seen[label] == 1 else f"{label} ({seen[label]})")
    return unique


def add_buttons() -> None:
    """Add an empty configuration, or the one trained last on the Train page."""
    full = len(slots()) >= MAX_CONFIGS
    left, right, note = st.columns([1, 1, 2], vertical_alignment="center")
    left.button("Add a configuration", icon=":material/add:", disabled=full, width="stretch", on_click=add_slot,
                help=f"Up to {MAX_CONFIGS} configurations.")
    last_run = st.session_state.get("current_run")  # set by the Train page
    has_run = last_run is not None and get_store().run_dir(last_run).joinpath("config.json").exists()
    right.button("Add my last Train run", icon=":material/history:", disabled=full or not has_run, width="stretch",
                 on_click=add_run, args=(last_run,),
                 help="The settings of the run you trained last on the Train page; the comparison's seeds replace "
                      "its seed."
                 if has_run else "Train a run on the Train page first.")
    if full:
        note.caption(f"{MAX_CONFIGS} configurations at most: remove one to add another.")


def seeds_form() -> list[int]:
    """How many seeds, starting where: the same seeds for every configuration (paired runs)."""
    left, right = st.columns(2)
    count = left.number_input("Seeds per configuration", min_value=1, max_value=MAX_SEEDS, value=3, step=1,
                              key="cmp:seeds", persist_state="session",
                              help="Every configuration trains once per seed. More seeds: a more trustworthy mean "
                                   "and a narrower band, at the cost of more runs.")
    first = right.number_input("First seed", min_value=0, max_value=1_000_000, value=0, step=1, key="cmp:base_seed",
                               persist_state="session",
                               help="The seeds are this one and the next ones; the same for every configuration, so "
                                    "the comparison is paired.")
    return [int(first) + offset for offset in range(int(count))]


# --- starting and stopping ------------------------------------------------------------------------

def _pending_key(key: str) -> str:
    """Where the configs (as dicts) of the comparison's runs not yet submitted wait."""
    return f"{key}_pending"


def start_comparison(labels: list[str], configs: list[Config], seeds: list[int], key: str = COMPARISON_KEY) -> Comparison:
    """Submit every configuration with every seed to the run store; cached runs are back at once.

    A session may have only so many runs waiting in the queue (a class shares the workers): the
    runs beyond that are submitted as earlier ones start (see ``top_up``). ``key`` names the
    comparison in the session (the Compare page has one, the Bug lab one per bug).
    """
    jobs = comparison_runs(configs, seeds)
    run_ids = tuple(tuple(config.replace(seed=seed).run_hash() for seed in seeds) for config in configs)
    comparison = Comparison(tuple(labels), tuple(config.env_id for config in configs), tuple(seeds), run_ids,
                            tuple(config.total_steps for config in configs), cached=0)
    st.session_state[key] = comparison
    st.session_state[_pending_key(key)] = [config.to_dict() for config in jobs]
    top_up(comparison, key)
    return current_comparison(key)


def top_up(comparison: Comparison, key: str = COMPARISON_KEY) -> None:
    """Submit the comparison's runs not yet submitted, until this session's queue is full."""
    pending = st.session_state.get(_pending_key(key)) or []
    store, sid = get_store(), session_id()
    cached = 0
    while pending:
        try:
            submission = store.submit(config_from_dict(pending[0]), sid)
        except QueueFull:
            break
        except RunStoreError as error:
            st.error(str(error))
            break
        cached += submission.cached
        pending.pop(0)
    st.session_state[_pending_key(key)] = pending
    if cached:
        st.session_state[key] = dataclasses.replace(comparison, cached=comparison.cached + cached)


def pending_runs(key: str = COMPARISON_KEY) -> int:
    """How many of the comparison's runs wait to be submitted (this session's queue is full)."""
    return len(st.session_state.get(_pending_key(key)) or [])


def current_comparison(key: str = COMPARISON_KEY) -> Comparison | None:
    return st.session_state.get(key)


def is_running(comparison: Comparison | None, key: str = COMPARISON_KEY) -> bool:
    if comparison is None:
        return False
    store = get_store()
    return pending_runs(key) > 0 or any(not store.status(run_id).done for ids in comparison.run_ids for run_id in ids)


def stop_comparison(comparison: Comparison, key: str = COMPARISON_KEY) -> None:
    """This session stops watching every run of the comparison (runs others watch keep training)."""
    store, sid = get_store(), session_id()
    st.session_state[_pending_key(key)] = []
    for ids in comparison.run_ids:
        for run_id in ids:
            store.stop(run_id, sid)


# --- the results: live, then final ----------------------------------------------------------------

def display_controls() -> Display:
    band_column, axis_column, window_column, seeds_column = st.columns(4, vertical_alignment="bottom")
    band = band_column.segmented_control(
        "Band around the mean", list(BANDS), format_func=BANDS.get, default="ci", required=True, key="cmp:band",
        persist_state="session",
        help="95% bootstrap CI: where the mean over seeds would likely fall with other seeds (resampling the seeds "
             "1,000 times). ± 1 std: how far single seeds spread around the mean. Both need at least 2 seeds.")
    axis = axis_column.segmented_control(
        "x axis", list(X_AXES), format_func=_AXIS_BUTTONS.get, default="env_step", required=True, key="cmp:axis",
        persist_state="session",
        help="Env steps compare sample efficiency; wall seconds compare what the compute costs (parallel envs and "
             "rare updates are fast).")
    window = window_column.slider(
        "Smoothing (episodes)", 1, 100, 20, key="cmp:window", persist_state="session",
        help="Each seed's returns are averaged over this many latest episodes before the mean over seeds is taken. "
             "1 = no smoothing; 100 = what 'solved' is judged on.")
    show_seeds = seeds_column.toggle("Show each seed", value=False, key="cmp:show_seeds", persist_state="session",
                                     help="Also draw every seed's own smoothed curve as a thin line.")
    return Display(band or "ci", int(window), axis or "env_step", bool(show_seeds))


def comparison_view(comparison: Comparison, display: Display, key: str = COMPARISON_KEY,
                    extra: Callable[[Comparison, bool], None] | None = None) -> None:
    """The figure, the table and the downloads; redraws every second while runs train.

    ``extra(comparison, live)`` draws more below the table, live too (the Bug lab's diagnostic).
    """
    if is_running(comparison, key):
        _live_view(comparison, display, key, extra)
    else:
        _results(comparison, display, live=False, key=key)
        if extra is not None:
            extra(comparison, False)


@st.fragment(run_every=POLL_SECONDS)
def _live_view(comparison: Comparison, display: Display, key: str,
               extra: Callable[[Comparison, bool], None] | None) -> None:
    top_up(comparison, key)
    if not is_running(comparison, key):
        st.rerun()  # the whole page redraws once as the final view, which does not poll
    _results(comparison, display, live=True, key=key)
    if extra is not None:
        extra(comparison, True)


def _curves(comparison: Comparison) -> list[list[EpisodeCurve]]:
    """Each run's curve from the server's shared feeds (bounded, read incrementally)."""
    store = get_store()
    return [[feed_curve(feed(store.run_dir(run_id))) for run_id in ids] for ids in comparison.run_ids]


def _progress(statuses: list[RunStatus], cached: int, key: str) -> None:
    pending = pending_runs(key)
    statuses = statuses[: len(statuses) - pending]  # the pending runs are the last in start order
    states = [status.state for status in statuses]
    done = sum(status.done for status in statuses)
    total = len(statuses) + pending
    parts = [f"{done} of {total} runs done", f"{states.count('running')} running", f"{states.count('queued')} queued"]
    if pending:
        parts.append(f"{pending} wait for a place in the queue (at most {get_store().max_queued_per_session} "
                     "of a student's runs wait at once)")
    if cached:
        parts.append(f"{cached} from the cache")
    training = [status for status in statuses if status.state == "running"]
    progress = (done + sum(status.progress for status in training)) / total if total else 1.0
    st.progress(min(1.0, progress), text=" · ".join(parts))
    failed = [status for status in statuses if status.state == "failed"]
    if failed:
        st.error(f"{len(failed)} run(s) failed: {failed[0].error}")
    if "interrupted" in states or "missing" in states:
        st.warning("Some runs were interrupted when the app restarted (or their files are gone): press "
                   "**Run comparison** to train them again.")
    if "stopped" in states:
        st.info("Some runs were stopped: their curves end early, and the table counts only runs that finished.")


def _results(comparison: Comparison, display: Display, live: bool, key: str = COMPARISON_KEY) -> None:
    store = get_store()
    # In start order (seed by seed across configurations), so the runs still pending come last.
    statuses = [store.status(ids[seed]) for seed in range(len(comparison.seeds)) for ids in comparison.run_ids]
    _progress(statuses, comparison.cached, key)
    curves = _curves(comparison)
    labels = list(comparison.labels)
    aggregated = aggregate_curves(labels, curves, display.axis, display.window, display.band)
    thresholds = {f"{env_id} solved at {env_info(env_id).solve_threshold:g}": env_info(env_id).solve_threshold
                  for env_id in dict.fromkeys(comparison.env_ids)}
    seeds = seed_curves(labels, comparison.seeds, curves, display.axis, display.window) if display.show_seeds else None
    # On env steps the frame is fixed from 0 to the budget, so live curves grow into it.
    x_range = (0, max(comparison.total_steps)) if display.axis == "env_step" else None
    figure = compare_figure(aggregated, labels, thresholds, X_AXES[display.axis], BANDS[display.band], seeds, x_range)
    st.plotly_chart(figure, width="stretch", key="cmp:figure")
    if aggregated.empty:
        st.caption("The curves appear as soon as the first episodes end.")
    elif len(comparison.seeds) == 1:
        st.caption("One seed per configuration: no band. Use 2 or more seeds to see how much of a difference is luck.")
    else:
        st.caption(f"Lines: mean over the {len(comparison.seeds)} seeds (each smoothed over {display.window} "
                   f"episodes) on a common grid; shading: {BANDS[display.band]}. Where a seed has not got to yet, "
                   "the mean is over the seeds that have.")
    if len(set(comparison.env_ids)) > 1:
        st.caption("These configurations use different environments: their returns are on different scales.")

    run_dirs = [[store.run_dir(run_id) for run_id in ids] for ids in comparison.run_ids]
    by_dir = {run_dir: curve for dirs, per_config in zip(run_dirs, curves) for run_dir, curve in zip(dirs, per_config)}
    table = summary_table(list(zip(labels, run_dirs)), display.band, by_dir)
    st.dataframe(format_summary_table(table, display.band), width="stretch", hide_index=True)
    st.caption("Final return: each seed's mean over its last 100 training episodes, then the mean over seeds. "
               "Solved: that 100-episode mean reached the threshold; steps and seconds to solve are medians over "
               "the seeds that solved. Only runs that trained to the end count.")

    if live:
        st.caption("The downloads appear when every run is done.")
        return
    left, right, _ = st.columns([1, 1, 2])
    # Built on click, from each run's complete episodes.csv (the figure's curves may be thinned).
    episodes = lambda: episodes_csv(labels, comparison.seeds, comparison.run_ids,  # noqa: E731
                                    [[read_curve(run_dir) for run_dir in dirs] for dirs in run_dirs])
    left.download_button("Episodes of every run (CSV)", data=episodes,
                         file_name="rlviz-compare-episodes.csv", mime="text/csv", icon=":material/download:",
                         key="cmp:download:episodes", on_click="ignore", width="stretch",
                         help="One row per episode: configuration, seed, run id, episode, env step, wall seconds, "
                              "return.")
    right.download_button("Mean curves and bands (CSV)", data=mean_curves_csv(aggregated, display.axis),
                          file_name=f"rlviz-compare-mean-{display.axis}.csv", mime="text/csv",
                          icon=":material/download:",
                          key="cmp:download:mean", on_click="ignore", width="stretch",
                          help="The plotted curves: per configuration and grid point the mean, the band and how many "
                               "seeds had data.")


def comparison_runs(configs: list[Config], seeds: list[int]) -> list[Config]:
    """Every configuration with every seed, in the order they start: seed by seed across configurations,
    so with few workers every configuration makes progress."""
    return [config.replace(seed=seed) for seed in seeds for config in configs]


def comparison_size(configs: list[Config], seeds: list[int]) -> str:
    """What pressing Run comparison costs: the runs, the env steps and the time on this server's workers (Markdown)."""
    runs = len(configs) * len(seeds)
    steps = sum(config.total_steps for config in configs) * len(seeds)
    return (f"{runs} runs ({len(configs)} configurations × {len(seeds)} seeds), {steps:,} env steps in all.  \n"
            + comparison_time_note(get_store(), comparison_runs(configs, seeds)))


def ready_made_size(ready: ReadyMade, seeds: list[int]) -> str:
    """A ready-made comparison's time with the page's seeds (Markdown)."""
    runs = comparison_runs(ready.configs(), seeds)
    return comparison_time_note(get_store(), runs, title=f"With {len(seeds)} seed{'s' if len(seeds) != 1 else ''}")
