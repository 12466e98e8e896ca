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
import math
from collections.abc import Collection, Container
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
    def unheld(self) -> float:
        """The highest rate a visit not held at intake may be sampled at."""
        return max(self.base, self.clinic, self.practitioner)

    @property
    def ceiling(self) -> float:
        return max(self.unheld, self.held)


def rates_of(v: ConfirmationValues) -> Rates:
    return Rates(float(v.base_rate), float(v.flagged_clinic_rate), float(v.flagged_practitioner_rate),
                 float(v.held_rate))


def draws(rates: Rates, n: int, held: Collection[int] = (), draw=_draw) -> list[tuple[int, float]]:
    """(index, draw) of the visits whose draw falls below the highest rate that may apply to them (`held`:
    the indexes of visits held at intake): the only ones that may be sampled, a few in a hundred. Each
    visit's draw is uniform in [0, 1) and independent; only those below the highest rate are made, by
    geometric skips between them, so a request costs a draw per candidate, not per visit."""
    top = rates.unheld
    out: list[tuple[int, float]] = []
    if top >= 1:
        out = [(k, draw()) for k in range(n)]
    elif top > 0:
        log_miss = math.log1p(-top)        # log of the chance that a visit's draw is not below `top`
        k = int(math.log(1.0 - draw()) / log_miss)
        while k < n:
            out.append((k, draw() * top))   # below `top`, uniform there
            k += 1 + int(math.log(1.0 - draw()) / log_miss)
    if held and rates.ceiling > top:
        below = {k for k, _ in out}
        for k in held:
            if k not in below and (u := top + draw() * (1 - top)) < rates.ceiling:   # at or above `top`
                out.append((k, u))
    return out


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


def split(rates: Rates, drawn: list[tuple[int, float]],
          held: Container[int] = ()) -> tuple[list[tuple[int, SampledAs]], list[tuple[int, float]]]:
    """The drawn visits sampled whatever their flags (index, as what), and those whose fate the flags of
    their clinic and practitioner decide (index, draw); the rest are not sampled. Plain comparisons: a
    fifth of a request's visits may pass here."""
    base, flag_top = rates.base, max(rates.clinic, rates.practitioner)
    held_as: SampledAs = "held" if rates.held >= base else "base"
    held_known = max(base, rates.held)
    chosen: list[tuple[int, SampledAs]] = []
    undecided: list[tuple[int, float]] = []
    for k, u in drawn:
        if held and k in held:
            if u < held_known:
                chosen.append((k, held_as))
                continue
        elif u < base:
            chosen.append((k, "base"))
            continue
        if u < flag_top:
            undecided.append((k, u))
    return chosen, undecided


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
