"""Service configuration, read from the environment once per process."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_ISSUER = "https://cpis.invalid/development"
DEV_AUDIENCE = "cpis"


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
    max_upload_bytes: int = Field(default=50 * 1024 * 1024, ge=1024)
    max_json_body_bytes: int = Field(default=64 * 1024, ge=1024)
    audit_chains: int = Field(default=16, ge=1, le=256)

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().absolute()

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
