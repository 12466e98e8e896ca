"""Money in tenge: exact decimals with 2 places, written as JSON strings ("4250.00")."""
from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

CENT = Decimal("0.01")


def to_money(value: Decimal | int | str) -> Decimal:
    """Rounds to tiyn (2 places), half up, as the tax code rounds amounts."""
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


_MONEY_RE = re.compile(r"^[0-9]{1,13}\.[0-9]{2}$")
MONEY_PATTERN = _MONEY_RE.pattern


def parse_money(value: object) -> Decimal:
    """Money as the contract writes it: a JSON string of ASCII digits with exactly 2 decimals, below
    10 trillion tenge ("4250.00"). No number, sign, exponent, space, underscore or other digits."""
    if isinstance(value, Decimal):  # our own value (an answer being built), not input
        return value.quantize(CENT)
    if not isinstance(value, str):
        raise ValueError('money is a string with 2 decimals, such as "4250.00", not a JSON number')
    if not _MONEY_RE.fullmatch(value):
        raise ValueError('money is written with ASCII digits and exactly 2 decimals, such as "4250.00"')
    return Decimal(value)


def money_str(value: Decimal) -> str:
    return f"{value.quantize(CENT):f}"


Money = Annotated[
    Decimal,
    BeforeValidator(parse_money),
    PlainSerializer(money_str, return_type=str),
    WithJsonSchema({"type": "string", "pattern": MONEY_PATTERN, "examples": ["4250.00"]}),
]
