"""The pure ``_..._info`` steps of every figure, and the thin plotly steps on top of them."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest

from dashboards.archview import _arch_diff_info, _arch_graph_info, arch_figure
from dashboards.planview import _plan_info, plan_figure
from dashboards.front import SELECTED_TRACE, _compare_info, _front_info, compare_figure, front_figure
from dashboards.history import _hv_history_info, _prediction_info, hv_figure, prediction_figure
from dashboards.tables import arch_values
from nas.search.pareto import pareto_mask


def test_front_info_splits_every_completed_point_once(view_b) -> None:
    info = _front_info(view_b, ("accuracy", "latency_ms"))
    done = view_b.completed()
    parts = [info.front, info.dominated, info.violators]
    assert sum(len(p.trials) for p in parts) == len(done)
    assert set(info.front.trials) == set(view_b.front["trial"])
    infeasible = set(done.loc[~done["feasible"].astype(bool), "trial"])
    assert infeasible and set(info.violators.trials) == infeasible
    assert info.directions == ("maximize", "minimize")
    # no dominated point beats a front point on both objectives, and the front is mutually non-dominated
    front_losses = np.column_stack([-info.front.coords[0], info.front.coords[1]])
    assert pareto_mask(front_losses).all()


def test_front_figure_draws_the_info(view_b) -> None:
    info = _front_info(view_b, ("accuracy", "latency_ms"))
    fig = front_figure(info)
    names = [t.name for t in fig.data]
    assert names[2].startswith("Pareto front") and names[SELECTED_TRACE] == "selected"
    assert len(fig.data[2].x) == len(info.front.trials)
    assert list(fig.data[2].customdata) == list(info.front.trials)
    three = front_figure(_front_info(view_b, ("accuracy", "latency_ms", "params")))
    assert all(isinstance(t, go.Scatter3d) for t in three.data)


def test_front_info_rejects_bad_axes(view_a) -> None:
    with pytest.raises(ValueError, match="axes"):
        _front_info(view_a, ("accuracy",))
    with pytest.raises(ValueError, match="nonexistent"):
        _front_info(view_a, ("accuracy", "nonexistent"))


def test_compare_info_gives_each_runs_front_on_the_pair(view_a, view_b) -> None:
    info = _compare_info([view_a, view_b], ("latency_ms", "accuracy"))
    assert [s.run_id for s in info.series] == ["run-a", "run-b"]
    assert info.directions == ("minimize", "maximize")
    for s, v in zip(info.series, (view_a, view_b)):
        assert s.evaluated == len(v.completed())
        assert pareto_mask(np.column_stack([s.x, -s.y])).all() and np.all(np.diff(s.x) >= 0)
    fig = compare_figure(info)
    assert [len(t.x) for t in fig.data] == [len(s.x) for s in info.series]


def test_hv_history_grows_to_the_runs_hypervolume(view_a) -> None:
    info = _hv_history_info(view_a)
    assert len(info.evaluations) == len(view_a.completed()) == len(info.hypervolume)
    assert np.all(np.diff(info.hypervolume) >= -1e-12)
    assert info.hypervolume[-1] == pytest.approx(view_a.hypervolume)
    assert np.all(np.diff(info.seconds) >= 0)
    fig = hv_figure(info)
    assert len(fig.data) == 2  # drawn as steps: every distinct value once, in order, ending at the last evaluation
    assert list(fig.data[0].y) == list(dict.fromkeys(info.hypervolume)) + [info.hypervolume[-1]] * (
        len(fig.data[0].y) - len(set(info.hypervolume)))
    assert fig.data[0].x[-1] == len(info.hypervolume) and fig.data[1].x[-1] == info.seconds[-1]


def test_prediction_info_pairs_measured_and_predicted(view_a) -> None:
    info = _prediction_info(view_a)
    assert [p.metric for p in info.panels] == ["accuracy"]  # no predicted latency column in this run
    panel = info.panels[0]
    done = view_a.completed()
    assert np.allclose(panel.measured, done["accuracy"]) and np.allclose(panel.predicted, done["predicted_accuracy"])
    assert panel.kendall_tau is None or -1 <= panel.kendall_tau <= 1
    assert panel.mape is not None and panel.mape > 0
    assert len(prediction_figure(info).data) == 2
    assert len(prediction_figure(_prediction_info(view_a, ("latency_ms",))).data) == 0


def test_arch_graph_info_draws_blocks_with_their_choices(view_a) -> None:
    values = arch_values(view_a.trials["arch"].iloc[0])
    info = _arch_graph_info(values, "t", highlight=["s1.width"])
    ids = [n.id for n in info.nodes]
    assert ids[0] == "input" and ids[-1] == "output"
    depth = int(values["s1.depth"])
    blocks = [n for n in info.nodes if n.stage == "s1" and n.id != "s1"]
    assert len(blocks) == depth  # one node per active block of stage 1
    assert all(("width", values["s1.width"]) in n.choices for n in blocks)
    assert all(n.highlight for n in blocks) and not any(n.highlight for n in info.nodes if n.stage == "s2")
    assert len([e for e in info.edges if e.kind == "flow"]) == len(info.nodes) - 1
    assert len(arch_figure(info).data) == 2  # flow edges and blocks; no shared groups


def _ensemble_plan() -> dict:
    """Two members behind a shared trunk; both members' heads draw on one bank group."""
    from nas.sharing import SharingPlan

    plan = SharingPlan("ensemble", {"K": 2, "split": 2, "param_budget": 5000})
    trunk = [plan.add_layer("shared", s, group=s, source="slice", params=100) for s in ("s1.b1", "s2.b1")]
    plan.chain(trunk)
    for m in ("m0", "m1"):
        body = plan.add_layer(m, "s3.b1", group=f"{m}.s3.b1", source="slice", params=300)
        head = plan.add_layer(m, "head", group="head", source="bank", params=50)
        plan.chain([trunk[-1], body, head])
    return plan.to_dict()


