"""The NHS number: ten digits, the tenth a Modulus 11 check digit.

One type used at every edge (request bodies, upload rows, FHIR search
parameters) so that nothing unvalidated reaches a query or a table.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from app.errors import InvalidNHSNumber

_WEIGHTS = (10, 9, 8, 7, 6, 5, 4, 3, 2)
MAX_INPUT_LENGTH = 20  # ten digits plus generous room for spaces


def check_digit(first_nine: str) -> int | None:
    """Modulus 11 check digit of nine digits; None when the result is 10 (no valid number)."""
    remainder = sum(int(d) * w for d, w in zip(first_nine, _WEIGHTS, strict=True)) % 11
    digit = 11 - remainder
    if digit == 11:
        return 0
    return None if digit == 10 else digit


def problem_with(raw: str) -> str | None:
    """Why ``raw`` is not a valid NHS number, in words a person can act on; None if valid."""
    if len(raw) > MAX_INPUT_LENGTH:
        return "must be 10 digits"
    digits = raw.replace(" ", "")
    if len(digits) != 10 or not (digits.isascii() and digits.isdigit()):
        return "must be 10 digits (spaces allowed)"
    expected = check_digit(digits[:9])
    if expected is None:
        return "is not a valid NHS number (no check digit is possible)"
    if expected != int(digits[9]):
        return "check digit is wrong"
    return None


def normalise(raw: str) -> str:
    """Return the 10-digit form of ``raw`` or raise ``InvalidNHSNumber``."""
    problem = problem_with(raw)
    if problem is not None:
        raise InvalidNHSNumber(f"nhs_number {problem}")
    return raw.replace(" ", "")


# Request bodies report a bad NHS number as a pydantic error of this type; the
# HTTP layer turns it into the contract's 422 ``invalid-nhs-number``.
PYDANTIC_ERROR_TYPE = "invalid_nhs_number"


def _validate(value: object) -> str:
    problem = "must be a string" if not isinstance(value, str) else problem_with(value)
    if problem is not None:
        raise PydanticCustomError(PYDANTIC_ERROR_TYPE, "nhs_number {problem}", {"problem": problem})
    assert isinstance(value, str)
    return value.replace(" ", "")


NHSNumber = Annotated[
    str,
    BeforeValidator(_validate),
    WithJsonSchema(
        {
            "type": "string",
            # The check digit cannot be said in JSON Schema; the format names the rule.
            "format": "nhs-number",
            "pattern": "^ *([0-9] *){10}$",
            "maxLength": MAX_INPUT_LENGTH,
            "description": "10-digit NHS number with a valid Modulus 11 check digit; "
            "spaces are allowed (`943 476 5919`).",
            "examples": ["9434765919"],
        }
    ),
]
