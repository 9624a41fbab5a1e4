"""Activities that start workflows of their own (titles, the archive), kept apart from the activities those
workflows call, so each workflow imports its activities without a cycle."""

from __future__ import annotations

from temporalio import activity
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from schemas import ids
from schemas.archive import ArchiveRequest
from schemas.title import TitleGrant, TitleInput, TitlesStarted, add_years, title_kind
from workflows.archive import ArchiveWorkflow
from workflows.title import TitleWorkflow


def title_inputs(grant: TitleGrant) -> list[TitleInput]:
    expires_at = add_years(grant.granted_at, grant.validity_years)
    return [
        TitleInput(
            cycle_id=grant.cycle_id,
            programme_id=grant.programme_id,
            programme_name_zh=grant.programme_name_zh,
            year=grant.year,
            kind=title_kind(brand=grant.brand, award=holder.award),
            holder=holder,
            granted_at=grant.granted_at,
            expires_at=expires_at,
            self_inspection=grant.self_inspection,
            clock=grant.clock,
        )
        for holder in grant.holders
    ]


class StartActivities:
    def __init__(self, client: Client) -> None:
        self._client = client

    @activity.defn(name="start_archive")
    async def start_archive(self, request: ArchiveRequest) -> None:
        """Start the cycle's ArchiveWorkflow on this worker's task queue; once only, however often retried."""
        try:
            await self._client.start_workflow(
                ArchiveWorkflow.run,
                request,
                id=ids.archive_id(request.cycle_id),
                task_queue=activity.info().task_queue,
            )
        except WorkflowAlreadyStartedError:
            activity.logger.info("archive of %s already started", request.cycle_id)

    @activity.defn(name="start_titles")
    async def start_titles(self, grant: TitleGrant) -> TitlesStarted:
        """One TitleWorkflow per holder on this worker's task queue; a retry starts none twice."""
        result = TitlesStarted(started=[], existing=[])
        for title in title_inputs(grant):
            workflow_id = ids.title_id(title.holder.application_id)
            activity.heartbeat(workflow_id)
            try:
                await self._client.start_workflow(
                    TitleWorkflow.run,
                    title,
                    id=workflow_id,
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    task_queue=activity.info().task_queue,
                )
            except WorkflowAlreadyStartedError:
                result.existing.append(workflow_id)
            else:
                result.started.append(workflow_id)
        return result
