"""Rows the tests share: an objective and a key result of it, as a bundle or an event holds them."""

from pathlib import Path

OBJECTIVE = {
    "objective_id": "O-1",
    "title": "Grow",
    "period_start": "2026-01-01",
    "period_end": "2026-03-31",
}
KEY_RESULT = {
    "key_result_id": "KR-1",
    "objective_id": "O-1",
    "title": "Deals",
    "metric_type": "number",
    "target_value": 20,
}


def write_parents(folder: Path) -> Path:
    """A bundle folder holding OBJECTIVE and KEY_RESULT as CSV files: the parents of the rows a
    test adds to it."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "objectives.csv").write_text(
        "objective_id,title,period_start,period_end\nO-1,Grow,2026-01-01,2026-03-31\n"
    )
    (folder / "key_results.csv").write_text(
        "key_result_id,objective_id,title,metric_type,target_value\nKR-1,O-1,Deals,number,20\n"
    )
    return folder
