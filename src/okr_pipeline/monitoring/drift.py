"""Drift as of D: the features of the key results open at D, and the champion's risks for them,
compared with what the champion learnt from.

The reference is the key results open at D's point of earlier periods: the periods of the
current one's kind (`periods.same_point`) that ended before the champion's as-of, the latest
`reference_periods` of them, with their features as of that point. Not the training snapshots
as they are: those spread over `model.snapshot_fractions`, while the key results open at D
mostly share one period and one point of it, so every feature that grows through a period
(progress, check-ins, tasks, attainment records) would drift by construction every day. At the
same point of earlier periods, the mix of long and short key results, of elapsed shares and of
days left is the usual one too.

Rows of one period are not independent: a period-level feature (`period_pace`) takes one value
per period, and a good or a bad quarter moves progress, pace and confidence together. So with
two reference periods or more, a feature drifts only if its tests say so and its distance also
goes beyond `period_margin` times the natural variation: the largest distance of one reference
period to the others (the same for the gap in missing share, and for PSI's info).

Per feature (numeric and categorical), on the values present:
- numeric: two-sample Kolmogorov-Smirnov (p-value vs `p_value`) when both samples are below
  `large_sample`, else the Wasserstein distance divided by the reference's interquartile range
  (its standard deviation when the IQR is 0, as for counts mostly 0; unscaled when the
  reference is constant) vs `max_distance`;
- categorical: chi-squared on the 2 x categories table when both samples are below
  `large_sample`, the rarest categories merged until every expected count is at least 5, and
  Fisher's exact test once two columns are left that still fall short; else the Jensen-Shannon
  distance (base 2) vs `max_distance`.
The distance (scaled Wasserstein or Jensen-Shannon) is reported at every sample size: it is
what the natural variation is measured in. The share of missing values is compared too: a gap
over `max_distance` (10 points by default) that Fisher's exact test confirms on small samples; a
feature that becomes mostly missing has drifted. PSI is reported for every feature: ten
quantile bins of the reference (categories for categorical features), missing values as one
more bin, shares floored at `PSI_EPSILON`.

The predicted risk is compared the same way (as a numeric column): the latest risk the champion's
version stored at or before D per open key result (`predictions`; another version's risks would
tell a change of model, not of data) against the champion's risks on the reference rows.

Severity: a drifted feature (or risk) is a warning, critical when its PSI reaches `psi_alert`
and, with two reference periods or more, also goes beyond `period_margin` times their natural
PSI (a feature with one value per period has a huge PSI between any two periods); one that did
not drift but whose PSI reaches `psi_warn` (and goes beyond the natural PSI) is only an info (PSI
alone is noisy on a few hundred rows). More than `max_drifted_share` of the features drifted is
the dataset problem: critical, a warning only against a single earlier period (with no natural
variation to go beyond, an ordinary quarter drifts 6 to 17 of the 35 features against one).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats  # type: ignore[import-untyped]
from scipy.spatial.distance import jensenshannon  # type: ignore[import-untyped]
from scipy.special import rel_entr  # type: ignore[import-untyped]
from sqlalchemy import Connection, Engine

from okr_pipeline.config import Drift, Settings
from okr_pipeline.errors import OkrError
from okr_pipeline.features import (
    CATEGORICAL,
    FEATURES,
    History,
    features_at,
    load_history,
    open_at,
)
from okr_pipeline.model import CHAMPION, open_registry
from okr_pipeline.monitoring.periods import SamePoint, objective_periods, same_point
from okr_pipeline.monitoring.problems import problem
from okr_pipeline.warehouse import chunks, latest_predictions, predictions

__all__ = ["compare", "compare_column", "drift", "feature_drift", "reference_features"]

PSI_BINS = 10
PSI_EPSILON = 1e-4  # the share given to an empty bin, so that PSI stays finite
KS_EXACT_PAIRS = 10_000  # KS's exact p-value up to this many pairs of rows, asymptotic beyond
MIN_EXPECTED = 5.0  # the usual floor of chi-squared's expected counts
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


def _numeric_distance(reference: np.ndarray, current: np.ndarray) -> float:
    """The Wasserstein distance over the reference's spread (see the module's docstring)."""
    spread = float(stats.iqr(reference)) or float(np.std(reference)) or 1.0
    return float(stats.wasserstein_distance(reference, current)) / spread


def _numeric_test(
    reference: np.ndarray, current: np.ndarray, small: bool
) -> tuple[str, float, float | None]:
    """(test, statistic, p-value or None) of two samples of values present."""
    if small:
        # exact for small samples; scipy's exact computation gives up on hundreds of rows
        exact = len(reference) * len(current) <= KS_EXACT_PAIRS
        result = stats.ks_2samp(reference, current, method="exact" if exact else "asymp")
        return "ks", float(result.statistic), float(result.pvalue)
    return "wasserstein", _numeric_distance(reference, current), None


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


def _categorical_distance(reference: pd.Series, current: pd.Series) -> float:
    """The Jensen-Shannon distance (base 2) of the two samples' category shares."""
    categories = sorted(set(reference) | set(current))
    p = reference.value_counts().reindex(categories, fill_value=0).to_numpy(dtype=float)
    q = current.value_counts().reindex(categories, fill_value=0).to_numpy(dtype=float)
    return float(jensenshannon(p, q, base=2))  # normalises the counts itself


