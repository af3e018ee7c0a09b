"""Database URL spellings: SQLAlchemy wants a driver, asyncpg and operators do not."""

from urllib.parse import quote


def async_url(url: str) -> str:
    """``postgresql://...`` → ``postgresql+asyncpg://...`` (other spellings accepted)."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    raise ValueError("DATABASE_URL must start with postgresql://")


def plain_url(url: str) -> str:
    """The libpq/asyncpg spelling of a URL, whatever driver it names."""
    return "postgresql://" + async_url(url)[len("postgresql+asyncpg://") :]


def make_url(host: str, port: int, database: str, user: str, password: str) -> str:
    return (
        f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}@{host}:{port}/{database}"
    )
