"""Configuration from environment variables and an optional TOML file.

Every setting has one name: `RELAYDESK_<NAME>` in the environment or `<name>` in the file given by
`RELAYDESK_CONFIG`. The environment wins over the file so containers can override a shipped file.
docs/configuration.md lists every variable; a test checks that list against this class.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from relaydesk.outbound.ssrf import parse_purposes


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    # Database URL (SQLAlchemy async form). SQLite file by default; postgresql+asyncpg://... at scale.
    database_url: str = "sqlite+aiosqlite:///relaydesk.db"
    # Redis URL for the realtime bus across processes; empty means the in-memory bus (one process).
    redis_url: str = ""
    # Address the HTTP server binds to and the public base URL shown in webhook URLs and links.
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str = ""
    # Secret for signing session-bound values; generated per process when empty (demo only).
    secret_key: str = ""
    # Master key wrapping the per-workspace keys (see docs/encryption.md); required outside demo mode.
    master_key: str = ""
    # Demo mode: relaxed requirements (generated keys), demo data allowed.
    demo: bool = False
    # Run the job dispatcher inside `serve` (embedded mode). Turn off when separate workers run.
    inprocess_worker: bool = True
    # Job retries: attempts before dead-lettering, and the base/ceiling of the exponential backoff (seconds).
    job_max_attempts: int = 8
    job_backoff_base: float = 2.0
    job_backoff_max: float = 3600.0
    # Seconds a claimed job stays leased to a worker before another may take it over (crashed worker).
    job_lease_seconds: float = 60.0
    # Largest request body accepted, in bytes.
    max_body_bytes: int = 1_048_576
    # Allowed clock skew for signed inbound requests, in seconds.
    signature_tolerance_seconds: int = 300
    # Outbound HTTP timeout in seconds (webhooks, providers).
    http_timeout_seconds: float = 10.0
    # Purposes whose outbound requests may reach private addresses (loopback, LAN), comma-separated from
    # webhooks, channels, ai. Empty: public addresses only. Link-local/metadata addresses never.
    allow_private_targets: str = ""
    # Session lifetimes in seconds: idle timeout and absolute maximum.
    session_idle_seconds: int = 8 * 3600
    session_absolute_seconds: int = 7 * 24 * 3600
    # Send cookies with the Secure flag (turn on behind TLS; HSTS is sent too).
    secure_cookies: bool = False
    # Website chat widget: messages (and files) one visitor may send per minute; one client address may
    # start that many visitor sessions and send four times as many messages (429 above).
    widget_messages_per_minute: int = 30
    # Log level for the server and workers.
    log_level: str = "INFO"
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.private_target_purposes  # noqa: B018 - refuse an unknown purpose at start, not at first request

    @property
    def private_target_purposes(self) -> frozenset[str]:
        try:
            return parse_purposes(self.allow_private_targets)
        except ValueError as exc:
            raise ConfigError(f"{ENV_PREFIX}ALLOW_PRIVATE_TARGETS: {exc}") from None

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


ENV_PREFIX = "RELAYDESK_"


def _coerce(name: str, raw: Any, kind: type) -> Any:
    if isinstance(raw, kind) and not (kind is int and isinstance(raw, bool)):
        return raw
    text = str(raw).strip()
    try:
        if kind is bool:
            if text.lower() in {"1", "true", "yes", "on"}:
                return True
            if text.lower() in {"0", "false", "no", "off", ""}:
                return False
            raise ValueError(text)
        if kind is int:
            return int(text)
        if kind is float:
            return float(text)
    except ValueError as exc:
        raise ConfigError(f"{ENV_PREFIX}{name.upper()}: expected {kind.__name__}, got {text!r}") from exc
    return text


def setting_names() -> list[str]:
    return [f.name for f in fields(Settings) if f.name != "extra"]


def load_settings(environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
    env = dict(os.environ if environ is None else environ)
    values: dict[str, Any] = {}
    config_file = env.get(f"{ENV_PREFIX}CONFIG")
    if config_file:
        path = Path(config_file)
        if not path.is_file():
            raise ConfigError(f"{ENV_PREFIX}CONFIG: no such file {config_file}")
        with path.open("rb") as fh:
            values.update(tomllib.load(fh))
    types = {"str": str, "int": int, "float": float, "bool": bool}
    known = {f.name: types.get(str(f.type), str) for f in fields(Settings) if f.name != "extra"}
    unknown = set(values) - set(known)
    if unknown:
        raise ConfigError(f"unknown settings in {config_file}: {', '.join(sorted(unknown))}")
    for name in known:
        key = f"{ENV_PREFIX}{name.upper()}"
        if key in env:
            values[name] = env[key]
    values.update(overrides)
    coerced = {name: _coerce(name, value, known[name]) for name, value in values.items()}
    return Settings(**coerced)