def _categorical_test(
    reference: pd.Series, current: pd.Series, small: bool
) -> tuple[str, float, float | None]:
    if small:
        table = _merged_table(reference, current)
        if table.shape[1] == 2 and (stats.contingency.expected_freq(table) < MIN_EXPECTED).any():
            result = stats.fisher_exact(table)
            return "fisher", float(result.statistic), float(result.pvalue)
        chi2 = stats.chi2_contingency(table, correction=False)
        return "chi2", float(chi2.statistic), float(chi2.pvalue)
    return "jensen_shannon", _categorical_distance(reference, current), None


def _missing_drifted(reference: pd.Series, current: pd.Series, small: bool, drift: Drift) -> bool:
    r_missing, c_missing = int(reference.isna().sum()), int(current.isna().sum())
    if (r_missing == 0 and c_missing == 0) or reference.empty or current.empty:
        return False
    # a gap of a few points is no drift however sure the test is of it
    if abs(c_missing / len(current) - r_missing / len(reference)) <= drift.max_distance:
        return False
    if small:
        table = [[r_missing, len(reference) - r_missing], [c_missing, len(current) - c_missing]]
        return bool(stats.fisher_exact(table).pvalue < drift.p_value)
    return True


def _measure(
    reference: pd.Series,
    current: pd.Series,
    settings: Settings,
    categorical: bool,
    tested: bool = True,
) -> dict[str, Any]:
    """Two samples of one column compared: the test, statistic, p-value, distance and PSI, the
    share of missing values on each side, and what the tests alone say (not `tested`: the
    distance, PSI and missing shares only, as the natural variation needs)."""
    drift = settings.monitoring.drift
    small = len(reference) < drift.large_sample and len(current) < drift.large_sample
    r_present, c_present = reference.dropna(), current.dropna()
    test: str | None = None
    statistic = p_value = distance = None
    # a test needs values on both sides (two for KS); the missing shares still tell
    if len(r_present) >= 2 and len(c_present) >= 2:
        if categorical:
            r_values, c_values = r_present.astype(str), c_present.astype(str)
            if tested:
                test, statistic, p_value = _categorical_test(r_values, c_values, small)
            distance = _categorical_distance(r_values, c_values)
        else:
            r_array, c_array = r_present.to_numpy(float), c_present.to_numpy(float)
            if tested:
                test, statistic, p_value = _numeric_test(r_array, c_array, small)
            distance = _numeric_distance(r_array, c_array)
    if p_value is not None:
        values_drifted = p_value < drift.p_value
    else:
        values_drifted = distance is not None and distance > drift.max_distance
    shares = {
        "reference": _number(reference.isna().mean()) if len(reference) else None,
        "current": _number(current.isna().mean()) if len(current) else None,
    }
    psi = (_categorical_psi if categorical else _numeric_psi)(reference, current)
    return {
        "kind": "categorical" if categorical else "numeric",
        "test": test,
        "statistic": _number(statistic),
        "p_value": _number(p_value),
        "distance": _number(distance),
        "psi": _number(psi),
        "values_drifted": bool(values_drifted),
        "missing_drifted": tested and _missing_drifted(reference, current, small, drift),
        "missing_share": shares,
    }


