"""The report command: presets compose, the quick preset runs end to end, the published results match the README."""

import json
import re
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from genmodels import report
from genmodels.data.idx import IDXFormatError
from genmodels.errors import command_errors
from genmodels.metrics.inception import InceptionWeightsError
from genmodels.published_results import README_BEGIN, README_END, merge_results, update_readme
from genmodels.report_experiments import EXPERIMENTS
from genmodels.results import (
    FID_FIGURE,
    ReportError,
    fid_per_epoch_figure,
    render_markdown,
    results_entry,
    validation_fid,
)
from tests.helpers import CONFIGS, QUICK_CLASSIFIER, QUICK_EVAL_CLASSIFIER, REPO, compose_train, short_run
from tests.test_train import png_size

# The quick preset shrunk to CI size: a few batches per epoch, small evaluations, a classifier trained in seconds.
TINY_TRAIN = [*short_run(1, 3), *QUICK_CLASSIFIER]
TINY_EVAL = ["metrics.iwae_k=20", "metrics.num_test_images=50", "metrics.num_samples=200", *QUICK_EVAL_CLASSIFIER]


@pytest.mark.parametrize("preset", report.PRESETS)
def test_every_preset_composes(preset, tmp_path, mnist_dir):
    config = report.load_preset(preset)
    assert config.description and set(config.runs) == set(report.EXPERIMENTS)
    for name, run in config.runs.items():
        cfg = compose_train([f"experiment={name}", *run.train], tmp_path, mnist_dir)
        assert cfg.trainer.max_epochs >= 1
        if preset == "quick":  # the short run of debug=quick, figures on
            assert cfg.trainer.limit_train_batches == 60 and list(cfg.figures.sample_epochs) == [1, 3, 5]
            assert cfg.callbacks.samples is not None
        else:  # full epochs, the report's 40 for the VAEs (and for every report experiment in `report`)
            assert cfg.trainer.limit_train_batches is None
            if name.startswith("report_vae") or (preset == "report" and name.startswith("report_")):
                assert cfg.trainer.max_epochs == 40
        if preset == "report":
            assert cfg.data.image_size == (64 if name == "report_dcgan" else 28)
        GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
            compose(config_name="evaluate", overrides=[f"run_dir={tmp_path}", *run.evaluate])
        assert run.minutes.train > 0 and run.minutes.evaluate > 0


def test_cpu_preset_keeps_the_report_vaes_and_shrinks_only_the_dcgan(tmp_path, mnist_dir):
    runs = report.load_preset("cpu").runs
    assert list(runs.report_vae_latent20.train) == [] and list(runs.report_vae_latent2.train) == []
    dcgan = compose_train(["experiment=report_dcgan", *runs.report_dcgan.train], tmp_path, mnist_dir)
    assert dcgan.data.image_size == 32 and dcgan.monitor.metric == "val/fid_clf"


def test_unknown_preset_is_one_message(capsys):
    with pytest.raises(SystemExit) as exited:
        report.main(["--preset", "huge"])
    assert exited.value.code == 2 and "invalid choice: 'huge'" in capsys.readouterr().err


