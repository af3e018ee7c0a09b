"""Directory requests and views. The webhook secret is write-only: no view carries it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from app.nhs_number import NHSNumber

MAX_URL_LENGTH = 2048


def _printable(value: str) -> str:
    if not value.isprintable():
        raise ValueError("must not contain control characters")
    return value


def _webhook_url_shape(value: str) -> str:
    """http(s), a host, no credentials (they would be shown back), no fragment."""
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError("must be an absolute http or https URL")
    if parts.username or parts.password or parts.fragment:
        raise ValueError("must not contain credentials or a fragment")
    return value


# No whitespace stripping on these: the pattern (and length) in the OpenAPI document is
# then exactly what is accepted, padded values included.
Phone = Annotated[
    str,
    StringConstraints(pattern=r"^\+?[0-9][0-9 ().-]{2,30}$"),
    Field(
        description="Digits, spaces, `+ ( ) . -`; 3 to 32 characters.", examples=["020 7974 4000"]
    ),
]
# Letters (Latin, with accents), digits, spaces and the punctuation of English place
# names, starting and ending with a non-space: what clinicians read at 3 a.m. stays plain,
# with no look-alike scripts, controls or bidirectional marks to spoof it.
_NAME_CHAR = "A-Za-z0-9\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u00ff,.'\u2019&()/-"
AUTHORITY_NAME_PATTERN = f"^[{_NAME_CHAR}](?:[ {_NAME_CHAR}]*[{_NAME_CHAR}])?$"
# http(s)://host[:port][/path?query]: a name or IPv4 address (no IPv6 literals), and no
# credentials, fragment, spaces or controls.
WEBHOOK_URL_PATTERN = r"^https?://[A-Za-z0-9._~-]+(?::[0-9]{1,5})?(?:[/?][!$-~]*)?$"
AuthorityName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=200, pattern=AUTHORITY_NAME_PATTERN),
    AfterValidator(_printable),
]
WebhookURL = Annotated[
    str,
    StringConstraints(max_length=MAX_URL_LENGTH, pattern=WEBHOOK_URL_PATTERN),
    AfterValidator(_printable),
    AfterValidator(_webhook_url_shape),
]
WebhookSecret = Annotated[
    str,
    StringConstraints(min_length=16, max_length=256, pattern=r"^[\x21-\x7e]+$"),
]


class LocalAuthorityView(BaseModel):
    code: str
    name: str
    authority_type: str
    office_hours_phone: str | None
    emergency_duty_phone: str | None
    webhook_url: str | None
    webhook_secret_set: bool = Field(description="Whether a secret is stored (never returned).")
    updated_at: datetime


class LocalAuthorityUpdate(BaseModel):
    """The editable entry. Omitted fields become null, except ``webhook_secret``:
    omitted keeps the stored secret, null clears it, a string replaces it."""

    model_config = ConfigDict(extra="forbid")

    name: AuthorityName
    office_hours_phone: Phone | None = None
    emergency_duty_phone: Phone | None = None
    webhook_url: WebhookURL | None = Field(
        default=None, description="http(s); https only when CPIS_ENV=production."
    )
    webhook_secret: WebhookSecret | None = Field(
        default=None,
        description="HMAC-SHA256 key for X-CPIS-Signature: 16-256 printable ASCII characters. "
        "Write-only.",
    )

    @property
    def keeps_secret(self) -> bool:
        return "webhook_secret" not in self.model_fields_set


class SupersedeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    nhs_number: NHSNumber
    superseded_by: NHSNumber | None = Field(
        default=None, description="The replacing NHS number, or null when simply inactive."
    )

    @model_validator(mode="after")
    def _not_itself(self) -> SupersedeRequest:
        if self.superseded_by == self.nhs_number:
            raise ValueError("superseded_by must differ from nhs_number")
        return self


class SupersedeResult(BaseModel):
    """What was recorded. Who holds plans for the number is deliberately not said."""

    nhs_number: str
    superseded_by: str | None
    marked_at: datetime
