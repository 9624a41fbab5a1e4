"""Histories recorded from real runs replay with the current code: workflow changes stay deterministic."""

from __future__ import annotations

from tests.replay import load, replay


async def test_recorded_histories_replay() -> None:
    histories = load()
    kinds = {h.events[0].workflow_execution_started_event_attributes.workflow_type.name for h in histories}
    assert kinds == {"AwardCycleWorkflow", "ApplicationWorkflow", "ConsultationWorkflow", "PublicNoticeWorkflow"}
    results = await replay(histories)
    assert not results.replay_failures, results.replay_failures