@pytest.mark.slow
def test_quick_preset_end_to_end_then_reused(run_cli, tmp_path, capsys):
    out, docs = tmp_path / "out", tmp_path / "docs"
    (docs / "figures").mkdir(parents=True)
    (docs / "figures" / "other.png").write_bytes(b"not a report figure")
    (tmp_path / "README.md").write_text(f"intro\n{README_BEGIN}\nPLACEHOLDER-SECTION\n{README_END}\nrest\n")
    args = ["--preset", "quick", "--out", str(out), "--docs", str(docs)]
    args += [f"--eval={override}" for override in TINY_EVAL] + ["--", *TINY_TRAIN]
    first = run_cli("genmodels.report", *args, timeout=900).stdout
    assert "[1/12] report_vae_latent20 train: trained" in first and "left" in first
    assert "[12/12] cvae evaluate: evaluated" in first

    results = json.loads((docs / "results.json").read_text())
    assert results == json.loads((out / "results.json").read_text())
    assert results["preset"] == "quick" and [e["experiment"] for e in results["experiments"]] == list(
        report.EXPERIMENTS
    )
    for entry in results["experiments"]:
        assert entry["epochs"] == 1 and entry["train_wall_time_s"] > 0 and entry["device"].startswith("cpu")
        assert entry["checkpoint_epoch"] == 1
        assert entry["commands"]["train"].startswith(f"python -m genmodels.train experiment={entry['experiment']}")
        assert all({"value", "floor"} == set(metric) for metric in entry["metrics"].values())
        for figure in entry["figures"]:
            assert (docs / "figures" / figure).is_file()
    dcgan = results["experiments"][2]
    assert dcgan["checkpoint"].startswith("best-epoch") and "fid_classifier" in dcgan["metrics"]
    assert "test_iwae_nll" in results["experiments"][0]["metrics"]
    assert (docs / "figures" / "other.png").read_bytes() == b"not a report figure"  # other figures stay
    assert results["figures"] == [FID_FIGURE] and (docs / "figures" / FID_FIGURE).is_file()
    readme = (tmp_path / "README.md").read_text()
    assert readme.startswith("intro\n") and readme.endswith("rest\n") and "PLACEHOLDER-SECTION" not in readme
    assert render_markdown(results, "docs/figures", with_figures=False) in readme and "docs/results.md" in readme
    assert (docs / "results.md").read_text().endswith(render_markdown(results, "figures"))

    capsys.readouterr()
    assert report.main(args) == 0  # the same command again, in this process: every stage is reused
    assert capsys.readouterr().out.count(": reused in") == 12


def test_validation_fid_is_read_with_its_floor_and_sample_count(tmp_path):
    rows = {
        "gan": {"2": {"val/fid_clf": 40.0, "val/fid_clf_floor": 0.5}, "1": {"val/fid_clf": 90.0}},
        "vae": {"1": {"val/kl": 3}},
    }
    for name, curve in rows.items():
        (tmp_path / name / "figures").mkdir(parents=True)
        (tmp_path / name / "figures" / "curves.json").write_text(json.dumps(curve))
        (tmp_path / name / ".hydra").mkdir()
        (tmp_path / name / ".hydra" / "config.yaml").write_text("callbacks: {sample_quality: {num_samples: 300}}\n")
    gan = validation_fid(tmp_path / "gan")
    assert gan == {"samples": 300, "floor": 0.5, "per_epoch": {1: 90.0, 2: 40.0}}
    assert validation_fid(tmp_path / "vae") is None and validation_fid(tmp_path / "missing") is None
    assert fid_per_epoch_figure({"gan": gan, "vae": None}, "a title", tmp_path / "fid.png")
    assert png_size(tmp_path / "fid.png")[0] > 300
    assert not fid_per_epoch_figure({"vae": None}, "a title", tmp_path / "none.png")
    assert not (tmp_path / "none.png").exists()


def test_stage_clock_estimates_from_the_pace_of_stages_run(capsys, monkeypatch, tmp_path):
    now = iter([0.0, 0.0, 120.0, 120.0, 120.0, 120.0, 120.0])
    monkeypatch.setattr(report.time, "perf_counter", lambda: next(now))
    timings = tmp_path / "stage_seconds.json"
    timings.write_text('{"a evaluate": 30.0}')
    clock = report.StageClock([1.0, 2.0, 3.0], timings)
    assert clock.run("a train", lambda: ("trained", ["x=1"])) == ["x=1"]  # took 120 s: twice the expected minute
    clock.run("a evaluate", lambda: ("reused", []))  # a reused stage neither changes the pace nor its time
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "[1/3] a train: trained in 2 min · elapsed 2 min · about 10 min left"
    assert lines[1].startswith("[2/3] a evaluate: reused in 0 s") and lines[1].endswith("about 6 min left")
    assert json.loads(timings.read_text()) == {"a evaluate": 30.0, "a train": 120.0}


