"""Configuration from `AWARDCYCLE_*` environment variables or a `.env` file; unset means embedded."""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal, Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Values copied from examples that must never reach a real relay.
PLACEHOLDER_SECRETS = frozenset({"", "changethis", "changeme", "password", "secret"})


KIB, MIB, GIB = 1024, 1024**2, 1024**3


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="AWARDCYCLE_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    home: Path = Field(default=Path("var"), description="state directory")
    web_host: str = "127.0.0.1"
    web_port: int = 8000
    temporal_port: int = 7233
    temporal_ui_port: int = Field(default_factory=lambda data: data["temporal_port"] + 1000)
    smtp_port: int = 1025

    # Temporal: unset address means the embedded dev server on 127.0.0.1:temporal_port.
    temporal_address: str | None = None
    temporal_namespace: str = "default"
    temporal_tls: bool = False
    temporal_api_key: SecretStr | None = None
    retention_days: int = Field(default=3650, ge=1, description="closed-workflow retention (embedded)")

    catalogue: Path | None = Field(
        default=None, description="a folder of programme files, with rosters/ and rubrics/; unset: the built-in one"
    )
    database_url: str | None = Field(default=None, description="unset means a SQLite file under home")

    # A worker process runs Python under one GIL: a task it holds beyond those it can run waits inside it, its
    # start-to-close clock running (with the SDK's 100, a 425-applicant cycle's tasks took up to 1.5 s; with 4, 0.6 s).
    workflow_task_slots: int = Field(default=4, ge=2, le=1000, description="workflow tasks a worker runs at once")
    activity_threads: int = Field(default=8, ge=1, le=200, description="threads for a worker's synchronous activities")

    # SMTP: unset host means the embedded sink on 127.0.0.1:smtp_port.
    smtp_host: str | None = None
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_security: Literal["none", "starttls", "tls"] = "none"
    mail_from: str = "质量奖评审办公室 <awards@quality.example.cn>"
    mail_reply_to: str | None = None

    link_key: SecretStr | None = Field(
        default=None,
        description="key the workers derive task-link tokens from; unset: generated once into home/link.key",
    )
    public_base_url: str = Field(default_factory=lambda data: f"http://127.0.0.1:{data['web_port']}")
    link_grace_days: int = Field(default=3, ge=0)
    # Per client address, in the `limits` notation (https://limits.readthedocs.io).
    wrong_link_limit: str = Field(default="20/10 minutes", description="unknown or malformed task links")
    objection_limit: str = Field(default="5/hour", description="objections lodged on one public notice")
    login_failure_limit: str = Field(default="20/15 minutes", description="failed logins from one address")
    applicant_email_limit: str = Field(default="5/hour", description="confirmation emails per address and per inbox")

    # Applicants' files, kept under home/documents by their SHA-256; request bodies are bounded (413 past them).
    document_max_bytes: int = Field(default=20 * MIB, ge=KIB, le=GIB, description="one uploaded file")
    application_max_bytes: int = Field(default=100 * MIB, ge=KIB, le=4 * GIB, description="all files of one upload")
    request_max_bytes: int = Field(default=MIB, ge=KIB, le=GIB, description="a request body without files")
    applicant_link_hours: int = Field(default=72, ge=1, le=24 * 60, description="an email confirmation link's life")
    status_link_days: int = Field(default=400, ge=1, le=3650, description="an applicant's status link's life")

    # Accounts: the first admin's password on a fresh state directory (unset: a random one, printed once).
    admin_password: SecretStr | None = None
    token_minutes: int = Field(default=480, ge=5, le=43200, description="lifetime of a login's token")
    lockout_failures: int = Field(default=5, ge=1, le=100, description="failed logins that lock a username")
    lockout_minutes: int = Field(default=15, ge=1, le=1440)
    # Comma-separated addresses of reverse proxies whose X-Forwarded-For is believed; none by default.
    trusted_proxies: str = ""
    # The CLI's way in: the web API, and a token that overrides the one `awardcycle login` keeps.
    api_url: str = Field(default_factory=lambda data: f"http://127.0.0.1:{data['web_port']}")
    token: SecretStr | None = None

    @model_validator(mode="after")
    def _check_smtp_password(self) -> Self:
        if self.smtp_host and self.smtp_username:
            password = self.smtp_password.get_secret_value() if self.smtp_password else ""
            if password.strip().lower() in PLACEHOLDER_SECRETS:
                raise ValueError("AWARDCYCLE_SMTP_PASSWORD is empty or a placeholder; set the relay's real password")
        return self

    @property
    def forwarded_allow_ips(self) -> str | None:
        """For uvicorn: X-Forwarded-For is believed only from these proxies; with none, the peer is the client."""
        return self.trusted_proxies.strip() or None

    @property
    def embedded_temporal(self) -> bool:
        return self.temporal_address is None

    @property
    def temporal_target(self) -> str:
        return self.temporal_address or f"127.0.0.1:{self.temporal_port}"

    @property
    def embedded_smtp(self) -> bool:
        return self.smtp_host is None

    @property
    def smtp_target_host(self) -> str:
        return self.smtp_host or "127.0.0.1"

    @property
    def database_url_resolved(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'awardcycle.db'}"

    @property
    def mail_dir(self) -> Path:
        return self.home / "mail"

    @property
    def documents_dir(self) -> Path:
        return self.home / "documents"

    def link_key_bytes(self) -> bytes:
        """The configured key, else the one kept under home (created on first use, readable by the owner only)."""
        if self.link_key is not None:
            return self.link_key.get_secret_value().encode()
        path = self.home / "link.key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as file:
                file.write(secrets.token_urlsafe(32))
        return path.read_text().strip().encode()


@lru_cache
def get_settings() -> Settings:
    return Settings()
