"""Realistic synthetic OKR export bundles that follow the data contract (v1, sections 1-3 and 5).

The generator simulates departments and owners with persistent hidden traits (skill, optimism,
check-in diligence, silences, back-loading) and eight calendar quarters of objectives and key
results ending with the quarter that contains ``as_of``. Every key result follows a latent
progress path (owner skill, department, quarter, ambition, priority, random shocks, late pushes);
check-ins, milestones and tasks are noisy observations of that path, so early progress, pace and
confidence are informative but outcomes are not deterministic.

Nothing carries a timestamp at or after ``as_of`` 00:00 UTC: the bundle is a snapshot taken at the
start of that day. With ``messy=True`` extra rows are added (fresh ids, never parents of valid
rows) that each break exactly one contract rule, plus re-sent check-ins, older versions of rows
and file-level mess; the returned manifest says what an exact ingestion must report.

Modules, in the order a run uses them: ``context`` (random streams, snapshot, ids, export
style), ``world`` (owners, objectives), ``key_results`` (targets and hidden paths),
``observations`` (milestones, check-ins), ``tasks`` and ``plans`` (tasks.csv, plan_tasks.json),
``bad_rows`` and ``mess`` (messy mode), ``writer`` and ``books`` (files, expected counts),
``generator`` (the driver).
"""

from .generator import generate_bundle
from .schema import COLUMNS, ENTITIES, REASONS

__all__ = ["COLUMNS", "ENTITIES", "REASONS", "generate_bundle"]