def test_readme_block_is_rewritten_between_its_markers_only(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{README_BEGIN}\nold\n{README_END}\nrest\n")
    update_readme(readme, "new\n")
    assert readme.read_text() == f"intro\n{README_BEGIN}\nnew\n{README_END}\nrest\n"
    readme.write_text("no markers\n")
    with pytest.raises(ReportError, match="has no results markers"):
        update_readme(readme, "new\n")


def test_published_results_match_the_readme():
    """The README's results section is the rendering of docs/results.json (the front page cannot drift); without
    published results the section is empty (nothing unmeasured is shown)."""
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index(README_BEGIN) + len(README_BEGIN) : readme.index(README_END)]
    published = REPO / "docs" / "results.json"
    if not published.exists():
        assert section.strip() == ""
        return
    results = json.loads(published.read_text())
    assert section.strip().startswith(render_markdown(results, "docs/figures", with_figures=False).strip())
    assert (REPO / "docs" / "results.md").read_text().endswith(render_markdown(results, "figures"))
    for entry in results["experiments"]:
        for figure in entry["figures"]:
            assert (REPO / "docs" / "figures" / figure).is_file()


def published_results() -> dict:
    return json.loads((REPO / "docs" / "results.json").read_text())


def test_results_footnote_names_the_iwae_k_of_the_likelihoods_only():
    results = published_results()
    ks = {e["eval_settings"]["iwae_k"] for e in results["experiments"] if "test_iwae_nll" in e["metrics"]}
    assert ks and f"IWAE with k = {', '.join(str(k) for k in sorted(ks))})" in render_markdown(results, "figures")
    gan = {**results["experiments"][0], "metrics": {}, "eval_settings": {"iwae_k": 7}}  # scored no likelihood
    with_gan = {**results, "experiments": [*results["experiments"], gan]}
    assert "k = 7" not in render_markdown(with_gan, "figures")


def test_results_show_the_inception_fid_with_its_sample_count_only_where_measured():
    entries = [
        {**e, "metrics": {k: v for k, v in e["metrics"].items() if k != "inception_fid"}}
        for e in published_results()["experiments"]
    ]
    without = render_markdown({**published_results(), "experiments": entries}, "figures")
    assert "FID (Inception)" not in without
    gan = {
        **entries[0],
        "metrics": {**entries[0]["metrics"], "inception_fid": {"value": 12.345, "floor": 1.5}},
        "eval_settings": {**entries[0]["eval_settings"], "inception_samples": 2000},
    }
    with_fid = render_markdown({**published_results(), "experiments": [gan, *entries[1:]]}, "figures")
    assert "| FID (Inception) |" in with_fid and "12.35 (1.50)" in with_fid
    assert "2,000 samples against as many test images" in with_fid and "6.8" in with_fid


def test_readme_bars_quote_the_published_results():
    """Each number the README's table of bars gives as measured (rows not marked as an earlier run) is a value,
    floor or standard error of docs/results.json at the same decimals (a share: as a percentage)."""
    readme = (REPO / "README.md").read_text()
    table = readme.split("Measured against the bars")[1].split("\n\n")[1]
    published = set()
    for entry in published_results()["experiments"]:
        for metric in entry["metrics"].values():
            numbers = [number for number in metric.values() if number is not None]
            published |= {f"{number:.{d}f}" for number in numbers for d in (2, 3)}
            published |= {f"{100 * number:.1f}" for number in numbers}  # a share as a percentage
    rows = [row.split("|") for row in table.splitlines()[2:] if "earlier run" not in row]
    quoted = [number for row in rows for number in re.findall(r"\d+\.\d+", row[4])]
    assert len(quoted) >= 12 and set(quoted) <= published


