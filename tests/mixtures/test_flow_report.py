"""Reports and plots show, per source, rows in → kept with the dropped rows by reason, in the
build's report and plot and in `mix compare`."""

from __future__ import annotations

from mixtures import build_mixture
from mixtures.compare import compare_mixtures
from mixtures.flow import Flow, plot_flows


def _build(tmp_path, write_recipe, write_jsonl, name: str, dedup: bool):
    rows = [{"instruction": f"q{i % 6}", "output": f"a{i % 6}"} for i in range(10)]  # 4 duplicates
    rows += [{"instruction": "empty", "output": ""}]
    write_jsonl(tmp_path / "dupes.jsonl", rows)
    write_jsonl(tmp_path / "clean.jsonl", [{"instruction": f"c{i}", "output": f"d{i}"} for i in range(5)])
    recipe = {
        "name": name,
        "kind": "sft",
        "filters": {"exact_dedup": dedup, "length": {"drop_empty_assistant": True}},
        "sources": [{"path": "dupes.jsonl"}, {"path": "clean.jsonl"}],
    }
    return build_mixture(write_recipe(recipe, f"{name}.yaml"), out=tmp_path / name)


def test_build_report_and_compare_show_rows_in_kept_and_reasons(tmp_path, write_recipe, write_jsonl) -> None:
    a = _build(tmp_path, write_recipe, write_jsonl, "a", dedup=True)
    b = _build(tmp_path, write_recipe, write_jsonl, "b", dedup=False)
    report = (a / "report.md").read_text()
    assert "## Rows in → kept, dropped by reason" in report
    assert "| source | rows in | kept | kept % | exact_duplicate | empty_assistant |" in report
    assert "| dupes | 11 | 6 | 54.5% | 4 | 1 |" in report
    assert "| clean | 5 | 5 | 100.0% | 0 | 0 |" in report
    out = compare_mixtures([a, b], tmp_path / "cmp")
    text = (out / "report.md").read_text()
    assert "| a / dupes | 11 | 6 | 54.5% |" in text and "| b / dupes | 11 | 10 | 90.9% |" in text
    assert (out / "flow.png").stat().st_size > 5000


def test_flow_bars_stack_kept_and_each_reason() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    plot_flows(
        ax, [Flow("identity", 500, 11, {"near_duplicate": 480, "too_long": 9}), Flow("web", 20, 20, {})]
    )
    by_bar: dict[int, float] = {}
    for patch in ax.patches:
        y = round(patch.get_y() + patch.get_height() / 2)
        by_bar[y] = by_bar.get(y, 0) + patch.get_width()
    assert by_bar == {0: 500, 1: 20}
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["kept", "dropped: near_duplicate", "dropped: too_long"]
    plt.close(fig)
