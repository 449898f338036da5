"""The Bug lab page in AppTest: it offers the bugs with their lines, asks for a prediction first, and runs a
tiny pair to the end with both curves, the diagnostic and the verdict."""

import dataclasses
import json

from apptest_helpers import open_page, run_until_progress
from rlviz.bugs import BUGS, LabSetup

PAGE = "pages/bug_lab.py"


def button(app, label: str):
    return next(b for b in app.button if b.label == label)


def test_the_page_offers_every_bug_with_its_wrong_and_right_line(runs_dir):
    app = open_page(PAGE)
    assert app.title[0].value == "Bug lab"
    assert len(app.selectbox(key="bug:choice").options) >= 6
    for name in ("truncation_as_termination", "value_broadcast", "nstep_across_episodes"):
        app.selectbox(key="bug:choice").set_value(name).run()
        assert not app.exception, app.exception
        bug = BUGS[name]
        assert [code.value for code in app.code] == [bug.right.text, bug.wrong.text]
        assert any(f"`{bug.wrong.path}`, line {bug.wrong.line_number()}" in c.value for c in app.caption)
        assert app.query_params["bug"] in (name, [name])  # a link opens this bug
        assert button(app, "Run the pair").disabled, "a prediction comes first"
    assert not runs_dir.exists() or not list(runs_dir.glob("[!.]*")), "nothing was trained"


def test_a_tiny_pair_runs_to_the_end_with_both_curves_the_diagnostic_and_the_verdict(runs_dir, monkeypatch):
    tiny = LabSetup("td-ac", "CartPole-v1", dict(total_steps=2_000, stop_when_solved=False, eval_episodes=1), seeds=1)
    monkeypatch.setitem(BUGS, "value_broadcast", dataclasses.replace(BUGS["value_broadcast"], lab=tiny))
    app = open_page(PAGE)
    app.selectbox(key="bug:choice").set_value("value_broadcast").run()
    assert app.number_input(key="bug:seeds:value_broadcast").value == 1
    app.radio(key="bug:prediction:value_broadcast").set_value("learns slower").run()
    assert not button(app, "Run the pair").disabled
    button(app, "Run the pair").click().run()
    assert not app.exception, app.exception

    run_until_progress(app, "2 of 2 runs done", 300, "the pair")

    assert not app.error, [e.value for e in app.error]
    curves, diagnostic = (json.loads(chart.proto.spec) for chart in app.get("plotly_chart"))
    for spec in (curves, diagnostic):
        names = [trace.get("name") for trace in spec["data"]]
        assert "correct" in names and "with the bug" in names, names
        assert all(trace["x"] for trace in spec["data"] if trace.get("name") in ("correct", "with the bug"))
    assert "explained variance" in diagnostic["layout"]["yaxis"]["title"]["text"]
    assert any(s.value.startswith("The diagnostic") for s in app.subheader)
    verdict = app.warning[0].value  # the prediction was "learns slower"; the lab says "never learns"
    assert "You predicted **learns slower**" in verdict and "**never learns**" in verdict
    assert list(app.dataframe[0].value["Configuration"]) == ["correct", "with the bug"]


def test_train_and_compare_take_bugs_under_hyperparameters(runs_dir):
    app = open_page("pages/train.py")
    bugs = app.multiselect(key="hp:a2c:CartPole-v1:bugs")
    assert bugs.value == [] and any(option.endswith("(value_broadcast)") for option in bugs.options)
    # A2C's GAE return has no fixed n-step window: that bug is named as unavailable, with the reason.
    assert any("nstep_across_episodes is in the fixed n-step return" in c.value for c in app.caption)
    bugs.select("value_broadcast").run()
    assert not app.exception, app.exception
    assert any("trains with a bug switched on" in c.value for c in app.caption)
    assert app.query_params["bugs"] in ("value_broadcast", ["value_broadcast"])  # the link carries it

    compare = open_page("pages/compare.py")
    slot_bugs = compare.multiselect(key="cmp:1:a2c:CartPole-v1:bugs")
    slot_bugs.select("advantage_with_grad").run()
    assert not compare.exception, compare.exception
    assert any("bugs=('advantage_with_grad',)" in c.value for c in compare.caption)
