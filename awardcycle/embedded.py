"""The embedded stack's servers: the Temporal dev server (a subprocess) and the local SMTP sink."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import logging
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import policy
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import IO, Any

from aiosmtpd.controller import Controller
from google.protobuf.duration_pb2 import Duration
from temporalio.api.namespace.v1 import NamespaceConfig
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, UpdateNamespaceRequest
from temporalio.client import Client
from temporalio.service import RPCError

from awardcycle.temporal_client import dev_server_path
from config.settings import Settings

log = logging.getLogger(__name__)

STOP_TIMEOUT_SECONDS = 15
POLL_SECONDS = 0.2


@dataclass(frozen=True)
class DevServer:
    address: str
    ui_url: str
    namespace: str
    log_file: Path
    pid: int


@dataclass(frozen=True)
class MailSink:
    address: str
    mail_dir: Path


def dev_server_command(settings: Settings) -> list[str]:
    command = [
        str(dev_server_path()),
        "server",
        "start-dev",
        "--db-filename",
        str(settings.home.resolve() / "temporal.db"),
        "--ip",
        "127.0.0.1",
        "--port",
        str(settings.temporal_port),
        "--ui-port",
        str(settings.temporal_ui_port),
        # WAL and synchronous=normal more than double throughput on the SQLite file (DESIGN.md).
        "--sqlite-pragma",
        "journal_mode=wal",
        "--sqlite-pragma",
        "synchronous=normal",
        "--ui-disable-news-fetch",  # nothing is fetched from the internet at run time
        "--log-level",
        "warn",
    ]
    if settings.temporal_namespace != "default":  # "default" always exists
        command += ["--namespace", settings.temporal_namespace]
    return command


@contextlib.asynccontextmanager
async def start_dev_server(settings: Settings, *, ready_timeout: float = 60.0) -> AsyncIterator[DevServer]:
    """Runs `temporal server start-dev` on the state directory's SQLite file until the block ends.

    The namespace's retention is set to `settings.retention_days` (the dev server registers it with
    24 hours); the setting lives in the file, so workflows and retention survive a restart.
    """
    if not settings.embedded_temporal:
        raise RuntimeError("AWARDCYCLE_TEMPORAL_ADDRESS is set: use that server, not the embedded one")
    for port in (settings.temporal_port, settings.temporal_ui_port):
        _ensure_free(port)
    settings.home.mkdir(parents=True, exist_ok=True)
    log_file = settings.home.resolve() / "temporal.log"
    log = _open_log(log_file)
    try:
        # Its own session: a Ctrl-C in the terminal reaches us, and we stop the server after the worker.
        process = await asyncio.create_subprocess_exec(
            *dev_server_command(settings),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    finally:
        log.close()
    try:
        client = await _wait_until_ready(process, settings, ready_timeout, log_file)
        await set_retention(client, settings.temporal_namespace, timedelta(days=settings.retention_days))
        yield DevServer(
            address=settings.temporal_target,
            ui_url=f"http://127.0.0.1:{settings.temporal_ui_port}",
            namespace=settings.temporal_namespace,
            log_file=log_file,
            pid=process.pid,
        )
    finally:
        await _stop(process)


async def set_retention(client: Client, namespace: str, retention: timedelta) -> None:
    """Sets how long closed workflows are kept, unless it already is that long."""
    described = await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=namespace))
    if described.config.workflow_execution_retention_ttl.ToTimedelta() == retention:
        return
    ttl = Duration()
    ttl.FromTimedelta(retention)
    await client.workflow_service.update_namespace(
        UpdateNamespaceRequest(namespace=namespace, config=NamespaceConfig(workflow_execution_retention_ttl=ttl))
    )


async def _wait_until_ready(
    process: asyncio.subprocess.Process, settings: Settings, ready_timeout: float, log_file: Path
) -> Client:
    """A client once the server answers for the namespace; the server's own exit is an error."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ready_timeout
    request = DescribeNamespaceRequest(namespace=settings.temporal_namespace)
    while True:
        if process.returncode is not None:
            raise RuntimeError(f"the Temporal dev server exited with code {process.returncode}; see {log_file}")
        try:
            client = await Client.connect(
                settings.temporal_target,
                namespace=settings.temporal_namespace,
                connect_timeout=timedelta(seconds=2),
            )
            await client.workflow_service.describe_namespace(request)
            return client
        except (RuntimeError, RPCError):
            if loop.time() > deadline:
                raise TimeoutError(
                    f"the Temporal dev server did not answer on {settings.temporal_target}"
                    f" within {ready_timeout:.0f} s; see {log_file}"
                ) from None
        await asyncio.sleep(POLL_SECONDS)


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.terminate()
    try:
        await asyncio.wait_for(process.wait(), STOP_TIMEOUT_SECONDS)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()


def _ensure_free(port: int) -> None:
    # The dev server would exit on a taken port, but a client could first reach whatever holds it.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do: TIME_WAIT is no conflict
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            raise RuntimeError(f"port {port} on 127.0.0.1 is already in use") from None


def _open_log(path: Path) -> IO[bytes]:
    return path.open("ab")


class _EmlWriter:
    """aiosmtpd handler: each message is kept as `{timestamp}-{n}-{id hash}.eml` under the mail directory.

    A message whose Message-ID is already kept is folded into it, as webmail folds a re-delivery: the
    sender re-sends when a worker died between the server's 250 reply and the outbox recording it.
    """

    def __init__(self, mail_dir: Path) -> None:
        self._mail_dir = mail_dir
        self._counter = itertools.count(1)
        # Kept in memory: a glob of the folder per message grows with the mail a large batch sends.
        self._kept = {path.stem.rsplit("-", 1)[-1] for path in mail_dir.glob("*.eml")}

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content: bytes = envelope.original_content
        message_id = BytesHeaderParser(policy=policy.default).parsebytes(content)["Message-ID"]
        key = hashlib.sha256(str(message_id).strip().encode()).hexdigest()[:16] if message_id else "no-id"
        if message_id and key in self._kept:
            log.info("folded a re-delivery of %s", str(message_id).strip())
            return "250 Message accepted for delivery (a re-delivery, folded into the first)"
        name = f"{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}-{next(self._counter)}-{key}.eml"
        _write_atomically(self._mail_dir / name, content)
        if message_id:
            self._kept.add(key)
        return "250 Message accepted for delivery"


def _write_atomically(path: Path, data: bytes) -> None:
    # Readers (the web app's /dev/mail) only ever see whole files.
    partial = path.with_suffix(".part")
    partial.write_bytes(data)
    partial.replace(path)


@contextlib.asynccontextmanager
async def start_mail_sink(settings: Settings) -> AsyncIterator[MailSink]:
    """An SMTP server on 127.0.0.1:smtp_port that keeps every message it receives as a file."""
    settings.mail_dir.mkdir(parents=True, exist_ok=True)
    controller = Controller(_EmlWriter(settings.mail_dir), hostname="127.0.0.1", port=settings.smtp_port)
    await asyncio.to_thread(controller.start)
    try:
        yield MailSink(address=f"127.0.0.1:{settings.smtp_port}", mail_dir=settings.mail_dir)
    finally:
        await asyncio.to_thread(controller.stop)
