"""The cycle's pure rules: the expert draw, score aggregation, ranking, quotas and recommendations.

No I/O, clock or randomness beyond a seed: the workflows call them, and the unit tests check them alone.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable, Mapping

from schemas.application import Applicant, ApplicationProgress, Outcome
from schemas.cycle import Award
from schemas.programme import ApplicantKind, Expert, Quotas, Recommendation

# With this many expert scores or more, the highest and the lowest are dropped before averaging.
TRIM_FROM = 5


def draw_experts(seed: str, pool: list[Expert], applicant: Applicant, count: int) -> list[str]:
    """Experts for one application, drawn reproducibly from the pool without declared conflicts."""
    conflicted = {applicant.name, applicant.credit_code}
    eligible = sorted(e.id for e in pool if not conflicted & set(e.conflicts))
    rng = random.Random(int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big"))  # noqa: S311
    return sorted(rng.sample(eligible, min(count, len(eligible))))


def expert_total(scores: dict[str, float]) -> float:
    return round(sum(scores.values()), 2)


def aggregate(totals: list[float]) -> float:
    """Mean of the experts' totals, without the highest and lowest once there are enough of them."""
    kept = sorted(totals)[1:-1] if len(totals) >= TRIM_FROM else totals
    return round(sum(kept) / len(kept), 2)


def rank(
    progress: Mapping[str, ApplicationProgress], candidates: Iterable[str], *, by_expert_score: bool = False
) -> list[str]:
    """Best first by final (or expert) score, then by expert score, then by id; no score counts as 0."""

    def key(application_id: str) -> tuple[float, float, str]:
        p = progress[application_id]
        first = p.expert_score if by_expert_score else p.final_score
        return (-(first or 0.0), -(p.expert_score or 0.0), application_id)

    return sorted(candidates, key=key)


def propose(ranked: list[str], quotas: Quotas) -> dict[str, Outcome]:
    """The proposed award of each ranked applicant within the quotas: winners first, then nominations."""
    chosen = ranked[: quotas.winners + quotas.nominations]
    return {a: Outcome.WINNER if place < quotas.winners else Outcome.NOMINATION for place, a in enumerate(chosen)}


def recommend(
    feeds: list[Recommendation], awards: list[Award], kinds: Mapping[str, ApplicantKind]
) -> list[tuple[str, Award]]:
    """(fed programme, award) pairs: winners first, then nominations, by score, within each feed's quota
    per applicant kind (individuals have their own)."""
    ranked = sorted(awards, key=lambda a: (a.award is not Outcome.WINNER, -(a.final_score or 0)))
    recommended: list[tuple[str, Award]] = []
    for feed in feeds:
        quota = {ApplicantKind.INDIVIDUAL: feed.individuals}
        taken: dict[ApplicantKind, int] = {}
        for award in ranked:
            kind = kinds[award.application_id]
            if taken.get(kind, 0) >= quota.get(kind, feed.organisations):
                continue
            taken[kind] = taken.get(kind, 0) + 1
            recommended.append((feed.programme, award))
    return recommended
