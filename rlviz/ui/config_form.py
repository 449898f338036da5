"""Hyperparameter widgets built from the config dataclasses' field metadata."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import streamlit as st

from rlviz.config import ALGOS, Config, describe_range, field_spec, make_config


def slider_values(f: dataclasses.Field, current: Any) -> list[Any]:
    """The values a select-slider offers for a numeric field: its ticks, or a 1-2-5 log ladder."""
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
    values.add(current)  # the preset's own value is always selectable
    return sorted(values)


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def field_widget(config_class: type, name: str, current: Any, key: str) -> Any:
    """One widget for one field, labelled and with its help text and valid range."""
    f = field_spec(config_class, name)
    meta = f.metadata
    label = meta["label"] or name
    help_text = f"{meta['help']}  \n`{name}`, valid range {describe_range(f)}."
    kind = type(f.default)
    if kind is bool:
        return st.toggle(label, value=current, help=help_text, key=key)
    if meta["choices"]:
        return st.selectbox(label, meta["choices"], index=meta["choices"].index(current), help=help_text, key=key)
    if name == "seed":
        return int(st.number_input(label, min_value=int(meta["low"]), max_value=int(meta["high"]), value=current,
                                   step=1, help=help_text, key=key))
    if meta["log"] or meta["ticks"]:
        return st.select_slider(label, options=slider_values(f, current), value=current, format_func=_format,
                                help=help_text, key=key)
    span = meta["high"] - meta["low"]
    step = 10 ** math.floor(math.log10(span / 100))  # about a hundred notches over the range
    if kind is int:
        return st.slider(label, int(meta["low"]), int(meta["high"]), current, step=max(1, int(step)), help=help_text, key=key)
    return st.slider(label, float(meta["low"]), float(meta["high"]), float(current), step=float(step),
                     format="%g", help=help_text, key=key)


def config_form(algo: str, env_id: str, columns: int = 3) -> Config:
    """The sliders that apply to ``algo``, starting at its preset for ``env_id``; returns the chosen config.

    Widget keys include the algorithm and env, so switching either starts from that preset.
    """
    preset = make_config(algo, env_id)
    info = ALGOS[algo]
    values: dict[str, Any] = {}
    slots = st.columns(columns)
    for index, name in enumerate(info.sliders):
        with slots[index % columns]:
            values[name] = field_widget(info.config_class, name, getattr(preset, name), key=f"hp:{algo}:{env_id}:{name}")
    return preset.replace(**values)


def reset_form(algo: str, env_id: str) -> None:
    """Forget the widget values, so the form shows the preset again."""
    prefix = f"hp:{algo}:{env_id}:"
    for key in [key for key in st.session_state if str(key).startswith(prefix)]:
        del st.session_state[key]
