"""Labels name what was used: no likelihood targets for a GAN, the classifier's own dataset, plain axis ticks."""

from pathlib import Path

import matplotlib.pyplot as plt

from genmodels import compare
from genmodels.data.mnist import MNISTDataModule
from genmodels.evaluation.publish import print_table, table_markdown, table_rows
from genmodels.runs.info import targets_note
from tests.helpers import mlp_vae, small_dcgan

SETTINGS = {"elbo_samples": 10, "iwae_k": 5000, "pr_k": 3, "inception_samples": 2000}


def evaluation(model, dataset: str, metrics: dict[str, float]) -> dict:
    """An evaluate() result as it is printed, for a model and dataset."""
    return {
        "model": type(model).__name__,
        "run_dir": "/runs/x",
        "dataset": dataset,
        "binarization_note": targets_note(model, MNISTDataModule(dataset=dataset)),
        "settings": SETTINGS,
        "metrics": metrics,
        "floors": {},
        "details": {},
        "timings_s": {"total": 1.0},
    }


def test_a_vae_evaluation_states_its_targets_and_a_gan_evaluation_names_none(capsys):
    print_table(evaluation(mlp_vae(latent_dim=2), "mnist", {"test_neg_elbo": 150.0, "test_iwae_nll": 145.0}))
    assert "Targets: grey-level targets in [0, 1]" in capsys.readouterr().out
    result = evaluation(small_dcgan(), "mnist", {"fid_classifier": 120.0, "classifier_test_accuracy": 0.993})
    assert result["binarization_note"] == "not applicable: GAN has no likelihood"
    print_table(result)
    shown = capsys.readouterr().out + table_markdown(result)
    assert "grey-level" not in shown and "binarized" not in shown and "Targets" not in shown
    assert "FID (MNIST classifier)" in shown


def test_fashion_mnist_scores_name_the_fashion_classifier():
    gan = small_dcgan()
    metrics = {"fid_classifier": 80.0, "inception_score": 5.0, "classifier_test_accuracy": 0.913}
    labels = {row[0]: row[1] for row in table_rows(evaluation(gan, "fashion_mnist", metrics))}
    assert labels["FID (Fashion-MNIST classifier)"] == "80.00"
    assert labels["Inception Score (Fashion-MNIST classifier)"] == "5.0000"
    assert labels["Fashion-MNIST classifier test accuracy"] == "0.9130"
    assert not any(label.startswith("FID (MNIST") for label in labels)


def finished_job(folder: Path, latent: int, dataset: str) -> compare.Job:
    numbers = {"test/neg_elbo": 100.0 + latent, "eval.fid_classifier": 50.0, "eval.test_iwae_nll": 95.0 + latent}
    summary = {"latent": latent, "epochs": 1, "dataset": dataset}
    return compare.Job(folder / str(latent), [f"latent={latent}"], "ok", summary=summary, numbers=numbers)


def test_compare_names_the_classifier_dataset(tmp_path):
    markdown, _ = compare.write_table([finished_job(tmp_path, 2, "fashion_mnist")], tmp_path)
    assert "FID (Fashion-MNIST clf)" in markdown.read_text() and "| 102.00 |" in markdown.read_text()
    jobs = [finished_job(tmp_path, 2, "fashion_mnist"), finished_job(tmp_path, 5, "mnist")]
    markdown, _ = compare.write_table(jobs, tmp_path)
    assert "FID (own dataset's clf)" in markdown.read_text()


def test_comparison_plot_labels_latent_sizes_as_plain_numbers(tmp_path):
    figure = compare.likelihood_figure([finished_job(tmp_path, latent, "mnist") for latent in (2, 3, 5, 20)])
    figure.canvas.draw()
    axis = figure.axes[0]
    assert [label.get_text() for label in axis.get_xticklabels()] == ["2", "3", "5", "20"]
    assert not any(label.get_text() for label in axis.get_xticklabels(minor=True))  # no 3x10^0
    plt.close(figure)
