"""Money in tenge: exact decimals with 2 places, written as JSON strings ("4250.00")."""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

CENT = Decimal("0.01")


def to_money(value: Decimal | int | str) -> Decimal:
    """Rounds to tiyn (2 places), half up, as the tax code rounds amounts."""
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def _parse(value: object) -> Decimal:
    if isinstance(value, float):
        raise ValueError("money must be a decimal string such as \"4250.00\", not a float")
    if isinstance(value, bool):
        raise ValueError("money must be a decimal string")
    try:
        d = Decimal(str(value))
    except Exception as exc:  # decimal.InvalidOperation
        raise ValueError("money must be a decimal string such as \"4250.00\"") from exc
    if not d.is_finite():
        raise ValueError("money must be a finite amount")
    if abs(d) >= Decimal("1e15"):  # before quantize: beyond the context's precision it raises
        raise ValueError("amount is out of range")
    if d != d.quantize(CENT):
        raise ValueError("money has at most 2 decimal places")
    return d.quantize(CENT)


def money_str(value: Decimal) -> str:
    return f"{value.quantize(CENT):f}"


Money = Annotated[
    Decimal,
    BeforeValidator(_parse),
    PlainSerializer(money_str, return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^-?\d+\.\d{2}$", "examples": ["4250.00"]}),
]
