"""The data contract and its conformance bundle live in this repository (docs/, tests/data/);
where the contract's published copy sits beside the checkout, the two must not drift apart."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONTRACT_EXAMPLES = ROOT / "tests" / "data" / "contract-examples"
PUBLISHED = ROOT.parent / "shared"


def _files(folder: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


@pytest.mark.skipif(not PUBLISHED.is_dir(), reason="no published contract beside the checkout")
def test_the_copies_equal_the_published_contract():
    assert (ROOT / "docs" / "data-contract.md").read_bytes() == (
        PUBLISHED / "data-contract.md"
    ).read_bytes()
    assert _files(CONTRACT_EXAMPLES) == _files(PUBLISHED / "contract-examples")


def test_the_conformance_bundle_is_in_the_repository():
    assert CONTRACT_EXAMPLES.is_relative_to(ROOT)
    assert (CONTRACT_EXAMPLES / "expected.json").is_file()
    assert sorted(_files(CONTRACT_EXAMPLES / "bundle")) == [
        "check_ins.jsonl",
        "key_results.csv",
        "milestones.csv",
        "objectives.csv",
        "plan_tasks.json",
        "tasks.csv",
    ]
