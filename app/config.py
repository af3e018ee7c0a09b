"""Service configuration, read from the environment once per process."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEV_ISSUER = "https://cpis.invalid/development"
DEV_AUDIENCE = "cpis"
_ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?")


class Settings(BaseSettings):
    """Every setting the service reads; the README's configuration table mirrors this."""

    model_config = SettingsConfigDict(env_prefix="CPIS_", extra="ignore")

    env: Literal["development", "production"] = "development"
    data_dir: Path = Path(".cpis")

    # Database. DATABASE_URL is the owner (migrations); the service itself connects
    # as the application role (CPIS_APP_DATABASE_URL, or DATABASE_URL with role cpis_app).
    database_url: str | None = Field(default=None, validation_alias="DATABASE_URL")
    app_database_url: str | None = None
    # A fixed pool: overflow connections were opened and closed under every burst, each
    # paying a SCRAM handshake and re-preparing its statements (make bench, L1/L2).
    db_pool_size: int = Field(default=20, ge=1, le=200)
    db_pool_max_overflow: int = Field(default=0, ge=0, le=200)
    db_statement_timeout_ms: int = Field(default=5000, ge=100)

    # Identity provider. None set: development mode with a local signing key.
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwks_url: str | None = None
    jwks_file: Path | None = None
    jwks_cache_seconds: int = Field(default=300, ge=10)

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    log_level: str = "INFO"
    max_upload_bytes: int = Field(default=50_000_000, ge=1024)  # 50 MB, as CONTRACT §3.2 writes it
    max_json_body_bytes: int = Field(default=64 * 1024, ge=1024)
    max_json_depth: int = Field(default=32, ge=2, le=512)

    # Harvesting: distinct NHS numbers one user / one organisation may look up in a
    # sliding window (defaults argued in SECURITY.md; a registration desk never nears them).
    harvest_user_limit: int = Field(default=120, ge=1)
    harvest_org_limit: int = Field(default=1000, ge=1)
    harvest_window_seconds: int = Field(default=3600, ge=60, le=7 * 24 * 3600)

    # Browser origins allowed to call the API (comma-separated); none by default.
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # Webhook delivery (docs/notifications.md). The dispatcher runs inside `cpis serve`.
    webhook_dispatch: bool = True
    webhook_poll_seconds: float = Field(default=0.1, gt=0, le=0.25)
    webhook_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    webhook_retry_base_seconds: float = Field(default=1.0, gt=0, le=3600)
    webhook_retry_cap_seconds: float = Field(default=3600.0, gt=0, le=86400)
    webhook_parallel_authorities: int = Field(default=16, ge=1, le=200)
    # Retention: the in-server purge runs this often (0 disables it; `cpis purge` still works).
    purge_interval_seconds: float = Field(default=3600, ge=0)

    # Attendance-pattern alerts (docs/audit.md): reaching either rule notifies the
    # authorities holding a plan for the child. A count of 0 disables that rule.
    pattern_organisations: int = Field(default=3, ge=0, le=1000)
    pattern_organisations_days: int = Field(default=30, ge=1, le=366)
    pattern_attendances: int = Field(default=10, ge=0, le=1000)
    pattern_attendances_days: int = Field(default=365, ge=1, le=366)

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().absolute()

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [o.strip() for o in value.split(",") if o.strip()]
        return value

    @field_validator("cors_origins")
    @classmethod
    def _exact_origins(cls, value: list[str]) -> list[str]:
        # An origin is scheme://host[:port]; a wildcard would let any web page read child data.
        for origin in value:
            if not _ORIGIN.fullmatch(origin):
                raise ValueError(f"CORS origin {origin!r} must be an exact http(s)://host[:port]")
        return value

    @property
    def development_mode(self) -> bool:
        return not (self.jwt_issuer or self.jwt_audience or self.jwks_url or self.jwks_file)

    @property
    def issuer(self) -> str:
        return self.jwt_issuer or DEV_ISSUER

    @property
    def audience(self) -> str:
        return self.jwt_audience or DEV_AUDIENCE

    @property
    def dev_key_path(self) -> Path:
        return self.data_dir / "dev-signing-key.pem"


@lru_cache
def get_settings() -> Settings:
    return Settings()
