"""No file of the repository names a folder of one machine: tests and docs travel.

Why: a test that reads a shared folder or a home folder by absolute path passes on the machine that
wrote it and skips or fails everywhere else. Test data lives in ``tests/data/``; examples
use relative paths or ``/tmp``. System programs at their standard place are allowed
(:data:`ALLOWED`), each with the reason.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Roots of one machine's own folders (built from parts, so this file does not match itself).
MACHINE_ROOTS = ("/" + "work/", "/" + "root/", "/" + "home/", "/" + "Users/", "/" + "mnt/", "C:" + "\\Users")
_PATTERN = re.compile("|".join(re.escape(r) for r in MACHINE_ROOTS))

#: Documented exceptions: text that looks like a machine path but names a standard place.
ALLOWED: dict[str, str] = {
    "/usr/bin/chromium": "the system browser Kaleido may use to render charts (a standard location)",
}

_SKIP_SUFFIXES = (".gz", ".parquet", ".xlsx", ".duckdb", ".png", ".jpg", ".ico", ".zip")


def _tracked_files() -> list[Path]:
    """Files under version control (every file of the tree when git is not available)."""
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, timeout=60)
        names = [n for n in out.stdout.decode("utf-8", "replace").split("\0") if n]
        return [ROOT / n for n in names]
    except (OSError, subprocess.SubprocessError):
        skip = {".git", ".venv", "__pycache__", ".hypothesis", ".pytest_cache"}
        return [p for p in ROOT.rglob("*") if p.is_file() and not skip.intersection(p.relative_to(ROOT).parts)]


def machine_paths(files: list[Path], root: Path = ROOT) -> list[str]:
    """``file:line: text`` for each line naming a machine folder not in :data:`ALLOWED`."""
    found = []
    for path in files:
        if path.suffix in _SKIP_SUFFIXES or not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        for no, line in enumerate(text.splitlines(), 1):
            rest = line
            for ok in ALLOWED:
                rest = rest.replace(ok, "")
            if _PATTERN.search(rest):
                found.append(f"{path.relative_to(root)}:{no}: {line.strip()[:120]}")
    return found


def test_no_machine_paths_in_the_repository():
    files = _tracked_files()
    assert len(files) > 50  # the listing works (an empty list would make the test pass vacuously)
    assert machine_paths(files) == []


def test_the_check_finds_a_machine_path(tmp_path):
    """The checker itself: it flags a home folder and a shared data folder, not an allowed one."""
    bad = tmp_path / "x.py"
    bad.write_text('DATA = "/' + 'home/anna/data.csv"\nB = "/' + 'work/shared/data"\nC = "/usr/bin/chromium"\n',
                   encoding="utf-8")
    got = machine_paths([bad], root=tmp_path)
    assert [g.split(":")[1] for g in got] == ["1", "2"]
