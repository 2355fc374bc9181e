"""Report experiments compose and run; the compare command tabulates a real (tiny) sweep."""

import json
import logging
import shutil
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from genmodels import compare
from genmodels.tables import format_duration
from genmodels.train import train
from tests.helpers import CONFIGS, QUICK_CLASSIFIER, REPO, SMALL_DCGAN, short_run

# On MNIST; the CIFAR-10 ones run on a generated archive in test_cifar10.py.
EXPERIMENTS = sorted(p.stem for p in (CONFIGS / "experiment").glob("*.yaml") if not p.stem.startswith("cifar10_"))


def test_every_report_experiment_is_a_config():
    from genmodels.report import EXPERIMENTS as REPORT

    assert set(REPORT) <= set(EXPERIMENTS)


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_shortened_experiment_runs_and_draws_its_figures(train_config, caplog, name):
    """In this process, shortened (the curves, redrawn after every epoch, left out); test_report runs them too."""
    full = train_config([f"experiment={name}"]).trainer
    if name.startswith("report_"):
        assert full.max_epochs == 40  # the report's
    elif name.startswith("binarized"):
        assert full.max_time is not None  # a wall-clock budget
    small = [*SMALL_DCGAN[1:], "callbacks.sample_quality.num_samples=200"] if "gan" in name else []
    small += QUICK_CLASSIFIER  # a GAN's sample scores
    cfg = train_config([f"experiment={name}", *short_run(2, 2)[:4], "~logger", "~callbacks.curves", *small])
    with caplog.at_level(logging.WARNING):
        train(cfg)
    run = Path(cfg.paths.output_dir)
    figures = run / "figures"
    model = json.loads((run / "metrics.json").read_text())["model"]
    assert model == ("GAN" if "gan" in name else "VAE")
    assert (figures / "interpolation.png").exists() and (figures / "reconstructions.png").exists() == (model != "GAN")
    # The report's epochs beyond the run are dropped with one warning; the first and the last are drawn.
    assert sorted(p.name for p in (figures / "samples").glob("*_mean.png")) == [
        "epoch_001_mean.png",
        "epoch_002_mean.png",
    ]
    assert (figures / "samples_by_epoch_mean.png").exists()
    assert caplog.text.count("beyond trainer.max_epochs=2") == 1


def test_the_binarized_benchmark_holds_the_literature_settings(train_config):
    cfg = train_config(["experiment=binarized_vae"])
    assert cfg.data.binarize == "dynamic" and cfg.latent == 50
    assert cfg.model.encoder.hidden_dims == cfg.model.decoder.hidden_dims == [500, 500]  # the decoder mirrors it
    assert cfg.model.scheduler._target_ == "torch.optim.lr_scheduler.ExponentialLR"
    assert cfg.trainer.max_time == "00:00:45:00" and cfg.trainer.max_epochs >= 1000  # the clock stops the run
    assert cfg.model.iwae_k == 1  # a single run trains with the ELBO; the sweep (-m) also with the IWAE bound:
    sweep = OmegaConf.load(CONFIGS / "experiment" / "binarized_vae.yaml").hydra.sweeper.params
    assert sweep == {"model.iwae_k": "1,5"}


def test_binarized_likelihoods_in_the_docs_are_the_published_ones():
    """Each measured row of the binarized-MNIST table in docs/experiments.md carries the epochs, fit time and IWAE NLL
    (with its standard error) of docs/binarized_mnist.json, and is the objective that file says."""
    published = json.loads((REPO / "docs" / "binarized_mnist.json").read_text())
    page = (REPO / "docs" / "experiments.md").read_text()
    rows = [line for line in page.splitlines() if line.startswith("| genmodels, `experiment=binarized_")]
    assert len(rows) == len(published["runs"]) == 3
    for row, run in zip(rows, published["runs"], strict=True):
        likelihood, settings = run["evaluation"]["metrics"], run["evaluation"]["settings"]
        assert settings["iwae_k"] == 5000 and run["overrides"][-1].removeprefix("experiment=") in row
        images = settings["num_test_images"]  # the literature's protocol is all of them; a subset is stated
        assert ("all 10,000 test images" if images is None else f"first {images:,} test images") in row
        assert f"| {run['epochs']} |" in row and run["objective"] in row
        assert format_duration(run["fit_wall_time_s"]) in row
        assert f"{likelihood['test_iwae_nll']:.2f} ± {likelihood['test_iwae_nll_sem']:.2f}" in row