def test_sharing_plan_info_lays_members_out_as_rows_with_shared_groups() -> None:
    info = _plan_info(_ensemble_plan())
    assert info.kind == "ensemble" and info.members == ["shared", "m0", "m1"] and not info.error
    by_id = {n.id: n for n in info.nodes}
    assert len(by_id) == 6 and by_id["m1/head"].y < by_id["m0/head"].y < by_id["shared/s1.b1"].y
    # the data flow runs left to right: the trunk first, both members' layers in the same columns
    assert by_id["shared/s1.b1"].x < by_id["shared/s2.b1"].x < by_id["m0/s3.b1"].x == by_id["m1/s3.b1"].x
    assert info.shared_groups == {"head": ["m0/head", "m1/head"]}
    assert [(e.src, e.dst) for e in info.edges if e.kind == "shared"] == [("m0/head", "m1/head")]
    assert by_id["m0/head"].shared and not by_id["m0/s3.b1"].shared and by_id["m0/head"].source == "bank"
    facts = dict(info.facts)
    assert facts["kind"] == "ensemble" and facts["K"] == "2" and facts["split"] == "2"
    assert facts["stored params"] == f"{2 * 100 + 2 * 300 + 50:,}"  # the shared head is stored once
    assert facts["groups"] == "5 (1 shared)"


def test_plan_figure_has_a_legend_entry_per_source_and_dashed_shared_edges() -> None:
    info = _plan_info(_ensemble_plan())
    fig = plan_figure(info)
    names = [t.name for t in fig.data]
    assert names == ["data flow", "shared group", "source: slice", "source: bank"]
    shared = fig.data[1]
    assert shared.line.dash == "dash" and len([x for x in shared.x if x is not None]) == 2
    assert sum(len(t.x) for t in fig.data[2:]) == len(info.nodes)
    assert list(fig.layout.yaxis.ticktext) == info.members and "ensemble" in fig.layout.title.text
    bank = fig.data[3]
    assert all("shared by 2 layers" in h for h in bank.hovertext) and len(set(bank.marker.color)) == 1


