"""The cycle's pure rules, alone: the expert draw, aggregation, ranking, quotas and recommendations."""

from __future__ import annotations

from awardcycle import samples
from programmes import get_programme
from schemas.application import ApplicationProgress, ApplicationState, Outcome
from schemas.cycle import Award
from schemas.programme import ApplicantKind, Expert, Quotas, Recommendation
from workflows.rules import aggregate, draw_experts, expert_total, propose, rank, recommend

PROGRAMME = get_programme("qingdao-mayor-quality-award")


def _experts(count: int, conflicted: str | None = None) -> list[Expert]:
    return [
        Expert(
            id=f"e{n:02d}",
            name=f"专家{n}",
            email=f"e{n}@example.cn",
            conflicts=[conflicted] if conflicted and n < 3 else [],
        )
        for n in range(count)
    ]


def test_the_draw_is_reproducible_and_skips_conflicts() -> None:
    form = samples.application(PROGRAMME, 1)
    pool = _experts(10, conflicted=form.credit_code)
    drawn = draw_experts("cycle/app-0001", pool, form, 5)
    assert drawn == draw_experts("cycle/app-0001", pool, form, 5) == sorted(drawn)
    assert len(drawn) == 5 and not {"e00", "e01", "e02"} & set(drawn)
    assert draw_experts("cycle/app-0002", pool, form, 5) != drawn, "another application, another draw"
    assert len(draw_experts("seed", _experts(4, conflicted=form.name), form, 5)) == 1, "fewer when few are free"


def test_aggregation_trims_the_extremes_once_there_are_five() -> None:
    assert expert_total({"1.1": 40.25, "1.2": 30.5}) == 70.75
    assert aggregate([70.0, 80.0, 90.0, 100.0]) == 85.0
    assert aggregate([10.0, 70.0, 80.0, 90.0, 1000.0]) == 80.0


def _progress(application_id: str, final: float | None, expert: float | None) -> ApplicationProgress:
    return ApplicationProgress(
        application_id=application_id,
        state=ApplicationState.WAITING,
        stage=None,
        expert_score=expert,
        final_score=final,
    )


def test_ranking_breaks_ties_by_expert_score_then_id() -> None:
    progress = {
        "a": _progress("a", 800.0, 700.0),
        "b": _progress("b", 800.0, 750.0),
        "c": _progress("c", None, 900.0),
        "d": _progress("d", 800.0, 750.0),
    }
    assert rank(progress, progress) == ["b", "d", "a", "c"]
    assert rank(progress, progress, by_expert_score=True) == ["c", "b", "d", "a"]
    assert rank(progress, ["a", "c"]) == ["a", "c"]


def test_quotas_give_winners_then_nominations() -> None:
    proposed = propose(["a", "b", "c", "d", "e"], Quotas(winners=2, nominations=2))
    assert proposed == {"a": Outcome.WINNER, "b": Outcome.WINNER, "c": Outcome.NOMINATION, "d": Outcome.NOMINATION}
    assert propose(["a"], Quotas(winners=3, nominations=1)) == {"a": Outcome.WINNER}


def _award(application_id: str, award: Outcome, score: float) -> Award:
    return Award(
        application_id=application_id,
        name=application_id,
        applicant_kind="organisation",
        credit_code=None,
        award=award,
        final_score=score,
    )


def test_recommendations_take_winners_first_within_each_kinds_quota() -> None:
    awards = [
        _award("n1", Outcome.NOMINATION, 990.0),
        _award("w1", Outcome.WINNER, 800.0),
        _award("w2", Outcome.WINNER, 850.0),
        _award("p1", Outcome.WINNER, 900.0),
    ]
    kinds = {"n1": ApplicantKind.ORGANISATION, "w1": ApplicantKind.ORGANISATION}
    kinds |= {"w2": ApplicantKind.ORGANISATION, "p1": ApplicantKind.INDIVIDUAL}
    feeds = [Recommendation(programme="up", organisations=2, individuals=0)]
    assert [(p, a.application_id) for p, a in recommend(feeds, awards, kinds)] == [("up", "w2"), ("up", "w1")]
    both = [*feeds, Recommendation(programme="brand", organisations=3, individuals=1)]
    chosen = [(p, a.application_id) for p, a in recommend(both, awards, kinds)]
    assert chosen == [("up", "w2"), ("up", "w1"), ("brand", "p1"), ("brand", "w2"), ("brand", "w1"), ("brand", "n1")]
