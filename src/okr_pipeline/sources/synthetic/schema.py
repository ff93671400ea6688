"""What the data contract (v1, section 1) says a bundle holds, as the generator needs it.

Kept apart from ``okr_pipeline.contract.rules`` on purpose: the generator's expected counts are an
independent check of ingestion, so it must not share ingestion's rules.
"""

from __future__ import annotations

from typing import Any

Row = dict[str, Any]

ENTITIES = ("objectives", "key_results", "check_ins", "milestones", "tasks")

COLUMNS: dict[str, tuple[str, ...]] = {
    "objectives": (
        "objective_id", "title", "department", "owner_id", "period_start", "period_end",
        "status", "priority", "parent_objective_id", "updated_at",
    ),
    "key_results": (
        "key_result_id", "objective_id", "title", "metric_type", "start_value", "target_value",
        "unit", "weight", "owner_id", "due_date", "updated_at",
    ),
    "check_ins": (
        "check_in_id", "key_result_id", "checked_in_at", "value", "confidence", "note",
        "author_id",
    ),
    "milestones": ("milestone_id", "key_result_id", "title", "due_date", "completed_at", "weight"),
    "tasks": (
        "task_id", "title", "plan_id", "parent_task_id", "key_result_id", "weight", "priority",
        "status", "planned_for", "completed_at", "updated_at",
    ),
}  # fmt: skip

PRIORITIES = ("low", "medium", "high", "critical")

REASONS = (
    "missing_field", "invalid_number", "invalid_date", "invalid_timestamp", "invalid_enum",
    "out_of_range", "period_order", "target_equals_start", "unknown_reference",
)  # fmt: skip

# Which rules a row of each entity can break.
APPLICABLE: dict[str, tuple[str, ...]] = {
    "objectives": (
        "missing_field", "invalid_date", "invalid_timestamp", "invalid_enum", "period_order",
    ),
    "key_results": (
        "missing_field", "invalid_number", "invalid_date", "invalid_timestamp", "invalid_enum",
        "out_of_range", "target_equals_start", "unknown_reference",
    ),
    "check_ins": (
        "missing_field", "invalid_number", "invalid_timestamp", "out_of_range",
        "unknown_reference",
    ),
    "milestones": (
        "missing_field", "invalid_number", "invalid_date", "invalid_timestamp", "out_of_range",
        "unknown_reference",
    ),
    "tasks": (
        "missing_field", "invalid_number", "invalid_date", "invalid_timestamp", "invalid_enum",
        "out_of_range", "unknown_reference",
    ),
}  # fmt: skip

# Reasons a task in plan_tasks.json can carry (that shape has no date or timestamp fields).
PLAN_REASONS = (
    "missing_field", "invalid_number", "invalid_enum", "out_of_range", "unknown_reference",
)  # fmt: skip
