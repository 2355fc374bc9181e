"""Atomic writes: a full disk while a figure is written gives one line naming the file and the space needed, no
half-written PNG; a written file has the permissions a new file would have."""

import errno
import os
import threading

import pytest

from genmodels.errors import command_errors
from genmodels.runs import atomic
from tests.helpers import short_run

FIGURE = "epoch_001_mean.png"


class FullDisk:
    """A file opened for writing on a full disk: every write fails as the OS would fail it."""

    def __init__(self, file):
        self.file = file

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.file.close()

    def write(self, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


FIGURES_OFF = [f"~callbacks.{name}" for name in ("reconstructions", "manifold", "latent_scatter", "interpolation")]
RUN = [*short_run(1, 2), "latent=2", "~logger", "trainer.enable_progress_bar=true", *FIGURES_OFF]


def full_disk_for(monkeypatch, *names: str) -> None:
    """Atomic writes of files whose name holds one of ``names`` fail as on a full disk."""
    real = os.fdopen

    def fdopen(fd, *args, **kwargs):
        file, path = real(fd, *args, **kwargs), os.readlink(f"/proc/self/fd/{fd}")
        return FullDisk(file) if any(name in path for name in names) else file

    monkeypatch.setattr(atomic.os, "fdopen", fdopen)


def test_a_full_disk_at_a_figure_prints_one_line_and_leaves_no_empty_png(run_main, tmp_path, monkeypatch):
    full_disk_for(monkeypatch, FIGURE)
    run = tmp_path / "run"
    result = run_main("genmodels.train", *RUN, f"hydra.run.dir={run}", check=False)

    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    lines = result.stderr.split("\n")
    errors = [line for line in lines if "error:" in line]
    assert len(errors) == 1 and errors[0].startswith(f"error: cannot write {FIGURE} into {run / 'figures'}")
    assert "No space left on device" in errors[0] and "bytes needed" in errors[0]
    assert "Epoch" not in "\n".join(lines[lines.index(errors[0]) :])  # the bar closed before the error, not redrawn
    assert not [path for path in run.rglob("*.png*") if FIGURE in path.name]  # no empty PNG, no .partial
    assert (run / "failed.json").is_file()  # the cause recorded in the new run's folder


def test_a_failed_json_that_cannot_be_written_is_noted_after_the_cause(run_main, tmp_path, monkeypatch):
    full_disk_for(monkeypatch, FIGURE, "failed.json")
    run = tmp_path / "run"
    result = run_main("genmodels.train", *RUN, f"hydra.run.dir={run}", check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    cause, note = result.stderr.strip().split("\n")[-2:]
    assert cause.startswith(f"error: cannot write {FIGURE}")
    assert note.startswith("note: not recorded in failed.json: cannot write failed.json")
    assert not (run / "failed.json").exists()


def test_a_writer_thread_on_a_full_disk_is_reported_once_by_its_owner(capsys):
    def writer():  # as TensorBoard's writer thread fails; its owner gets the same error on the next write
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(SystemExit) as stopped, command_errors():
        thread = threading.Thread(target=writer)
        thread.start()
        thread.join()
        writer()
    assert stopped.value.code == 1
    assert capsys.readouterr().err.splitlines() == [
        "error: cannot write a file of the run (e.g. its TensorBoard events): No space left on device. "
        "Fix: free space there, then run the same command again."
    ]


def test_an_atomic_write_gives_a_new_file_the_umasks_mode_and_keeps_an_old_files(tmp_path):
    previous = os.umask(0o027)
    try:
        new = atomic.write_atomic(tmp_path / "new.json", b"{}")
        assert new.stat().st_mode & 0o777 == 0o640  # not the temporary file's 0600
        new.chmod(0o604)
        atomic.write_atomic(new, b"[]")
        assert new.stat().st_mode & 0o777 == 0o604 and new.read_bytes() == b"[]"
    finally:
        os.umask(previous)
