"""The embedded servers: the Temporal dev server on a file, with long retention, and the mail sink."""

from __future__ import annotations

import socket
import uuid
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import WorkflowExecutionStatus

from awardcycle.embedded import start_dev_server, start_mail_sink
from awardcycle.temporal_client import connect
from config.settings import Settings
from notifications.mailer import Mailer


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_dev_server_keeps_workflows_and_long_retention_across_restarts(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, temporal_port=free_port(), temporal_ui_port=free_port())
    workflow_id = f"kept-{uuid.uuid4()}"

    async with start_dev_server(settings) as server:
        assert server.address == settings.temporal_target
        client = await connect(settings)
        described = await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=settings.temporal_namespace)
        )
        retention = described.config.workflow_execution_retention_ttl.ToTimedelta()
        assert retention == timedelta(days=settings.retention_days) >= timedelta(days=365)
        # No worker polls this queue: the workflow simply stays open.
        await client.start_workflow("Nothing", id=workflow_id, task_queue=f"idle-{uuid.uuid4()}")

    assert (tmp_path / "temporal.db").is_file()
    with pytest.raises(ConnectionRefusedError):  # the server is gone
        socket.create_connection(("127.0.0.1", settings.temporal_port), timeout=2).close()

    async with start_dev_server(settings):
        client = await connect(settings)
        description = await client.get_workflow_handle(workflow_id).describe()
        assert description.status == WorkflowExecutionStatus.RUNNING
        described = await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=settings.temporal_namespace)
        )
        assert described.config.workflow_execution_retention_ttl.ToTimedelta() >= timedelta(days=365)


async def test_mail_sink_keeps_each_message_once_as_an_eml_file(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, smtp_port=free_port())
    mailer = Mailer(settings)
    async with start_mail_sink(settings) as sink:
        assert sink.mail_dir == tmp_path / "mail"
        for n in (1, 2, 2):  # the second send of test-2 is a re-delivery after a crash: folded
            await mailer.send(
                mailer.compose(
                    message_id=f"wf/test-{n}",
                    recipient="office@quality.example.cn",
                    subject=f"测试 {n}",
                    text="正文",
                    html="<p>正文</p>",
                    sent_at=datetime.now(UTC),
                )
            )

    files = sorted(sink.mail_dir.iterdir())
    assert [f.suffix for f in files] == [".eml", ".eml"]
    subjects = {message_from_bytes(f.read_bytes(), policy=policy.default)["Subject"] for f in files}
    assert subjects == {"测试 1", "测试 2"}