@pytest.mark.parametrize("error", [ReportError, InceptionWeightsError, IDXFormatError])
def test_the_projects_errors_end_a_command_in_one_line(error, capsys):
    with pytest.raises(SystemExit) as exited, command_errors():
        raise error("the cause. Fix: the fix")
    assert exited.value.code == 1 and capsys.readouterr().err == "error: the cause. Fix: the fix\n"


def fake_run(run_dir: Path, name: str, fid: float) -> None:
    """A finished, evaluated run of experiment ``name`` as the report finds one (reused, not trained): its config,
    ``metrics.json`` with an evaluation scoring FID ``fid``, the figures the report copies and, for a GAN, the
    validation FID per epoch. A conditional experiment's also scores the conditional accuracy."""
    conditional = name in ("cpu_cgan", "cvae")
    model = {"num_classes": 10 if conditional else None, **({"generator": {}} if "gan" in name else {})}
    (run_dir / ".hydra").mkdir(parents=True)
    OmegaConf.save({"model": model, "figures": {"sample_epochs": [1]}}, run_dir / ".hydra" / "config.yaml")
    metrics, floors = {"fid_classifier": fid, "inception_score": 9.5}, {"fid_classifier": 0.7, "inception_score": 9.75}
    if conditional:
        metrics["conditional_accuracy"], floors["conditional_accuracy"] = 0.987, 0.9925
    evaluation = {
        "metrics": metrics,
        "floors": floors,
        "timings_s": {"total": 30.0 + fid},
        "checkpoint": str(run_dir / "checkpoints" / "last.ckpt"),
        "checkpoint_epoch": 2,
        "settings": report.requested_settings(list(report.load_preset("cpu").runs[name].evaluate)),
    }
    summary = {"model": "GAN", "latent": 64, "image_size": 28, "epochs": 2, "binarization_note": "none"}
    summary |= {"device": "cpu", "fit_wall_time_s": 600.0 + fid, "seconds_per_epoch": 300.0, "eval": evaluation}
    (run_dir / "metrics.json").write_text(json.dumps(summary))
    for source in EXPERIMENTS[name].figures.values():
        (run_dir / source).parent.mkdir(parents=True, exist_ok=True)
        (run_dir / source).write_bytes(f"{name} {source} {fid}".encode())
    if "gan" in name:
        (run_dir / "figures" / "curves.json").write_text(json.dumps({"1": {"val/fid_clf": fid}}))


def test_only_some_experiments_are_published_again_the_others_kept(tmp_path, capsys):
    """--only runs (here: reuses) the experiments it names and replaces only their published entries and figures:
    the preset's order kept, the other experiments' entries and figures as they were, the README rewritten."""
    order = list(report.load_preset("cpu").runs)
    docs = tmp_path / "docs"
    (tmp_path / "README.md").write_text(f"intro\n{README_BEGIN}\n{README_END}\n")
    for name in order:
        fake_run(tmp_path / "all" / "runs" / name, name, fid=10.0)
    assert report.main(["--preset", "cpu", "--out", str(tmp_path / "all"), "--docs", str(docs)]) == 0
    before = json.loads((docs / "results.json").read_text())
    figures_before = {path.name: path.read_bytes() for path in (docs / "figures").iterdir()}
    assert before["stage_seconds"]["cpu_gan train"] == 610.0  # a reused run made elsewhere counts its own time

    again = ["cpu_cgan", "cvae"]
    for name in again:
        fake_run(tmp_path / "some" / "runs" / name, name, fid=2.0)
    args = ["--preset", "cpu", "--out", str(tmp_path / "some"), "--only", *again, "--docs", str(docs)]
    assert report.main(args) == 0
    assert "[2/4] cpu_cgan evaluate: reused" in capsys.readouterr().out

    after = json.loads((docs / "results.json").read_text())
    assert [entry["experiment"] for entry in after["experiments"]] == order
    for old, new in zip(before["experiments"], after["experiments"]):
        fid = new["metrics"]["fid_classifier"]["value"]
        assert (fid == 2.0, new == old) == ((True, False) if new["experiment"] in again else (False, True))
    assert after["stage_seconds"]["cvae train"] == 602.0 and after["stage_seconds"]["cpu_gan train"] == 610.0
    assert after["wall_time_s"] == round(sum(after["stage_seconds"].values()), 1)
    for name, content in figures_before.items():
        replaced = any(name in EXPERIMENTS[experiment].figures for experiment in again) or name == FID_FIGURE
        assert ((docs / "figures" / name).read_bytes() == content) != replaced, name
    assert (docs / "figures" / "cvae_analogies.png").read_bytes() == b"cvae figures/analogies.png 2.0"
    section = (tmp_path / "README.md").read_text().removeprefix(f"intro\n{README_BEGIN}\n")
    assert section.startswith(render_markdown(after, "docs/figures", with_figures=False))
    assert (docs / "results.md").read_text().endswith(render_markdown(after, "figures"))


