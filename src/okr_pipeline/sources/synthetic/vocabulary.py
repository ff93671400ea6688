"""The words people write into OKR tools: titles, notes, plan names, in several languages.

Quotes, commas, newlines and non-ASCII text are here on purpose: exports must survive them.
"""

from __future__ import annotations

DEPARTMENTS = (
    "Sales", "Customer Success", "Engineering", "Marketing, Brand & Growth",
    "Opérations & Qualité", "የአዲስ አበባ ቢሮ",
)  # fmt: skip

OBJECTIVE_TITLES: tuple[tuple[str, ...], ...] = (
    ("Grow enterprise revenue", "Expand into the DACH market", 'Win the "mid-market" segment',
     "Build a repeatable sales motion", "Increase deal velocity, cut the sales cycle"),
    ("Reduce churn, keep customers", "Delight customers at onboarding", "Make support proactive",
     "Fidéliser nos clients clés", "Turn customers into advocates"),
    ("Ship a reliable platform", "Cut infrastructure cost", "Speed up delivery",
     'Launch the "Aurora" mobile app', "Pay down tech debt, safely"),
    ("Build a brand people trust", "Fill the pipeline with qualified leads",
     "Launch in two new regions", "Lancer la campagne « Printemps »", "Own the category story"),
    ("Run lean, high-quality operations", "Améliorer la qualité des livraisons",
     "Automate the finance close", "Hire and onboard the right people",
     "Rendre les achats simples"),
    ("ደንበኞችን ማስፋት — grow the Addis customer base", "Open the Addis Ababa office",
     "የአገልግሎት ጥራትን ማሻሻል", "Build local partnerships, ETB revenue", "Hire the Addis team"),
)  # fmt: skip

# (title template, unit) by (metric type, direction); {s} start, {t} target.
KR_TEMPLATES: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {
    ("percentage", "up"): (
        ("Raise trial-to-paid conversion from {s}% to {t}%", "%"),
        ("Lift automated test coverage to {t}%", "%"),
        ("Grow the weekly active share of accounts to {t}%", "%"),
        ("Augmenter le taux de réponse à {t} %", "%"),
        ("On-time delivery rate from {s}% to {t}%", "%"),
    ),
    ("percentage", "down"): (
        ("Reduce churn from {s}% to {t}%", "%"),
        ("Cut the defect escape rate from {s}% to {t}%", "%"),
        ("Lower the invoice error rate to {t}%", "%"),
    ),
    ("number", "up"): (
        ("Close {t} enterprise deals", "deals"),
        ("Publish {t} customer case studies", "stories"),
        ("Onboard {t} new partners", "partners"),
        ("Hire {t} engineers", "hires"),
        ("Grow MQLs from {s} to {t} per month", "MQL"),
        ('Get "NPS" from {s} to {t}', ""),
    ),
    ("number", "down"): (
        ("Reduce P1 incidents from {s} to {t}", "incidents"),
        ("Cut median first response time from {s}h to {t}h", "h"),
        ("Bring the support backlog from {s} to {t} tickets", "tickets"),
    ),
    ("currency", "up"): (
        ("Reach {t} USD in new ARR", "USD"),
        ("Book {t} EUR in expansion revenue", "EUR"),
        ("Grow partner revenue from {s} to {t} ETB", "ETB"),
    ),
    ("currency", "down"): (
        ("Cut cloud spend from {s} to {t} USD/month", "USD"),
        ("Cut vendor spend from {s} to {t} EUR per quarter", "EUR"),
    ),
    ("boolean", "up"): (
        ("Launch the partner portal", ""),
        ("Pass the SOC 2 audit", ""),
        ('Go live with "Aurora" v2', ""),
        ("Signer le contrat cadre, phase 1", ""),
        ("የአዲሱ ቢሮ ምረቃ", ""),
    ),
    ("milestone", "up"): (
        ("Deliver the data platform roadmap", "milestones"),
        ("Roll out the new CRM, all regions", "milestones"),
        ("Open the Addis Ababa office — ዋና ደረጃዎች", "milestones"),
        ("Migrate billing to the new provider", "milestones"),
    ),
}

MILESTONE_TITLES = (
    "Design approved", "Pilot live", "Rollout, all sites", "Vendor selected", "Contrat signé",
    "ሙከራ ተጠናቋል", 'Beta "go/no-go" review', "Data migrated", "Training done", "Launch party",
    "Security sign-off", "Budget approved",
)  # fmt: skip

TASK_TITLES = (
    "Draft pricing page", "Call ten prospects", "Prepare demo deck", "Fix flaky tests",
    "Write copy", "Review Q&A with legal", 'Send "renewal" reminders', "Préparer la démo",
    "ስብሰባ ማዘጋጀት", "Clean up the CRM, dedupe accounts", "Interview candidates",
    "Update the runbook", "Analyse churn cohort", "Ship feature flag", "Follow up, partners",
)  # fmt: skip

# Check-in notes by how the key result is doing.
NOTES: dict[str, tuple[str, ...]] = {
    "ahead": (
        "Ahead of plan",
        "Big deal closed early 🎉",
        "Going well, may overshoot",
        "En avance sur le plan",
    ),
    "on_track": (
        "On track",
        "Steady progress",
        "No blockers",
        "በሂደት ላይ",
        'Pipeline looks good, "maybe" two more',
    ),
    "behind": (
        'Two deals slipped, one "maybe"',
        "Behind, waiting on vendor",
        "Retard dû aux congés",
        "Need help with pricing, escalated",
    ),
    "blocked": (
        "Blocked by legal review",
        "Team pulled onto incidents",
        "Budget frozen",
        "Blocked\nwaiting on the platform team",
    ),
}

PLAN_DESCRIPTIONS = ("Week {} plan", "Semaine {}", "ሳምንት {} plan", "W{} priorities, focus")

# How an older version of a row was titled; {} is the current title.
OLD_TITLES = ("Draft: {}", "{} (old title)", "{} — v0", "WIP {}")
