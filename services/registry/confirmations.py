"""registry: patients confirm visits, the pure rules: which recorded visits are asked, the one-time code,
and what an answer does to the visit.

The sample is drawn at intake, in the visits' own transaction (confirmations_store.py): one random draw
per visit against the highest rate of the rules; only the few drawn below it are looked at further
(whether their clinic or practitioner is flagged), and codes are made only for the visits sampled.
"""
from __future__ import annotations

import hashlib
import random
import re
import secrets
from dataclasses import dataclass
from typing import Literal

from services.registry.domain import CLEAR, HELD, PATIENT_DENIED
from services.registry.rules import ConfirmationValues

CODE_BYTES = 16                                  # 128 bits from the system's CSPRNG
CODE_RE = re.compile(r"[A-Za-z0-9_-]{22}")       # 16 bytes in unpadded base64url

SampledAs = Literal["base", "flagged_clinic", "flagged_practitioner", "held"]
Answer = Literal["confirmed", "denied"]

# The draw needs no secrecy of its own (no draw is ever shown), only to be unforeseeable by a clinic: a
# generator seeded from the system's random source per process, far cheaper per visit than secrets.
_draw = random.Random(secrets.randbits(128)).random


@dataclass(frozen=True)
class Rates:
    """A version's rates as floats (compared with a draw per visit)."""

    base: float
    clinic: float
    practitioner: float
    held: float

    @property
    def ceiling(self) -> float:
        return max(self.base, self.clinic, self.practitioner, self.held)


def rates_of(v: ConfirmationValues) -> Rates:
    return Rates(float(v.base_rate), float(v.flagged_clinic_rate), float(v.flagged_practitioner_rate),
                 float(v.held_rate))


def draws(n: int, ceiling: float, draw=_draw) -> list[tuple[int, float]]:
    """(index, draw) of the visits whose draw falls below the highest rate: the only ones that may be
    sampled. Each visit's draw is uniform in [0, 1)."""
    if ceiling <= 0:
        return []
    return [(k, u) for k in range(n) if (u := draw()) < ceiling]


def rate_for(rates: Rates, *, held: bool, clinic_flagged: bool, practitioner_flagged: bool) -> tuple[float, SampledAs]:
    """The rate a visit is sampled at: the highest that applies to it, and which one that is."""
    options: list[tuple[float, SampledAs]] = [(rates.base, "base")]
    if clinic_flagged:
        options.append((rates.clinic, "flagged_clinic"))
    if practitioner_flagged:
        options.append((rates.practitioner, "flagged_practitioner"))
    if held:
        options.append((rates.held, "held"))
    return max(options, key=lambda o: o[0])


def needs_flags(rates: Rates, u: float, *, held: bool) -> bool:
    """Whether a drawn visit's fate depends on its clinic's and practitioner's flags: not when the rates
    that apply without them already take it, nor when no flag could raise the rate above the draw."""
    known = max(rates.base, rates.held if held else 0.0)
    return known <= u < max(rates.clinic, rates.practitioner)


def sampled(rates: Rates, u: float, *, held: bool, clinic_flagged: bool = False,
            practitioner_flagged: bool = False) -> SampledAs | None:
    """Whether a visit with draw `u` is sampled, and as what."""
    rate, why = rate_for(rates, held=held, clinic_flagged=clinic_flagged, practitioner_flagged=practitioner_flagged)
    return why if u < rate else None


def new_code() -> str:
    """A one-time code: 128 random bits, URL-safe (22 characters)."""
    return secrets.token_urlsafe(CODE_BYTES)


def code_hash(code: str) -> bytes:
    """What the registry stores and looks up: the SHA-256 of the code (the code itself is never kept)."""
    return hashlib.sha256(code.encode("utf-8", "surrogatepass")).digest()


def well_formed(code: str) -> bool:
    return CODE_RE.fullmatch(code) is not None


Action = Literal["hold", "clear", "none"]


def action_for(answer: Answer, state: str, reasons: tuple[str, ...], v: ConfirmationValues) -> Action:
    """What a patient's answer does to the visit in `state` (clear, held or void) held for `reasons`. A
    denial holds it (reason patient_denied; a voided visit stays voided). A confirmation clears a visit
    held only for reasons the patient can witness (the rules' `confirmation_clears`): a screening
    inconsistent with the patient's sex stays held for an operator however the patient answers."""
    if answer == "denied":
        return "hold" if state in (CLEAR, HELD) else "none"
    if state == HELD and reasons and PATIENT_DENIED not in reasons \
            and set(reasons) <= set(v.confirmation_clears):
        return "clear"
    return "none"
