"""Runs list, the server-side trials table (page, sort, filter), top architectures, run metadata."""

from __future__ import annotations

from dashboards.tables import (_run_meta_info, _runs_table_info, _top_archs_info, _trials_page_info, parse_filter,
                               trials_frame)


def test_runs_table_has_status_budget_front_and_hypervolume(view_a, view_b) -> None:
    rows = _runs_table_info([view_a, view_b]).rows
    assert [r.run for r in rows] == ["run-a", "run-b"]
    a = rows[0]
    assert (a.status, a.strategy, a.space, a.device) == ("finished", "nsga2", "cnn1d", "cpu")
    assert (a.evaluations, a.budget_evaluations) == (40, 40)
    assert a.front_size == len(view_a.front) and a.hypervolume == view_a.hypervolume > 0


def test_trials_page_sorts_filters_and_pages(view_a) -> None:
    frame = trials_frame(view_a)
    page = _trials_page_info(frame, page=1, size=15)
    assert page.total == page.matched == 40 and page.page_count == 3
    assert [r["trial"] for r in page.rows] == list(range(15, 30))
    by_acc = _trials_page_info(frame, 0, 5, [{"column_id": "accuracy", "direction": "desc"}])
    accs = [r["accuracy"] for r in by_acc.rows]
    assert accs == sorted(accs, reverse=True) and accs[0] == frame["accuracy"].max()
    front = _trials_page_info(frame, 0, 100, filter_query='{on_front} = "yes" && {latency_ms} < 0.5')
    assert front.matched == len(view_a.front[view_a.front["latency_ms"] < 0.5])
    assert all(r["on_front"] == "yes" and r["latency_ms"] < 0.5 for r in front.rows)
    text = _trials_page_info(frame, 0, 100, filter_query="{choices} icontains d1w8")
    assert text.matched and all("d1w8" in r["choices"] for r in text.rows)
    # a page past the end shows the last page; an unknown column in a filter is ignored
    assert _trials_page_info(frame, 99, 15).rows[-1]["trial"] == 39
    assert _trials_page_info(frame, 0, 10, filter_query="{nope} > 3").matched == 40


def test_parse_filter_reads_dash_queries() -> None:
    assert parse_filter('{a} >= 3 && {b} scontains "x y" && junk') == [("a", ">=", "3"), ("b", "contains", "x y")]
    assert parse_filter("") == []


def test_top_archs_follow_the_front_order(view_a) -> None:
    top = _top_archs_info(view_a, k=5)
    assert len(top.rows) == min(5, len(view_a.front))
    assert [r["trial"] for r in top.rows] == list(view_a.front["trial"][:5])
    assert {"choices", "accuracy", "latency_ms"} <= set(top.columns)


def test_run_meta_lists_status_budget_and_front(view_a) -> None:
    items = dict(_run_meta_info(view_a).items)
    assert items["status"] == "finished" and items["evaluations"].startswith("40 of 40")
    assert items["front size"] == str(len(view_a.front)) and items["constraints"] == "latency_ms<=0.8"