def _missing_gap(result: dict[str, Any]) -> float:
    shares = result["missing_share"]
    if shares["reference"] is None or shares["current"] is None:
        return 0.0
    return abs(shares["current"] - shares["reference"])


def _natural(
    reference: pd.Series, periods: np.ndarray, settings: Settings, categorical: bool
) -> dict[str, float]:
    """How far one earlier period lies from the others at most: the distance, PSI and gap in
    missing share of each reference period against the rest, the largest of each."""
    apart = [
        _measure(
            reference[periods != label],
            reference[periods == label],
            settings,
            categorical,
            tested=False,
        )
        for label in np.unique(periods)
    ]
    return {
        "distance": max(r["distance"] or 0.0 for r in apart),
        "psi": max(r["psi"] or 0.0 for r in apart),
        "missing_gap": max(_missing_gap(r) for r in apart),
    }


def compare_column(
    reference: pd.Series,
    current: pd.Series,
    settings: Settings,
    *,
    categorical: bool = False,
    periods: np.ndarray | None = None,
) -> dict[str, Any]:
    """One feature (or the risk) compared: its test, statistic, p-value, distance, PSI, the
    share of missing values on each side, and whether it drifted. With the reference's
    `periods` (a label per row, two labels or more), drift must also go beyond the natural
    variation between periods (see the module's docstring)."""
    result = _measure(reference, current, settings, categorical)
    result["natural"] = None
    if periods is not None and len(np.unique(periods)) >= 2:
        natural = _natural(reference, periods, settings, categorical)
        margin = settings.monitoring.drift.period_margin
        result["natural"] = natural
        result["values_drifted"] &= (result["distance"] or 0.0) > margin * natural["distance"]
        result["missing_drifted"] &= _missing_gap(result) > margin * natural["missing_gap"]
    result["drifted"] = result["values_drifted"] or result["missing_drifted"]
    return result


def _problem(
    condition: str, subject: str, result: dict[str, Any], settings: Settings
) -> dict[str, Any] | None:
    """The problem a compared column raises, if any (see the module's severity rules)."""
    drift = settings.monitoring.drift
    psi = result["psi"] or 0.0
    natural = result["natural"]
    beyond = "" if natural is None else " beyond the variation between earlier periods"
    usual_psi = natural is not None and psi <= drift.period_margin * natural["psi"]
    if not result["drifted"]:
        if psi < drift.psi_warn or usual_psi:
            return None
        message = (
            f"{subject}: PSI {psi:.3f} >= {drift.psi_warn}{beyond}, though its test did not "
            "find drift"
        )
        return problem(condition, subject, "info", message, psi, drift.psi_warn)
    severity: Severity = "critical" if psi >= drift.psi_alert and not usual_psi else "warning"
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
    if natural is not None and result["values_drifted"]:
        why += f", distance {result['distance']:.3f} against {natural['distance']:.3f} at most"
        why += " between earlier periods"
    message = f"{subject} drifted: {why} (PSI {psi:.3f})"
    return problem(condition, subject, severity, message, value, threshold)


def compare(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    settings: Settings,
    periods: np.ndarray | None = None,
) -> dict[str, Any]:
    """Every feature of FEATURES compared between two feature frames (with the reference rows'
    `periods`, if known), the share that drifted, and the problems: one per drifted (or
    high-PSI) feature, and the dataset's."""
    features = {
        name: compare_column(
            reference[name],
            current[name],
            settings,
            categorical=name in CATEGORICAL,
            periods=periods,
        )
        for name in FEATURES
    }
    drifted = [name for name, result in features.items() if result["drifted"]]
    share = len(drifted) / len(features)
    problems = [
        p
        for name, result in features.items()
        if (p := _problem("drift.feature", name, result, settings)) is not None
    ]
    limit = settings.monitoring.drift.max_drifted_share
    if share > limit:
        # without two earlier periods, a quarter's own effect cannot be told from drift: an
        # ordinary quarter drifts 6 to 17 of the 35 features against a single earlier one
        natural = periods is not None and len(np.unique(periods)) >= 2
        message = (
            f"{len(drifted)} of {len(features)} features drifted "
            f"({share:.0%} > {limit:.0%}): {', '.join(drifted)}"
        )
        if not natural:
            message += " (against one earlier period: its natural variation is unknown)"
        severity = "critical" if natural else "warning"
        problems.append(problem("drift.dataset", "features", severity, message, share, limit))
    return {
        "reference": {"rows": len(reference)},
        "current": {"rows": len(current)},
        "features": features,
        "drifted_share": share,
        "problems": problems,
    }


