"""The environment of a timed ``percorso`` process: this checkout's code, as an install has it.

Why: ``pip install`` writes the ``.pyc`` files of a package; a checkout run with
``PYTHONDONTWRITEBYTECODE`` set (as in some shells) has none, or stale ones after an edit, and
then every process compiled its modules from source: ~0.05 s for ~100 modules, in each of a
bench's processes, and more the more files had changed since the last compile. So the code is
byte-compiled once into the checkout's ``__pycache__`` folders (ignored by git) and the
variable is dropped for the child. Not a ``PYTHONPYCACHEPREFIX``: it moves every package's
compiled files, so the first run compiled numpy, DuckDB's and pydantic's (+0.4 s).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def installed_env(**extra: str) -> dict[str, str]:
    """``os.environ`` with ``PYTHONPATH`` on this checkout's byte-compiled code, plus ``extra``."""
    env = dict(os.environ, PYTHONPATH=str(SRC), **extra)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("PYTHONPYCACHEPREFIX", None)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(SRC / "percorso")], env=env, check=True,
                   capture_output=True)
    return env
