"""Drift as of D: the features of the key results open at D, and the champion's risks for them,
compared with what the champion learnt from.

The reference is the champion's training key results (the fit part of `time_split` as of the
champion's as-of: what it learnt from; the validation part only scored it), each seen at the
point of its period where an open key result stands at D. Not the training snapshots as they
are: those spread over `model.snapshot_fractions`, while the key results open at D mostly share
one quarter and so one elapsed share, and every feature that grows through a period (progress,
check-ins, tasks, ...) would drift by construction every day. Each training key result gives one
reference row (independent rows for the tests), at the elapsed share of an open key result taken
in turn, so the reference has the current mix of elapsed shares; `elapsed` itself is then
reported, not tested.

What the matching leaves (and a dataset alert may reflect): the key results open late in a
quarter are only the long ones (the short have closed), so `period_days` and `days_left` differ;
the period-level features (`period_pace`, `department_period_pace`) take one value per quarter
and department at D against many quarters in the reference; the attainment records grow with
time.

Per feature (numeric and categorical), on the values present:
- numeric: two-sample Kolmogorov-Smirnov (p-value vs `p_value`) when both samples are below
  `large_sample`, else the Wasserstein distance divided by the reference's interquartile range
  (its standard deviation when the IQR is 0, as for counts mostly 0; unscaled when the
  reference is constant) vs `max_distance`;
- categorical: chi-squared on the 2 x categories table when both samples are below
  `large_sample`, the rarest categories merged until every expected count is at least 5, and
  Fisher's exact test once two columns are left that still fall short; else the Jensen-Shannon
  distance (base 2) vs `max_distance`.
The share of missing values is compared too (Fisher's exact test, or the absolute difference vs
`max_distance` for large samples): a feature that becomes mostly missing has drifted. PSI is
reported for every feature: ten quantile bins of the reference (categories for categorical
features), missing values as one more bin, shares floored at `PSI_EPSILON`.

The predicted risk is compared the same way (as a numeric column): the latest risk the champion's
version stored at or before D per open key result (`predictions`; another version's risks would
tell a change of model, not of data) against the champion's risks on the reference rows.

Severity: a drifted feature (or risk) is a warning, critical when its PSI reaches `psi_alert`;
one that did not drift but whose PSI reaches `psi_warn` is only an info (PSI alone is noisy on a
few hundred rows). More than `max_drifted_share` of the features drifted is the dataset problem
(critical).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats  # type: ignore[import-untyped]
from scipy.spatial.distance import jensenshannon  # type: ignore[import-untyped]
from scipy.special import rel_entr  # type: ignore[import-untyped]
from sqlalchemy import Connection, Engine, select

from okr_pipeline.config import Drift, Settings
from okr_pipeline.errors import OkrError
from okr_pipeline.features import (
    CATEGORICAL,
    FEATURES,
    History,
    features_at,
    load_history,
    open_at,
    snapshot_instant,
)
from okr_pipeline.model import CHAMPION, open_registry, time_split
from okr_pipeline.monitoring.problems import problem
from okr_pipeline.warehouse import chunks, predictions

__all__ = ["compare", "compare_column", "drift", "reference_features"]

PSI_BINS = 10
PSI_EPSILON = 1e-4  # the share given to an empty bin, so that PSI stays finite
KS_EXACT_PAIRS = 10_000  # KS's exact p-value up to this many pairs of rows, asymptotic beyond
MIN_EXPECTED = 5.0  # the usual floor of chi-squared's expected counts
MATCHED_ON = "elapsed"  # the reference is taken at the open key results' elapsed shares
MISSING = "(missing)"
OTHER = "(other)"
Severity = str  # info | warning | critical


def _number(value: float | None) -> float | None:
    """A float for JSON: NaN and infinities are None."""
    if value is None or not math.isfinite(float(value)):
        return None
    return float(value)


def _psi(reference: np.ndarray, current: np.ndarray) -> float:
    """Population stability index of two vectors of bin indices (the same bins)."""
    bins = int(max(reference.max(initial=0), current.max(initial=0))) + 1
    r = np.maximum(np.bincount(reference, minlength=bins) / max(len(reference), 1), PSI_EPSILON)
    c = np.maximum(np.bincount(current, minlength=bins) / max(len(current), 1), PSI_EPSILON)
    return float(np.sum(rel_entr(c, r) + rel_entr(r, c)))  # = sum((c - r) * ln(c / r))


def _numeric_psi(reference: pd.Series, current: pd.Series) -> float:
    present = reference.dropna().to_numpy(dtype=float)
    inner = np.linspace(0, 1, PSI_BINS + 1)[1:-1]
    edges = np.unique(np.quantile(present, inner)) if len(present) else np.array([])

    def binned(values: pd.Series) -> np.ndarray:
        index = np.searchsorted(edges, values.to_numpy(dtype=float), side="right")
        return np.where(values.isna().to_numpy(), len(edges) + 1, index)

    return _psi(binned(reference), binned(current))


def _categorical_psi(reference: pd.Series, current: pd.Series) -> float:
    filled_r, filled_c = reference.fillna(MISSING).astype(str), current.fillna(MISSING).astype(str)
    categories = {c: i for i, c in enumerate(sorted(set(filled_r) | set(filled_c)))}
    return _psi(filled_r.map(categories).to_numpy(), filled_c.map(categories).to_numpy())


def _numeric_test(
    reference: np.ndarray, current: np.ndarray, small: bool
) -> tuple[str, float, float | None, float | None]:
    """(test, statistic, p-value, scaled distance) of two samples of values present."""
    if small:
        # exact for small samples; scipy's exact computation gives up on hundreds of rows
        exact = len(reference) * len(current) <= KS_EXACT_PAIRS
        result = stats.ks_2samp(reference, current, method="exact" if exact else "asymp")
        return "ks", float(result.statistic), float(result.pvalue), None
    spread = float(stats.iqr(reference)) or float(np.std(reference)) or 1.0
    distance = float(stats.wasserstein_distance(reference, current)) / spread
    return "wasserstein", distance, None, distance


def _merged_table(reference: pd.Series, current: pd.Series) -> np.ndarray:
    """The 2 x categories table, the rarest categories merged until every expected count
    reaches MIN_EXPECTED or two columns are left."""
    counts = pd.DataFrame({"r": reference.value_counts(), "c": current.value_counts()}).fillna(0)
    table = counts.to_numpy(dtype=float).T
    table = table[:, np.argsort(-table.sum(axis=0), kind="stable")]  # most frequent first

    def expected(t: np.ndarray) -> np.ndarray:
        return np.outer(t.sum(axis=1), t.sum(axis=0)) / t.sum()

    while table.shape[1] > 2 and expected(table).min() < MIN_EXPECTED:
        table = np.column_stack([table[:, :-2], table[:, -2:].sum(axis=1)])
    return table


def _categorical_test(
    reference: pd.Series, current: pd.Series, small: bool
) -> tuple[str, float, float | None, float | None]:
    if small:
        table = _merged_table(reference, current)
        if table.shape[1] == 2 and (stats.contingency.expected_freq(table) < MIN_EXPECTED).any():
            result = stats.fisher_exact(table)
            return "fisher", float(result.statistic), float(result.pvalue), None
        chi2 = stats.chi2_contingency(table, correction=False)
        return "chi2", float(chi2.statistic), float(chi2.pvalue), None
    categories = sorted(set(reference) | set(current))
    p = reference.value_counts().reindex(categories, fill_value=0).to_numpy(dtype=float)
    q = current.value_counts().reindex(categories, fill_value=0).to_numpy(dtype=float)
    distance = float(jensenshannon(p, q, base=2))  # normalises the counts itself
    return "jensen_shannon", distance, None, distance


def _missing_drifted(reference: pd.Series, current: pd.Series, small: bool, drift: Drift) -> bool:
    r_missing, c_missing = int(reference.isna().sum()), int(current.isna().sum())
    if (r_missing == 0 and c_missing == 0) or reference.empty or current.empty:
        return False
    if small:
        table = [[r_missing, len(reference) - r_missing], [c_missing, len(current) - c_missing]]
        return bool(stats.fisher_exact(table).pvalue < drift.p_value)
    return abs(c_missing / len(current) - r_missing / len(reference)) > drift.max_distance


def compare_column(
    reference: pd.Series, current: pd.Series, settings: Settings, *, categorical: bool = False
) -> dict[str, Any]:
    """One feature (or the risk) compared: its test, statistic, p-value or distance, PSI, the
    share of missing values on each side, and whether it drifted."""
    drift = settings.monitoring.drift
    small = len(reference) < drift.large_sample and len(current) < drift.large_sample
    r_present, c_present = reference.dropna(), current.dropna()
    test: str | None = None
    statistic = p_value = distance = None
    # a test needs values on both sides (two for KS); the missing shares still tell
    if len(r_present) >= 2 and len(c_present) >= 2:
        if categorical:
            r_values, c_values = r_present.astype(str), c_present.astype(str)
            test, statistic, p_value, distance = _categorical_test(r_values, c_values, small)
        else:
            r_array, c_array = r_present.to_numpy(float), c_present.to_numpy(float)
            test, statistic, p_value, distance = _numeric_test(r_array, c_array, small)
    values_drifted = (p_value is not None and p_value < drift.p_value) or (
        distance is not None and distance > drift.max_distance
    )
    missing_drifted = _missing_drifted(reference, current, small, drift)
    psi = (_categorical_psi if categorical else _numeric_psi)(reference, current)
    return {
        "kind": "categorical" if categorical else "numeric",
        "test": test,
        "statistic": _number(statistic),
        "p_value": _number(p_value),
        "distance": _number(distance),
        "psi": _number(psi),
        "drifted": bool(values_drifted or missing_drifted),
        "values_drifted": bool(values_drifted),
        "missing_drifted": bool(missing_drifted),
        "missing_share": {
            "reference": _number(reference.isna().mean()) if len(reference) else None,
            "current": _number(current.isna().mean()) if len(current) else None,
        },
    }


def _problem(
    condition: str, subject: str, result: dict[str, Any], settings: Settings
) -> dict[str, Any] | None:
    """The problem a compared column raises, if any (see the module's severity rules)."""
    drift = settings.monitoring.drift
    psi = result["psi"] or 0.0
    if not result["drifted"]:
        if psi < drift.psi_warn:
            return None
        message = (
            f"{subject}: PSI {psi:.3f} >= {drift.psi_warn}, though its test did not find drift"
        )
        return problem(condition, subject, "info", message, psi, drift.psi_warn)
    severity: Severity = "critical" if psi >= drift.psi_alert else "warning"
    if result["values_drifted"] and result["p_value"] is not None:
        value, threshold = result["p_value"], drift.p_value
        why = f"{result['test']} p-value {value:.2g} < {threshold}"
    elif result["values_drifted"]:
        value, threshold = result["distance"], drift.max_distance
        why = f"{result['test']} distance {value:.3f} > {threshold}"
    else:
        shares = result["missing_share"]
        value, threshold = shares["current"], shares["reference"]
        why = f"missing share {value:.1%} against {threshold:.1%} in the reference"
    message = f"{subject} drifted: {why} (PSI {psi:.3f})"
    return problem(condition, subject, severity, message, value, threshold)


def _matched(
    reference: pd.Series, current: pd.Series, settings: Settings, *, categorical: bool
) -> dict[str, Any]:
    """A feature the reference was built to match: reported, never tested (its values agree
    only to the microsecond of the snapshot instants, which a test on tied values would see)."""
    return {
        "kind": "categorical" if categorical else "numeric",
        "test": "matched",
        "statistic": None,
        "p_value": None,
        "distance": None,
        "psi": None,
        "drifted": False,
        "values_drifted": False,
        "missing_drifted": False,
        "missing_share": {
            "reference": _number(reference.isna().mean()) if len(reference) else None,
            "current": _number(current.isna().mean()) if len(current) else None,
        },
    }


def compare(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    settings: Settings,
    matched: Collection[str] = (),
) -> dict[str, Any]:
    """Every feature of FEATURES compared between two feature frames, the share that drifted
    (of the features not `matched`: those the reference was built to agree on), and the
    problems: one per drifted (or high-PSI) feature, and the dataset's."""
    features = {
        name: (_matched if name in matched else compare_column)(
            reference[name], current[name], settings, categorical=name in CATEGORICAL
        )
        for name in FEATURES
    }
    drifted = [name for name, result in features.items() if result["drifted"]]
    share = len(drifted) / (len(features) - len(set(matched) & set(features)))
    problems = [
        p
        for name, result in features.items()
        if (p := _problem("drift.feature", name, result, settings)) is not None
    ]
    limit = settings.monitoring.drift.max_drifted_share
    if share > limit:
        message = (
            f"{len(drifted)} of {len(features)} features drifted "
            f"({share:.0%} > {limit:.0%}): {', '.join(drifted)}"
        )
        problems.append(problem("drift.dataset", "features", "critical", message, share, limit))
    return {
        "reference": {"rows": len(reference)},
        "current": {"rows": len(current)},
        "features": features,
        "drifted_share": share,
        "problems": problems,
    }


def reference_features(
    history: History, key_results: Sequence[str], elapsed: Sequence[float], seed: int
) -> pd.DataFrame:
    """The features of `key_results`, one row each, at the elapsed shares given in turn (in a
    shuffled order of the key results, so that no share goes with one kind of key result)."""
    order = np.random.default_rng(seed).permutation(sorted(key_results))
    shares = sorted(elapsed)
    pairs = [
        (str(kr), snapshot_instant(history, str(kr), shares[i % len(shares)]))
        for i, kr in enumerate(order)
    ]
    return features_at(history, pairs)


def _stored_risks(
    conn: Connection, key_results: Sequence[str], as_of: datetime, version: str
) -> pd.DataFrame:
    """The latest risk stored by model `version` at or before `as_of` per key result, with the
    as-of it was predicted for (columns risk, as_of; indexed by key result)."""
    latest: dict[str, tuple[datetime, datetime, float]] = {}
    for part in chunks(list(key_results), 900):
        rows = conn.execute(
            select(
                predictions.c.key_result_id,
                predictions.c.as_of,
                predictions.c.created_at,
                predictions.c.risk,
            ).where(
                predictions.c.key_result_id.in_(part),
                predictions.c.as_of <= as_of,
                predictions.c.model_version == version,
            )
        )
        for kr, at, created, risk in rows:
            if kr not in latest or (at, created) > latest[kr][:2]:
                latest[kr] = (at, created, float(risk))
    return pd.DataFrame(
        [(risk, at) for at, _, risk in latest.values()],
        index=list(latest),
        columns=["risk", "as_of"],
    )


def drift(settings: Settings, engine: Engine, as_of: datetime) -> dict[str, Any]:
    """Drift of the features and of the predicted risk of the key results open at `as_of`
    against the champion's training key results (see the module's docstring)."""
    registry = open_registry(settings)
    champion = registry.version(CHAMPION)
    if champion is None:
        return {"skipped": "no champion model"}
    if "as_of" not in champion.tags:
        raise OkrError(
            f"the champion (version {champion.version}) has no as_of tag: not a version that "
            "okr train registered"
        )
    trained_as_of = datetime.fromisoformat(champion.tags["as_of"])
    with engine.connect() as conn:
        history = load_history(conn, settings.model.achievement_threshold)
        open_ids = [k for k in open_at(history, as_of) if not history.key_results[k].cancelled]
        stored = _stored_risks(conn, open_ids, as_of, champion.version)
    if not open_ids:
        return {"skipped": f"no key results open at {as_of.isoformat()}"}
    current = features_at(history, [(k, as_of) for k in open_ids])
    fit, _ = time_split(settings, history, trained_as_of)
    reference = reference_features(
        history,
        list(np.unique(fit.groups)),
        list(current["elapsed"]),
        settings.model.random_seed,
    )
    result = compare(reference, current, settings, matched=[MATCHED_ON])
    result["reference"] |= {"as_of": trained_as_of.isoformat(), "model_version": champion.version}
    result["current"] |= {"as_of": as_of.isoformat()}

    # the champion's risks on the reference against the risks it served at D
    if stored.empty:
        result["prediction"] = {
            "skipped": f"no stored predictions of version {champion.version} for the key "
            f"results open at {as_of.isoformat()}"
        }
        return result
    model = registry.load(champion.version)  # this version, though the alias may move meanwhile
    reference_risk = pd.Series(model.predict_proba(reference)[:, 1])
    prediction = compare_column(reference_risk, stored["risk"], settings)
    prediction["rows"] = {"reference": len(reference_risk), "current": len(stored)}
    # how fresh the served risks are: the latest at or before D may be days old
    prediction["predicted_as_of"] = {
        "oldest": stored["as_of"].min().isoformat(),
        "newest": stored["as_of"].max().isoformat(),
    }
    result["prediction"] = prediction
    problem = _problem("drift.prediction", "risk", prediction, settings)
    if problem is not None:
        result["problems"].append(problem)
    return result
