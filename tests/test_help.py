"""Every entry point's --help: short, what it does, its groups or keys, examples; no config internals."""

import pytest

from genmodels import compare, report
from genmodels.data import __main__ as data_cli


def test_train_help_lists_groups_keys_examples_and_outputs(run_cli):
    shown = run_cli("genmodels.train", "--help").stdout
    for group in ("data: fashion_mnist, mnist", "model: dcgan, vae", "trainer: cpu, ddp, default, gpu", "experiment:"):
        assert group in shown
    section = shown.split("Keys people change most")[1].split("Examples:")[0]
    keys = [line.split()[0] for line in section.splitlines() if line.startswith("  ")]
    assert len(keys) == 10 and all("=" in key for key in keys) and "trainer.max_epochs=5" in keys
    assert shown.count("python -m genmodels.train ") >= 4  # the usage line and three examples
    assert "outputs/train/runs/" in shown
    assert "_target_" not in shown and len(shown.splitlines()) < 45


def test_evaluate_help_shows_its_keys_not_the_training_groups(run_cli):
    shown = run_cli("genmodels.evaluate", "--help").stdout
    assert "run_dir=<run folder>" in shown and "metrics.iwae_k=" in shown and "eval.json" in shown
    for training_group in ("model:", "trainer:", "callbacks:", "experiment:", "_target_"):
        assert training_group not in shown


@pytest.mark.parametrize("main", [report.main, compare.main, data_cli.main], ids=["report", "compare", "data"])
def test_argparse_help_has_no_raw_markup_and_explains_every_option(main, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    shown = capsys.readouterr().out
    assert "`" not in shown
    options = shown.split("options:")[1]
    assert "--dataset" not in options or "the dataset (default: mnist)" in options


def test_report_help_says_how_long_each_mode_takes(capsys):
    with pytest.raises(SystemExit):
        report.main(["--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert "about 17 hours on 2 CPU cores" in shown and "14 minutes on 2 CPU cores" in shown
