"""The README's table of a run folder names every file a real run writes."""

import re

from tests.helpers import REPO, short_run


def readme_patterns() -> list[re.Pattern]:
    """One pattern per path of the table's first column: `NNN` a number, `{a,b}` either, a trailing `/` a folder;
    a name without a folder after the first of its cell is in that one's folder."""
    readme = (REPO / "README.md").read_text()
    table = readme.split("| path | content |")[1].split("\n\n")[0]
    patterns = []
    for row in table.splitlines()[2:]:
        names = re.findall(r"`([^`]+)`", row.split("|")[1])
        folder = names[0].rpartition("/")[0]
        for name in names:
            path = name if "/" in name or not folder else f"{folder}/{name}"
            regex = re.escape(path).replace("NNN", r"\d{3}")
            regex = re.sub(r"\\\{(.+?)\\\}", lambda m: "(" + m.group(1).replace(",", "|") + ")", regex)
            patterns.append(re.compile(regex + (".*" if path.endswith("/") else "")))
    return patterns


def test_readme_table_names_every_file_of_a_run(run_main, tmp_path):
    run_dir = tmp_path / "run"
    run_main("genmodels.train", "latent=2", *short_run(1, 2), f"hydra.run.dir={run_dir}")
    written = sorted(str(path.relative_to(run_dir)) for path in run_dir.rglob("*") if path.is_file())
    patterns = readme_patterns()
    assert len(written) > 15 and len(patterns) > 15
    assert [path for path in written if not any(p.fullmatch(path) for p in patterns)] == []
