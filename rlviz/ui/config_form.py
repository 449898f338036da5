"""Hyperparameter widgets built from the config dataclasses' field metadata, and the Train page's form.

The form keeps its state for the whole session: its widgets persist across page switches
(``persist_state="session"``) and each algorithm and env has its own widget keys, so a student who
looks elsewhere and comes back finds the values where they were. Only "Reset to the preset" resets.
The form's configuration also lives in the URL's query string, so a link opens an exercise.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import streamlit as st

from rlviz.bugs import BUGS, bugs_for, why_not
from rlviz.config import (ALGOS, QUERY_KEYS_OF_OTHERS, Config, changed_fields, config_from_query, config_to_query,
                          describe_range, field_spec, format_value, make_config)

ALGO_KEY = "algo"  # the Train page's algorithm selectbox
ENV_KEY = "env_id"  # the Train page's environment selectbox
_LOADED_KEY = "train_form_loaded"  # a config that load_into_form left for the form's next run
_LINK_KEY = "train_form_link"  # the URL's config params as this session last applied or wrote them


def slider_values(f: dataclasses.Field, *selectable: Any) -> list[Any]:
    """The values a select-slider offers for a numeric field: its ticks, or a 1-2-5 log ladder, plus ``selectable``."""
    meta = f.metadata
    if meta["ticks"]:
        values = set(meta["ticks"])
    else:
        values = set()
        for exponent in range(math.floor(math.log10(meta["low"])), math.ceil(math.log10(meta["high"])) + 1):
            for mantissa in (1, 2, 5):
                value = mantissa * 10.0**exponent
                if meta["low"] <= value <= meta["high"]:
                    values.add(int(value) if type(f.default) is int else value)
    values.update(selectable)  # the preset's own value, and one that a link or a loaded run set off the ladder
    return sorted(values)


def field_widget(config_class: type, name: str, current: Any, key: str, persist_state: str | None = None) -> Any:
    """One widget for one field, labelled and with its help text and valid range, starting at ``current``.

    ``persist_state="session"`` keeps its value across page switches (Streamlit's option; needs ``key``).
    """
    f = field_spec(config_class, name)
    meta = f.metadata
    label = meta["label"] or name
    help_text = f"{meta['help']}  \n`{name}`, valid range {describe_range(f)}."
    kind = type(f.default)
    common = dict(help=help_text, key=key, persist_state=persist_state)
    if kind is bool:
        return st.toggle(label, value=current, **common)
    if meta["choices"]:
        return st.selectbox(label, meta["choices"], index=meta["choices"].index(current), **common)
    if name == "seed":
        return int(st.number_input(label, min_value=int(meta["low"]), max_value=int(meta["high"]), value=current,
                                   step=1, **common))
    if meta["log"] or meta["ticks"]:
        kept = st.session_state.get(key, current)  # a value already in the session must stay selectable
        return st.select_slider(label, options=slider_values(f, current, kept), value=current,
                                format_func=lambda value: format_value(name, value), **common)
    span = meta["high"] - meta["low"]
    step = 10 ** math.floor(math.log10(span / 100))  # about a hundred notches over the range
    if kind is int:
        return st.slider(label, int(meta["low"]), int(meta["high"]), current, step=max(1, int(step)), **common)
    return st.slider(label, float(meta["low"]), float(meta["high"]), float(current), step=float(step),
                     format="%g", **common)


def bugs_widget(config: Config, current: tuple[str, ...], key: str, persist_state: str | None = None) -> tuple[str, ...]:
    """The Bug lab's switches for any run: the bugs that ``config``'s other settings can run, none by default."""
    options, unavailable = [], []
    for name in bugs_for(config.algo):
        problem = why_not(name, config)
        (unavailable if problem else options).append(problem or name)
    if key in st.session_state:  # a bug chosen before a slider change made it impossible is dropped
        st.session_state[key] = [name for name in st.session_state[key] if name in options]
    chosen = st.multiselect(
        ":material/bug_report: Bugs (on purpose)", options, default=[name for name in current if name in options],
        format_func=lambda name: f"{BUGS[name].title} ({name})", key=key, persist_state=persist_state,
        placeholder="None: the correct code",
        help="Switch a classic bug on in the real code, at the line where tutorials get it wrong. The Bug lab page "
             "shows each line and what it does.  \n`bugs`, none or several.")
    if chosen:
        st.caption(":red[:material/warning: This configuration trains with a bug switched on, on purpose.]")
    if unavailable:
        st.caption("Not with these settings: " + "; ".join(problem.removeprefix("bug ") for problem in unavailable) + ".")
    return tuple(chosen)


def widget_key(algo: str, env_id: str, name: str) -> str:
    """The session-state key of one hyperparameter widget of the Train page's form."""
    return f"hp:{algo}:{env_id}:{name}"


def config_form(algo: str, env_id: str, columns: int = 3) -> Config:
    """The sliders that apply to ``algo``, starting at its preset for ``env_id``; returns the chosen config.

    Widget keys include the algorithm and env, so each pair keeps its own values, for the whole session.
    """
    preset = make_config(algo, env_id)
    info = ALGOS[algo]
    values: dict[str, Any] = {}
    slots = st.columns(columns)
    shown = [name for name in info.sliders if name not in preset.inert_fields()]
    for index, name in enumerate(shown):
        with slots[index % columns]:
            values[name] = field_widget(info.config_class, name, getattr(preset, name),
                                        key=widget_key(algo, env_id, name), persist_state="session")
    config = preset.replace(**values)
    bugs = bugs_widget(config, preset.bugs, key=widget_key(algo, env_id, "bugs"), persist_state="session")
    return config.replace(bugs=bugs)


def reset_form(algo: str, env_id: str) -> None:
    """Forget the widget values, so the form shows the preset again."""
    prefix = widget_key(algo, env_id, "")
    for key in [key for key in st.session_state if str(key).startswith(prefix)]:
        del st.session_state[key]


def load_into_form(config: Config) -> None:
    """Show ``config`` in the Train page's form (algo, env and every slider) from the page's next run on.

    Safe to call anywhere, even below the form: Streamlit forbids setting a drawn widget's value,
    so ``prepare_form`` puts the values in at the top of the next run. From a button's on_click
    callback that is this very run; after an ``if st.button(...)``, call ``st.rerun()``.
    """
    st.session_state[_LOADED_KEY] = config


def prepare_form() -> list[str]:
    """Call at the top of the Train page, before its widgets: fills the form from a loaded run or a new link.

    A link is applied once, when the URL's config params differ from those this session last
    applied or wrote (a page load, or a link opened from another page); after that the widgets
    own the values. Returns one line per problem (a bad link parameter, a setting without a widget).
    """
    loaded = st.session_state.pop(_LOADED_KEY, None)
    if loaded is not None:
        return _fill_form(loaded, whose="The loaded run's")
    link = {name: text for name, text in st.query_params.items() if name not in QUERY_KEYS_OF_OTHERS}
    # An empty link is a page switch (Streamlit clears the URL), not a request for the preset.
    if not link or link == st.session_state.get(_LINK_KEY):
        return []
    st.session_state[_LINK_KEY] = link
    config, problems = config_from_query(link)
    return problems + _fill_form(config, whose="The link's")


def _fill_form(config: Config, whose: str) -> list[str]:
    """Set the form's widget values to ``config``; returns a line per changed field the form has no widget for."""
    st.session_state[ALGO_KEY] = config.algo
    st.session_state[ENV_KEY] = config.env_id
    sliders = (*ALGOS[config.algo].sliders, "bugs")  # every field the form has a widget for
    for name in sliders:
        value = getattr(config, name)
        st.session_state[widget_key(config.algo, config.env_id, name)] = list(value) if name == "bugs" else value
    preset = make_config(config.algo, config.env_id)
    return [f"{whose} {name}={format_value(name, value)} cannot be set on this page; "
            f"using the preset's {format_value(name, getattr(preset, name))}."
            for name, value in changed_fields(config).items() if name not in sliders]


def write_link(config: Config) -> None:
    """Mirror ``config`` in the URL (algo, env_id and the changed fields), so the address is a link to it.

    Params that went back to the preset disappear; the keys of QUERY_KEYS_OF_OTHERS are left alone.
    """
    wanted = config_to_query(config)
    for name in [name for name in st.query_params if name not in wanted and name not in QUERY_KEYS_OF_OTHERS]:
        del st.query_params[name]
    for name, text in wanted.items():
        if st.query_params.get(name) != text:  # each write is a message to the browser
            st.query_params[name] = text
    st.session_state[_LINK_KEY] = wanted
