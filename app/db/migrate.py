"""Apply Alembic migrations (as the owner) and ask whether a database is at head."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def alembic_config(owner_url: str | None = None) -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    if owner_url:
        config.attributes["url"] = owner_url
    return config


def upgrade_to_head(owner_url: str) -> None:
    """Run every pending migration. Must be called outside a running event loop."""
    command.upgrade(alembic_config(owner_url), "head")


@cache
def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head
