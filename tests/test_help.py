"""Every entry point's --help: short, what it does, its groups or keys, examples; no config internals."""

import re

import pytest
from omegaconf import OmegaConf

from genmodels import compare
from genmodels.data import __main__ as data_cli
from tests.helpers import CONFIGS, REPO, compose_evaluate


def test_train_help_lists_groups_keys_examples_and_outputs(run_main):
    shown = run_main("genmodels.train", "--help").stdout
    for group in ("model", "data", "trainer", "experiment", "debug"):  # every option, from configs/<group>/
        options = sorted(path.stem for path in (CONFIGS / group).glob("*.yaml"))
        assert f"{group}: {', '.join(options)}" in shown
    for internal in ("model/gan", "report:", "classifier:", "hydra/"):
        assert internal not in shown
    section = shown.split("Keys people change most")[1].split("Examples:")[0]
    keys = [line.split()[0] for line in section.splitlines() if line.startswith("  ")]
    assert len(keys) == 10 and all("=" in key for key in keys) and "trainer.max_epochs=5" in keys
    assert shown.count("python -m genmodels.train ") >= 4  # the usage line and three examples
    assert "outputs/train/runs/<date>_<time>_<id>/" in shown
    assert "_target_" not in shown and len(shown.splitlines()) < 45


def test_evaluate_help_shows_its_keys_not_the_training_groups(run_main):
    shown = run_main("genmodels.evaluate", "--help").stdout
    assert "run_dir=<run folder>" in shown and "metrics.iwae_k=" in shown and "metrics.json" in shown
    assert "metrics.likelihood=false       skip the likelihood bounds [auto" in shown
    for training_group in ("model:", "trainer:", "callbacks:", "experiment:", "_target_"):
        assert training_group not in shown


def test_evaluate_help_and_docs_state_the_config_defaults():
    """Each bracketed default of `evaluate --help` is the composed config's (a null default is said in words), and
    docs/evaluation.md names the default checkpoint choice."""
    template = OmegaConf.load(CONFIGS / "hydra" / "help" / "evaluate.yaml").template
    keys = template.split("the default in brackets):")[1].split("Examples:")[0]
    stated = re.findall(r"^  ([\w.]+)=\S+[^\[\n]*\[([^\]:]+)", keys, flags=re.MULTILINE)
    defaults = compose_evaluate([])
    assert len(stated) >= 10 and "checkpoint" in dict(stated)
    for key, default in stated:
        value = OmegaConf.select(defaults, key)
        if value is not None:
            assert default.split()[0] == str(value).lower(), key
    assert f"`checkpoint={defaults.checkpoint}` by default" in (REPO / "docs" / "evaluation.md").read_text()


@pytest.mark.parametrize("main", [compare.main, data_cli.main], ids=["compare", "data"])
def test_argparse_help_has_no_raw_markup_and_explains_every_option(main, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    shown = capsys.readouterr().out
    assert "`" not in shown
    options = shown.split("options:")[1]
    assert "--dataset" not in options or "the dataset (default: mnist)" in options


def test_sample_help_shows_its_keys_formats_and_examples(run_main):
    shown = run_main("genmodels.sample", "--help").stdout
    for key in ("run_dir=", "num=", "format=", "out=", "seed=", "label=", "reconstruct=", "overwrite=", "device="):
        assert f"\n  {key}" in shown, key
    assert "png" in shown and "npz" in shown and "grid" in shown and "samples.json" in shown
    assert shown.count("python -m genmodels.sample ") >= 4  # the usage line and three examples
    for training_group in ("model:", "trainer:", "callbacks:", "_target_"):
        assert training_group not in shown
