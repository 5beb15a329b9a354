"""Only percorso/engine/ imports duckdb."""

import re
from pathlib import Path


def test_duckdb_imported_only_in_engine():
    root = Path(__file__).resolve().parents[1] / "src" / "percorso"
    bad = [str(p) for p in root.rglob("*.py") if "engine" not in p.relative_to(root).parts[:1]
           and re.search(r"^\s*(import duckdb|from duckdb)", p.read_text(encoding="utf-8"), re.M)]
    assert bad == []


def test_rooms_write_no_sql():
    """The service rooms (server, later web, collector, activation) import query objects and
    call engine functions; SQL text lives in percorso/engine only (DESIGN §11)."""
    root = Path(__file__).resolve().parents[1] / "src" / "percorso"
    sql = re.compile(r"\b(SELECT\s+\S+.*\bFROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|"
                     r"(CREATE|DROP|ALTER)\s+(OR\s+REPLACE\s+)?(TEMP\s+)?(TABLE|VIEW|INDEX)|ATTACH\s+'|COPY\s*\()")
    assert sql.search((root / "engine" / "server_sql.py").read_text(encoding="utf-8"))  # it does see SQL
    rooms = [d for d in ("server", "web", "collector", "activation", "privacy") if (root / d).is_dir()]
    assert "server" in rooms
    bad = [f"{p.relative_to(root)}:{m.group(0)!r}" for d in rooms for p in (root / d).rglob("*.py")
           for m in sql.finditer(p.read_text(encoding="utf-8"))]
    assert bad == []


def test_api_docs_need_no_cdn() -> None:
    """The interactive API docs load their assets from this server (works offline)."""
    from fastapi.testclient import TestClient

    from percorso.server.app import create_app

    app = create_app(Path("."))
    client = TestClient(app)  # no context manager: the docs pages do not touch the database
    page = client.get("/docs")
    assert page.status_code == 200
    for asset in re.findall(r'(?:src|href)="([^"]+)"', page.text):
        assert asset.startswith("/"), asset  # local, never a CDN
        assert client.get(asset).status_code == 200, asset
    assert "openapi.json" in client.get("/docs/init.js").text


def test_pyspark_imported_only_in_the_spark_engine():
    """Spark is an optional extra: only percorso/engine/spark.py may import it (issue 21)."""
    root = Path(__file__).resolve().parents[1] / "src" / "percorso"
    bad = [str(p.relative_to(root)) for p in root.rglob("*.py") if p.relative_to(root).as_posix() != "engine/spark.py"
           and re.search(r"^\s*(import pyspark|from pyspark)", p.read_text(encoding="utf-8"), re.M)]
    assert bad == []


def test_the_duckdb_path_never_imports_pyspark(tmp_path):
    """An analysis on the embedded engine runs without loading pyspark (nor starting Java)."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from percorso.api import run, FunnelQuery, RFMQuery, PathsQuery, open_project, init_project\n"
        "import percorso.lake, percorso.cli, percorso.identity.components\n"
        f"init_project({str(tmp_path / 'p')!r})\n"
        f"p = open_project({str(tmp_path / 'p')!r})\n"
        "p.engine.create_empty_table('touchpoints', [('customer_id', 'VARCHAR')])\n"
        "assert p.kind == 'duckdb'\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pyspark', 'py4j')))\n"
    )
    src = Path(__file__).resolve().parents[1] / "src"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**__import__("os").environ, "PYTHONPATH": str(src)})
    assert out.stdout.strip() == "[]"