def test_a_broken_or_old_format_plan_is_reported_not_drawn() -> None:
    old = {"directed": True, "nodes": [{"id": [0, "s1.b1"], "group": "g0", "kind": "bank"}], "links": []}
    info = _plan_info(old)
    assert not info.nodes and "sharing_plan" in info.error
    assert plan_figure(info).layout.title.text == info.error


def test_architecture_blocks_of_one_plan_group_are_joined_as_shared() -> None:
    from nas.sharing import SharingPlan

    plan = SharingPlan("npas")
    plan.chain([plan.add_layer("shared", s, group="g0", source="bank", params=10) for s in ("s1.b1", "s2.b1")])
    values = {"s1.depth": 1, "s1.width": 8, "s1.b1.kernel": 3, "s2.depth": 1, "s2.width": 8, "s2.b1.kernel": 5}
    info = _arch_graph_info(values, "t", sharing_plan=plan.to_dict())
    assert info.groups == {"g0": ["s1.b1", "s2.b1"]}
    assert [(e.src, e.dst) for e in info.edges if e.kind == "shared"] == [("s1.b1", "s2.b1")]
    assert "shared weights" in [t.name for t in arch_figure(info).data]


def test_arch_diff_lists_the_choices_that_differ() -> None:
    a = {"s1.depth": 2, "s1.width": 8, "s1.b2.kernel": 3}
    b = {"s1.depth": 1, "s1.width": 8}
    diff = _arch_diff_info(a, b, name_a="trial 1", name_b="trial 2")
    assert diff.changed == ["s1.depth", "s1.b2.kernel"]
    assert [(r.a, r.b) for r in diff.rows if r.label == "s1.b2.kernel"] == [(3, None)]
    assert _arch_diff_info(a, a).changed == []


def test_large_traces_are_drawn_with_webgl(tmp_path) -> None:
    from benchmarks.dashboard_load import make_run
    from dashboards.data import RunCache
    from dashboards.front import GL_POINTS

    view = RunCache().get(make_run(tmp_path, trials=GL_POINTS + 200, seed=5, run_id="big"))
    info = _front_info(view, ("accuracy", "latency_ms"))
    fig = front_figure(info)
    kinds = {t.name.split(" (")[0]: type(t).__name__ for t in fig.data}
    assert len(info.dominated.trials) > GL_POINTS and kinds["dominated"] == "Scattergl"
    assert kinds["Pareto front"] == "Scatter"  # the front stays SVG: few points, crisp markers
    assert isinstance(prediction_figure(_prediction_info(view)).data[0], go.Scattergl)


def test_three_objectives_default_to_a_3d_front(view_a) -> None:
    from dataclasses import replace

    from dashboards.layout import axis_defaults
    from nas.search.objectives import parse_objectives

    three = replace(view_a, objectives=parse_objectives("accuracy:max,latency_ms:min,params:min"))
    assert axis_defaults(three) == ("accuracy", "latency_ms", "params")
    assert axis_defaults(view_a) == ("accuracy", "latency_ms", None)
    info = _front_info(three, axis_defaults(three))
    assert info.directions == ("maximize", "minimize", "minimize") and len(info.front.coords) == 3


def test_a_predictor_run_feeds_the_predicted_against_measured_panels() -> None:
    from pathlib import Path

    import pandas as pd

    from dashboards.data import RunView
    from nas.search import PredictorStrategy
    from tests.search.conftest import OBJECTIVES, run_loop

    _, rec = run_loop(PredictorStrategy(0, n_initial=6, models={"maximize": "ridge"}), budget=12)
    view = RunView("r", Path("."), (), trials=pd.DataFrame(rec.rows), objectives=OBJECTIVES)
    info = _prediction_info(view)
    assert [p.metric for p in info.panels] == ["accuracy", "latency_ms"]
    for p in info.panels:  # the 6 proposals made after the first fit carry predictions
        assert len(p.measured) == 6 and np.isfinite(p.predicted).all() and p.std is not None
    assert len(prediction_figure(info).data) == 4
