"""The import layers hold (import-linter, configured in pyproject.toml), and an import across them
fails the check: a copy of the sources with one forbidden import is refused, naming its contract."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "pyproject.toml"
CONTRACTS = {
    contract["id"]: contract["name"]
    for contract in tomllib.loads(CONFIG.read_text(encoding="utf-8"))["tool"]["importlinter"][
        "contracts"
    ]
}
LINT_IMPORTS = "import sys; from importlinter.cli import lint_imports_command as c; sys.exit(c())"


def _lint_imports(src: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`lint-imports` with the repository's contracts on the okr_pipeline package under src."""
    path = os.pathsep.join(filter(None, [str(src), os.environ.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-c", LINT_IMPORTS, str(CONFIG), "--no-cache"],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_layers_hold(tmp_path: Path):
    result = _lint_imports(REPO / "src", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    for name in CONTRACTS.values():
        assert f"{name} KEPT" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        # model and stream are one layer of independent packages: both contracts break
        (
            "stream.probe",
            "from okr_pipeline.model import predict",
            {"stream-without-model", "layers"},
        ),
        ("warehouse.probe", "from okr_pipeline.features import history", {"layers"}),
    ],
    ids=["stream-imports-model", "warehouse-imports-features"],
)
def test_an_import_across_the_layers_fails(tmp_path: Path, module: str, line: str, broken: set):
    src = tmp_path / "src"
    shutil.copytree(REPO / "src", src, ignore=shutil.ignore_patterns("__pycache__"))
    clean = _lint_imports(src, cwd=tmp_path)
    assert clean.returncode == 0, clean.stdout + clean.stderr

    probe = src / "okr_pipeline" / (module.replace(".", "/") + ".py")
    probe.write_text(f'"""An import the contracts forbid."""\n\n{line}\n')
    result = _lint_imports(src, cwd=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert f"okr_pipeline.{module} ->" in output  # the copy was analysed: only it has the probe
    for contract, name in CONTRACTS.items():
        assert f"{name} {'BROKEN' if contract in broken else 'KEPT'}" in output, output
