"""Activities of the ladder: recommendations between tiers and years, and eligibility from the store."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from temporalio import activity
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from programmes import UnknownProgrammeError, get_programme
from schemas import ids
from schemas.common import SHANGHAI, Actor, Channel, Role
from schemas.ladder import (
    Delivery,
    DeliveryRequest,
    DeliveryResult,
    DeliveryState,
    EligibilityRequest,
    EligibilityResult,
    PendingRequest,
    PendingResult,
    RecommendationBatch,
    RecommendationCheck,
    RecommendationProblems,
    RecommendationReceipt,
    RecommendedApplicant,
    SettledRecommendations,
)
from schemas.programme import Programme
from store import ladder, queries
from store.db import session
from store.tables import DeliveryRow
from store.titles import get_title, titles_of

DAYS_PER_YEAR = 365.2425


def _target_programme(programme_id: str) -> Programme:
    try:
        return get_programme(programme_id)
    except UnknownProgrammeError as error:
        raise ApplicationError(str(error), type="UnknownProgramme", non_retryable=True) from error


def _lapsed_title(engine: Engine, applicant: RecommendedApplicant) -> str | None:
    """Why the title behind a recommendation no longer counts: revoked or expired; None while it holds."""
    with session(engine) as s:
        title = get_title(s, title_id=ids.title_id(applicant.from_application_id))
    if title is None or title.state == "active":
        return None
    if title.state == "revoked":
        return f"{applicant.name} 的称号已被撤销：{title.public_reason} (title revoked)"
    return f"{applicant.name} 的称号已过有效期 (title expired)"


def _from_cycle(programme_id: str, cycle_id: str, candidates: list[RecommendedApplicant]) -> RecommendationBatch:
    """A batch the recommending cycle itself sends, as the system on its behalf."""
    actor = Actor(role=Role.SYSTEM, identity=f"cycle:{cycle_id}", channel=Channel.API)
    return RecommendationBatch(actor=actor, from_programme=programme_id, from_cycle=cycle_id, candidates=candidates)


class LadderActivities:
    def __init__(self, client: Client, engine: Engine) -> None:
        self._client = client
        self._engine = engine

    # The recommending side.

    @activity.defn(name="deliver_recommendations")
    async def deliver_recommendations(self, request: DeliveryRequest) -> DeliveryResult:
        """Each fed programme's share goes to its open edition now, or waits in the store for the next one."""
        by_target: dict[str, list[RecommendedApplicant]] = defaultdict(list)
        for item in request.recommendations:
            by_target[item.target_programme].append(item.applicant)
        deliveries: list[Delivery] = []
        for target_id, applicants in by_target.items():
            target = _target_programme(target_id)
            year, open_cycle = await asyncio.to_thread(self._edition, target, request.announced_at)
            live = []
            for applicant in applicants:
                lapsed = await asyncio.to_thread(_lapsed_title, self._engine, applicant)
                if lapsed:
                    deliveries.append(
                        self._delivery(
                            request.from_cycle, target_id, year, None, applicant, DeliveryState.DROPPED, lapsed
                        )
                    )
                else:
                    live.append(applicant)
            if live and open_cycle is not None:
                deliveries += await self._send(request, target_id, year, open_cycle, live)
            else:
                pending = DeliveryState.PENDING
                deliveries += [self._delivery(request.from_cycle, target_id, year, None, a, pending) for a in live]
        await asyncio.to_thread(self._store, request, deliveries)
        return DeliveryResult(deliveries=deliveries)

    def _edition(self, target: Programme, announced_at: datetime) -> tuple[int, str | None]:
        """The edition a recommendation announced now goes to, and its cycle if it takes applications now.

        That is the earliest running edition still in its application stage; else the first edition
        that has not opened yet (the national award is biennial: its next edition).
        """
        year = announced_at.astimezone(SHANGHAI).year
        with session(self._engine) as s:
            cycles = [c for c in ladder.editions(s, programme_id=target.id) if c.year >= year]
        accepting = [c for c in cycles if c.stage == "application" and not c.completed]
        if accepting:
            earliest = min(accepting, key=lambda c: c.year)
            return earliest.year, earliest.cycle_id
        opened = {c.year for c in cycles}
        for candidate in range(year, year + 2 * target.every_years + 1):
            later = candidate > year or target.opens_at(candidate) > announced_at
            if target.holds_edition(candidate) and candidate not in opened and later:
                return candidate, None
        raise ApplicationError(f"no edition of {target.id} is open or to come", type="NoEdition", non_retryable=True)

    async def _send(
        self, request: DeliveryRequest, target_id: str, year: int, cycle_id: str, applicants: list[RecommendedApplicant]
    ) -> list[Delivery]:
        batch = _from_cycle(request.from_programme, request.from_cycle, applicants)
        handle = self._client.get_workflow_handle(cycle_id)
        try:
            await handle.execute_update("recommend", batch, result_type=RecommendationReceipt)
        except WorkflowUpdateFailedError as error:
            reason = str(getattr(error.cause, "message", "") or error.cause or error)
            return [
                self._delivery(request.from_cycle, target_id, year, cycle_id, a, DeliveryState.REFUSED, reason)
                for a in applicants
            ]
        return [
            self._delivery(request.from_cycle, target_id, year, cycle_id, a, DeliveryState.DELIVERED)
            for a in applicants
        ]

    @staticmethod
    def _delivery(
        from_cycle: str,
        target_id: str,
        year: int | None,
        cycle_id: str | None,
        applicant: RecommendedApplicant,
        state: DeliveryState,
        reason: str = "",
    ) -> Delivery:
        return Delivery(
            from_cycle=from_cycle,
            target_programme=target_id,
            target_year=year,
            target_cycle=cycle_id,
            holder_key=applicant.holder_key,
            name=applicant.name,
            state=state,
            reason=reason,
        )

    def _store(self, request: DeliveryRequest, deliveries: list[Delivery]) -> None:
        applicants = {(r.target_programme, r.applicant.holder_key): r.applicant for r in request.recommendations}
        now = datetime.now(UTC)
        with session(self._engine) as s:
            for d in deliveries:
                applicant = applicants[(d.target_programme, d.holder_key)]
                ladder.upsert_delivery(
                    s,
                    delivery=DeliveryRow(
                        from_cycle=request.from_cycle,
                        from_programme=request.from_programme,
                        target_programme=d.target_programme,
                        target_year=d.target_year,
                        target_cycle=d.target_cycle,
                        holder_key=d.holder_key,
                        name=d.name,
                        award=applicant.award,
                        applicant_json=applicant.model_dump_json(),
                        state=d.state.value,
                        reason=d.reason,
                        created_at=now,
                        updated_at=now,
                    ),
                )

    # The receiving side.

    @activity.defn(name="pending_recommendations")
    def pending_recommendations(self, request: PendingRequest) -> PendingResult:
        """What waits for this edition, one batch per recommending cycle; lapsed titles are dropped here."""
        batches: dict[str, RecommendationBatch] = {}
        with session(self._engine) as s:
            rows = ladder.pending_deliveries(s, target_programme=request.programme_id, year=request.year)
        for row in rows:
            applicant = RecommendedApplicant.model_validate_json(row.applicant_json)
            lapsed = _lapsed_title(self._engine, applicant)
            if lapsed:
                self._settle(row.from_cycle, row.target_programme, row.holder_key, DeliveryState.DROPPED, lapsed, None)
                continue
            if row.from_cycle in batches:
                batches[row.from_cycle].candidates.append(applicant)
            else:
                batches[row.from_cycle] = _from_cycle(row.from_programme, row.from_cycle, [applicant])
        return PendingResult(batches=list(batches.values()))

    @activity.defn(name="settle_recommendations")
    def settle_recommendations(self, settled: SettledRecommendations) -> None:
        for d in settled.deliveries:
            self._settle(d.from_cycle, d.target_programme, d.holder_key, d.state, d.reason, settled.cycle_id)

    def _settle(
        self, from_cycle: str, target: str, key: str, state: DeliveryState, reason: str, cycle_id: str | None
    ) -> None:
        with session(self._engine) as s:
            row = ladder.get_delivery(s, from_cycle=from_cycle, target_programme=target, holder_key=key)
            if row is not None:
                row.state, row.reason, row.target_cycle = state.value, reason, cycle_id
                row.updated_at = datetime.now(UTC)

    @activity.defn(name="check_recommendation")
    def check_recommendation(self, check: RecommendationCheck) -> RecommendationProblems:
        """The store must know each candidate as an award holder of the recommending cycle, title still held."""
        batch = check.batch
        with session(self._engine) as s:
            awards = {r.application_id: r.award for r in queries.list_results(s, cycle_id=batch.from_cycle)}
        problems = []
        for candidate in batch.candidates:
            if awards.get(candidate.from_application_id) != candidate.award:
                problems.append(f"{candidate.name} 不是{batch.from_cycle}的获奖者 (not an award holder of that cycle)")
            elif lapsed := _lapsed_title(self._engine, candidate):
                problems.append(lapsed)
        return RecommendationProblems(problems=problems)

    @activity.defn(name="check_eligibility")
    def check_eligibility(self, request: EligibilityRequest) -> EligibilityResult:
        problems: list[str] = []
        with session(self._engine) as s:
            titles = titles_of(s, holder_key=request.holder_key)
            if request.winner_cooldown_years:
                since = request.year - request.winner_cooldown_years + 1
                wins = ladder.wins_since(
                    s, programme_id=request.programme_id, holder_key=request.holder_key, since_year=since
                )
                won = [w for w in wins if w.year < request.year]
                if won:
                    again = won[-1].year + request.winner_cooldown_years
                    problems.append(
                        f"已于{won[-1].year}年获得本奖项，{again}年起方可再次申报 "
                        f"(won in {won[-1].year}; may apply again from {again})"
                    )
        bar = request.at - timedelta(days=DAYS_PER_YEAR * request.revoked_bar_years)
        for title in titles:
            if title.state == "revoked" and title.revoked_at is not None and title.revoked_at >= bar:
                problems.append(
                    f"{title.year}年所获称号已被撤销（{title.public_reason}），{request.revoked_bar_years}年内不得申报 "
                    f"(a title of {title.programme_id} was revoked)"
                )
        direct = any(t.programme_id == request.direct_from and t.state == "active" for t in titles)
        return EligibilityResult(problems=problems, direct=direct)