def test_a_run_with_the_iwae_bound_logs_it_as_its_training_loss(train_config):
    cfg = train_config(
        ["experiment=binarized_vae", "model.iwae_k=5", "trainer.fast_dev_run=true", "callbacks=none", "~logger"]
    )
    metrics, _ = train(cfg)
    assert metrics["train/loss"] == pytest.approx(metrics["train/neg_iwae_bound"])  # one batch: the same loss
    assert metrics["train/neg_elbo"] == pytest.approx(metrics["train/recon"] + metrics["train/kl"])  # still the ELBO
    assert "val/neg_iwae_bound" not in metrics and "val/neg_elbo" in metrics


def test_compare_writes_table_and_plot(cli_sweep, tmp_path):
    assert compare.main([str(cli_sweep), "--out", str(tmp_path)]) == 0
    table = (tmp_path / "comparison.md").read_text()
    assert "latent=2" in table and "latent=5" in table and "test -ELBO" in table
    rows = (tmp_path / "comparison.csv").read_text().splitlines()
    assert len(rows) == 3 and rows[1].split(",")[2] == "2" and rows[2].split(",")[2] == "5"
    assert (tmp_path / "comparison.png").stat().st_size > 1000


def test_compare_names_missing_and_failed_jobs(cli_sweep, tmp_path):
    sweep = tmp_path / "sweep"
    shutil.copytree(cli_sweep, sweep)
    (sweep / "1" / "metrics.json").unlink()
    failed = sweep / "2"
    shutil.copytree(sweep / "0" / ".hydra", failed / ".hydra")
    (failed / "failed.json").write_text(json.dumps({"error": "ValueError: boom"}))
    assert compare.main([str(sweep)]) == 0
    table = (sweep / "comparison.md").read_text()
    assert "`1` (latent=5): incomplete" in table and "`2` (latent=2): failed: ValueError: boom" in table
    assert len((sweep / "comparison.csv").read_text().splitlines()) == 4


def test_compare_rejects_a_non_sweep(tmp_path, capsys):
    assert compare.main([str(tmp_path / "nope")]) == 1
    assert "not a folder" in capsys.readouterr().err
    assert compare.main([str(Path(tmp_path))]) == 1


def test_compare_tabulates_and_plots_sample_quality(tmp_path):
    sweep = tmp_path / "sweep"
    for job, (model, fid) in enumerate([("dcgan", 120.0), ("gan_mlp", 300.0)]):
        folder = sweep / str(job)
        (folder / ".hydra").mkdir(parents=True)
        (folder / ".hydra" / "overrides.yaml").write_text(f"- model={model}\n- experiment=report_gan_comparison\n")
        summary = dict(latent=100, epochs=5, train_batches_per_epoch=40, fit_wall_time_s=600.0 + job)
        summary |= dict(seconds_per_epoch=120.0, device="cpu", metrics={"train/d_loss": 1.0})
        summary["eval"] = {"metrics": {"fid_classifier": fid, "inception_score": 4.0, "precision": 0.6, "recall": 0.4}}
        (folder / "metrics.json").write_text(json.dumps(summary))
    assert compare.main([str(sweep)]) == 0
    table = (sweep / "comparison.md").read_text().splitlines()
    assert table[0] == (
        "| job | overrides | latent | epochs | batches/epoch | FID (MNIST clf) | IS (MNIST clf) | precision | recall "
        "| fit s | s/epoch | device |"
    )
    assert table[2] == "| 0 | model=dcgan | 100 | 5 | 40 | 120.00 | 4.0000 | 0.6000 | 0.4000 | 600.0 | 120.0 | cpu |"
    assert table[3].startswith("| 1 | model=gan_mlp | 100 | 5 | 40 | 300.00 |")
    assert (sweep / "comparison_sample_quality.png").stat().st_size > 1000
    assert not (sweep / "comparison.png").exists()  # no likelihoods to plot against the latent size


def test_gan_ablation_in_the_docs_is_the_published_one():
    """Each row of the GAN ablation table in docs/experiments.md carries the scores of docs/gan_ablation.json."""
    rows = json.loads((REPO / "docs" / "gan_ablation.json").read_text())["rows"]
    page = (REPO / "docs" / "experiments.md").read_text().splitlines()
    lines = {line.split("|")[1].strip(" `"): line for line in page if line.startswith("| `")}
    for row in rows:
        line = lines[row["variant"]]
        assert f"| {row['fid_classifier']:.2f} | {row['inception_score']:.2f} | {row['precision']:.3f} |" in line