def reference_features(
    history: History, moments: Sequence[datetime]
) -> tuple[pd.DataFrame, np.ndarray]:
    """The features of the key results open at each of `moments` (cancelled ones left out, as
    at D), and the index of the moment of each row: its period."""
    pairs, periods = [], []
    for i, moment in enumerate(moments):
        for kr in open_at(history, moment):
            if not history.key_results[kr].cancelled:
                pairs.append((kr, moment))
                periods.append(i)
    return features_at(history, pairs), np.array(periods, dtype=int)


def _stored_risks(
    conn: Connection, key_results: Sequence[str], as_of: datetime, version: str
) -> pd.DataFrame:
    """The latest risk stored by model `version` at or before `as_of` per key result, with the
    as-of it was predicted for (columns risk, as_of; indexed by key result)."""
    found: dict[str, tuple[float, datetime]] = {}
    for part in chunks(list(key_results), 900):
        latest = latest_predictions(
            predictions.c.key_result_id.in_(part),
            predictions.c.as_of <= as_of,
            predictions.c.model_version == version,
            columns=(predictions.c.key_result_id, predictions.c.as_of, predictions.c.risk),
        )
        for kr, at, risk in conn.execute(latest):
            found[kr] = (float(risk), at)
    frame = pd.DataFrame(list(found.values()), index=list(found), columns=["risk", "as_of"])
    return frame.sort_index()


def feature_drift(
    settings: Settings,
    history: History,
    found: SamePoint | None,
    as_of: datetime,
    learnt_before: date,
) -> tuple[dict[str, Any], pd.DataFrame, np.ndarray]:
    """The features of the key results open at `as_of` against those open at the same point
    (`found`) of the latest `reference_periods` earlier periods that ended before
    `learnt_before` (see the module's docstring): the comparison, the reference rows and their
    periods; `{"skipped": why}` and no rows when there is nothing to compare."""
    nothing = (pd.DataFrame(), np.array([], dtype=int))
    open_ids = [k for k in open_at(history, as_of) if not history.key_results[k].cancelled]
    if not open_ids or found is None:
        return {"skipped": f"no key results open at {as_of.isoformat()}"}, *nothing
    learnt = [(p, m) for p, m in found.earlier if p[1] < learnt_before]
    learnt = learnt[-settings.monitoring.drift.reference_periods :]
    if not learnt:
        start, end = (day.isoformat() for day in found.current)
        return {
            "skipped": f"no period like the current one ({start} to {end}) ended before "
            f"{learnt_before.isoformat()}: nothing to compare with"
        }, *nothing
    current = features_at(history, [(k, as_of) for k in open_ids])
    reference, periods = reference_features(history, [m for _, m in learnt])
    result = compare(reference, current, settings, periods)
    result["reference"]["moments"] = [m.isoformat() for _, m in learnt]
    result["current"] |= {
        "as_of": as_of.isoformat(),
        "period": {"start": found.current[0].isoformat(), "end": found.current[1].isoformat()},
    }
    return result, reference, periods


def drift(settings: Settings, engine: Engine, as_of: datetime) -> dict[str, Any]:
    """Drift of the features and of the predicted risk of the key results open at `as_of`
    against the key results the champion learnt from (see the module's docstring)."""
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
        found = same_point(objective_periods(conn), as_of)
    # the periods the champion learnt from: ended before its as-of
    result, reference, periods = feature_drift(
        settings, history, found, as_of, trained_as_of.date()
    )
    if "skipped" in result:
        return result
    result["reference"] |= {
        "as_of": trained_as_of.isoformat(),
        "model_version": champion.version,
    }

    # the champion's risks on the reference against the risks it served at D
    if stored.empty:
        result["prediction"] = {
            "skipped": f"no stored predictions of version {champion.version} for the key "
            f"results open at {as_of.isoformat()}"
        }
        return result
    model = registry.load(champion.version)  # this version, though the alias may move meanwhile
    reference_risk = pd.Series(model.predict_proba(reference)[:, 1])
    prediction = compare_column(reference_risk, stored["risk"], settings, periods=periods)
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