def test_only_names_experiments_of_the_preset_and_updates_published_results(tmp_path, capsys):
    out = ["--preset", "cpu", "--out", str(tmp_path / "out")]
    assert report.main([*out, "--only", "cpu_gann"]) == 1
    assert capsys.readouterr().err.startswith("error: --only cpu_gann: not in preset cpu (it runs [")
    fake_run(tmp_path / "out" / "runs" / "cvae", "cvae", fid=2.0)
    assert report.main([*out, "--only", "cvae", "--docs", str(tmp_path / "docs")]) == 1  # nothing published yet
    error = f"error: --only updates published results, and {tmp_path / 'docs' / 'results.json'} does not exist."
    assert capsys.readouterr().err.startswith(error)
    published = {"preset": "quick", "experiments": [], "stage_seconds": {}}
    with pytest.raises(ReportError, match="the published results are of preset 'quick', not 'cpu'"):
        merge_results(published, {**published, "preset": "cpu"}, ["cvae"], ["cvae"])


def test_the_conditional_accuracy_column_shows_for_conditional_runs_with_the_note_on_is(tmp_path):
    fake_run(tmp_path / "cpu_gan", "cpu_gan", fid=3.0)
    fake_run(tmp_path / "cpu_cgan", "cpu_cgan", fid=2.0)
    commands = {"train": "python -m genmodels.train", "evaluate": "python -m genmodels.evaluate"}
    entries = {name: results_entry(name, "cpu", tmp_path / name, commands, []) for name in ("cpu_gan", "cpu_cgan")}
    results = {"preset": "cpu", "description": "d", "wall_time_s": 60.0, "device": "cpu", "figures": []}
    unconditional = render_markdown({**results, "experiments": [entries["cpu_gan"]]}, "figures")
    assert "conditional accuracy" not in unconditional and "IS can exceed" not in unconditional
    both = render_markdown({**results, "experiments": list(entries.values())}, "figures")
    header, _, gan, cgan = both.splitlines()[2:6]
    assert "| FID (clf) | conditional accuracy (%) | IS (clf) |" in header
    assert "| 3.00 (0.70) |  | 9.50 (9.75) |" in gan and "| 2.00 (0.70) | 98.7 (99.2) | 9.50 (9.75) |" in cgan
    assert "A conditional model's IS can exceed the real images' IS" in both
    assert "the conditional GAN (latent 64) at 28×28, samples after epochs 1 and 2 of 2, a row per class" in both


def test_an_evaluation_is_reused_only_with_the_settings_asked_for(tmp_path, monkeypatch):
    run_dir = tmp_path / "runs" / "cpu_gan"
    fake_run(run_dir, "cpu_gan", fid=3.0)
    calls = []
    monkeypatch.setattr(report, "run_module", lambda module, args, log: calls.append((module, args)))
    assert report.evaluate_stage("cpu_gan", [], run_dir, fresh=False)[0] == "reused" and not calls
    done, args = report.evaluate_stage("cpu_gan", ["metrics.inception_fid=true"], run_dir, fresh=False)
    assert done == "evaluated" and calls == [("genmodels.evaluate", [*args, "progress=false"])]
