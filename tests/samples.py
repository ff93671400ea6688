"""Rows the tests share: an objective and a key result of it, as a bundle or an event holds them."""

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
