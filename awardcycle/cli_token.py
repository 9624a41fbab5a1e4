"""Where `awardcycle login` keeps its tokens: `{api_url: token}` in a file only its owner may read."""

from __future__ import annotations

import json
import os
from pathlib import Path


def config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "awardcycle"


def token_file() -> Path:
    return config_dir() / "token.json"


def _key(api_url: str) -> str:
    return api_url.rstrip("/")


def read_tokens() -> dict[str, str]:
    """Every kept token by API URL; a missing or unreadable file keeps none (the next login rewrites it)."""
    try:
        kept = json.loads(token_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(kept, dict):
        return {}
    return {url: token for url, token in kept.items() if isinstance(token, str)}


def saved_token(api_url: str) -> str | None:
    return read_tokens().get(_key(api_url))


def _write(tokens: dict[str, str]) -> None:
    directory = config_dir()
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    directory.chmod(0o700)
    path = token_file()
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.unlink(missing_ok=True)
    # Created 0600 before a byte is written, then renamed over the old file: never readable by others.
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        json.dump(tokens, file, indent=2)
    os.replace(partial, path)


def save_token(api_url: str, token: str) -> None:
    _write({**read_tokens(), _key(api_url): token})


def forget_token(api_url: str) -> None:
    tokens = read_tokens()
    if tokens.pop(_key(api_url), None) is not None:
        _write(tokens)
