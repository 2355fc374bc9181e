"""The results published in ``docs/``: ``results.json``, the experiments' figures, and the README's results section
(between ``README_BEGIN`` and ``README_END``); a report of some experiments replaces only their part."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from genmodels.report_experiments import EXPERIMENTS
from genmodels.results import FID_FIGURE, ReportError, render_markdown, report_fid_figure, stage_experiment

README_BEGIN = "<!-- results:begin (written by python -m genmodels.report --docs docs) -->"
README_END = "<!-- results:end -->"
RESULTS_PAGE = "results.md"  # in the docs folder: the table and every experiment's figures


def merge_results(published: dict[str, Any], update: dict[str, Any], names: Sequence[str], order: Sequence[str]):
    """``published`` with the entries of the experiments ``names`` and their stages' seconds taken from ``update``
    (experiments in the preset's ``order``), the total time summed again and the preset's description updated; the
    other experiments are kept as they were. Both must be of one preset."""
    if published["preset"] != update["preset"]:
        raise ReportError(
            f"the published results are of preset {published['preset']!r}, not {update['preset']!r}. Fix: publish "
            f"the whole preset (drop --only), or pass --preset {published['preset']}."
        )
    entries = {entry["experiment"]: entry for entry in published["experiments"]}
    entries |= {entry["experiment"]: entry for entry in update["experiments"] if entry["experiment"] in names}
    stages = {label: time for label, time in published["stage_seconds"].items() if stage_experiment(label) not in names}
    stages |= {label: time for label, time in update["stage_seconds"].items() if stage_experiment(label) in names}
    return {
        **published,
        "description": update["description"],  # the preset's, which the experiments published now belong to
        "experiments": [entries[name] for name in order if name in entries],
        "stage_seconds": stages,
        "wall_time_s": round(sum(stages.values()), 1),
    }


def update_readme(readme: Path, markdown: str) -> None:
    """Replace the README's results section (between the results markers) by ``markdown``."""
    text = readme.read_text()
    start, end = text.find(README_BEGIN), text.find(README_END)
    if start < 0 or end < start:
        raise ReportError(f"{readme} has no results markers ({README_BEGIN} ... {README_END})")
    readme.write_text(text[: start + len(README_BEGIN)] + "\n" + markdown + text[end:])


def publish_docs(
    out: Path, docs: Path, results: dict[str, Any], only: Sequence[str] = (), order: Sequence[str] = ()
) -> dict[str, Any]:
    """Put this report's figures into ``<docs>/figures`` (replacing the report figures there), write
    ``<docs>/results.json`` and ``<docs>/results.md`` (table and figures), and rewrite the README's results section
    (the table) beside the docs folder; with ``only``, just those experiments' entries and figures replace theirs in
    the published results (``order``: the preset's).
    Returns the results published."""
    names = list(only) or list(EXPERIMENTS)
    if only:
        published = docs / "results.json"
        if not published.is_file():
            raise ReportError(
                f"--only updates published results, and {published} does not exist. Fix: publish the whole preset "
                f"first (python -m genmodels.report --preset {results['preset']} --docs {docs})."
            )
        results = merge_results(json.loads(published.read_text()), results, names, order)
    figures = docs / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    for name in names:
        for figure in EXPERIMENTS[name].figures:
            (figures / figure).unlink(missing_ok=True)
    for entry in results["experiments"]:
        if entry["experiment"] in names:
            for figure in entry["figures"]:
                shutil.copy(out / "figures" / figure, figures / figure)
    (figures / FID_FIGURE).unlink(missing_ok=True)
    results = {**results, "figures": [FID_FIGURE] if report_fid_figure(results, figures / FID_FIGURE) else []}
    (docs / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    page = docs / RESULTS_PAGE
    page.write_text(f"# Results of the `{results['preset']}` preset\n\n{render_markdown(results, 'figures')}")
    table = render_markdown(results, f"{docs.name}/figures", with_figures=False)
    link = f"Each experiment's figures beside the report's claims, with its command: [{docs.name}/{RESULTS_PAGE}]"
    update_readme(docs.parent / "README.md", f"{table}\n{link}({docs.name}/{RESULTS_PAGE}).\n")
    return results
