"""Patients confirm visits, the pure rules: which rate a visit is sampled at, when the flags must be
looked up, the one-time code, and what an answer does to the visit."""
from __future__ import annotations

import base64
import hashlib
import random

import pytest

from services.registry import confirmations as c
from services.registry.rules import ConfirmationValues
from tests.support.registry_rules import CONFIRMATIONS, rejected

VALUES = ConfirmationValues.model_validate(CONFIRMATIONS)
RATES = c.rates_of(VALUES)      # base 0.01, clinic 0.05, practitioner 0.2, held 1


def test_a_visit_is_sampled_at_the_highest_rate_that_applies_to_it():
    assert c.rate_for(RATES, held=False, clinic_flagged=False, practitioner_flagged=False) == (0.01, "base")
    assert c.rate_for(RATES, held=False, clinic_flagged=True, practitioner_flagged=False) == (0.05, "flagged_clinic")
    assert c.rate_for(RATES, held=False, clinic_flagged=True, practitioner_flagged=True) == \
        (0.2, "flagged_practitioner")
    assert c.rate_for(RATES, held=True, clinic_flagged=True, practitioner_flagged=True) == (1.0, "held")
    low_held = c.Rates(base=0.01, clinic=0.05, practitioner=0.2, held=0.1)
    assert c.rate_for(low_held, held=True, clinic_flagged=True, practitioner_flagged=True) == \
        (0.2, "flagged_practitioner")


@pytest.mark.parametrize("u, held, clinic, practitioner, expected", [
    (0.0, False, False, False, "base"),
    (0.00999, False, False, False, "base"),
    (0.01, False, False, False, None),            # the rate is a strict bound: a draw of exactly it is out
    (0.01, False, True, False, "flagged_clinic"),
    (0.04999, False, True, False, "flagged_clinic"),
    (0.05, False, True, False, None),
    (0.05, False, True, True, "flagged_practitioner"),
    (0.19999, False, True, True, "flagged_practitioner"),
    (0.2, False, True, True, None),
    (0.99999, True, False, False, "held"),
])
def test_a_draw_is_sampled_below_its_rate_only(u, held, clinic, practitioner, expected):
    assert c.sampled(RATES, u, held=held, clinic_flagged=clinic, practitioner_flagged=practitioner) == expected


def test_the_flags_are_looked_up_only_for_draws_they_can_decide():
    drawn = [(0, 0.005), (1, 0.01), (2, 0.19999), (3, 0.2), (4, 0.5), (5, 0.999)]
    # 0 is taken at the base rate whatever the flags; 3 and above are above every flagged rate.
    assert c.split(RATES, drawn) == ([(0, "base")], [(1, 0.01), (2, 0.19999)])
    assert c.split(RATES, drawn, held={1, 4, 5}) == ([(0, "base"), (1, "held"), (4, "held"), (5, "held")],
                                                     [(2, 0.19999)])
    low_held = c.Rates(base=0.01, clinic=0.05, practitioner=0.2, held=0.1)
    assert c.split(low_held, drawn, held={2, 4}) == ([(0, "base")], [(1, 0.01), (2, 0.19999)])
    # Whatever is split off as undecided, the flags then decide as `sampled` does.
    for _, u in c.split(RATES, drawn)[1]:
        assert c.sampled(RATES, u, held=False, clinic_flagged=True, practitioner_flagged=True) is not None
        assert c.sampled(RATES, u, held=False) is None


def test_every_visit_draws_uniformly_and_only_the_draws_below_the_highest_rate_are_made():
    rng = random.Random(11)
    n = 200_000
    held = set(range(0, n, 100))       # 1 visit in 100 held at intake
    drawn = c.draws(RATES, n, held, draw=rng.random)
    assert len({k for k, _ in drawn}) == len(drawn) and all(0 <= k < n for k, _ in drawn)
    unheld = [u for k, u in drawn if k not in held]
    assert all(0 <= u < RATES.unheld for u in unheld)
    # P(draw < x) = x for every x below the highest rate: the share below each bound is the bound.
    for bound in (0.01, 0.05, 0.1, 0.2):
        share = sum(u < bound for u in unheld) / (n - len(held))
        assert abs(share - bound) < 4 * (bound / (n - len(held))) ** 0.5 + 1e-9, (bound, share)
    assert sorted(k for k, _ in drawn if k in held) == sorted(held)      # held at a rate of 1: all drawn
    with_low_held = c.Rates(base=0.01, clinic=0.05, practitioner=0.2, held=0.5)
    drawn = c.draws(with_low_held, n, held, draw=rng.random)
    held_share = sum(k in held for k, _ in drawn) / len(held)
    assert 0.4 < held_share < 0.6
    assert c.draws(c.Rates(0, 0, 0, 0), 1000, held={3}) == []
    assert [k for k, _ in c.draws(c.Rates(1, 1, 1, 1), 5)] == [0, 1, 2, 3, 4]


def test_every_position_in_a_request_is_drawn_alike():
    rng = random.Random(5)
    counts = [0] * 5
    for _ in range(20_000):
        for k, _ in c.draws(RATES, 5, draw=rng.random):
            counts[k] += 1
    assert all(abs(n / 20_000 - RATES.unheld) < 0.015 for n in counts), counts


def test_the_sample_share_follows_the_rate():
    rng = random.Random(7)
    n = 100_000
    taken = [k for k, u in c.draws(RATES, n, draw=rng.random) if c.sampled(RATES, u, held=False)]
    assert 0.008 * n < len(taken) < 0.012 * n
    taken = [k for k, u in c.draws(RATES, n, draw=rng.random)
             if c.sampled(RATES, u, held=False, clinic_flagged=True, practitioner_flagged=True)]
    assert 0.19 * n < len(taken) < 0.21 * n


def test_a_code_carries_128_random_bits_url_safe_and_is_stored_as_its_sha256():
    codes = {c.new_code() for _ in range(1000)}
    assert len(codes) == 1000
    for code in list(codes)[:50]:
        assert c.well_formed(code)
        assert len(base64.urlsafe_b64decode(code + "==")) == 16
        assert c.code_hash(code) == hashlib.sha256(code.encode()).digest()
    assert not c.well_formed("short")
    assert not c.well_formed("A" * 21 + "=")
    assert not c.well_formed("A" * 23)


@pytest.mark.parametrize("answer, state, reasons, expected", [
    ("denied", "clear", (), "hold"),
    ("denied", "held", ("practitioner_volume",), "hold"),
    ("denied", "void", ("kind_sex",), "none"),
    ("confirmed", "clear", (), "none"),
    ("confirmed", "held", ("practitioner_volume",), "clear"),
    ("confirmed", "held", ("repeated_visit", "practitioner_volume"), "clear"),
    ("confirmed", "held", ("kind_sex",), "none"),                      # the patient cannot vouch for that
    ("confirmed", "held", ("practitioner_volume", "after_death"), "none"),
    ("confirmed", "void", ("practitioner_volume",), "none"),
])
def test_what_an_answer_does_to_the_visit(answer, state, reasons, expected):
    assert c.action_for(answer, state, reasons, VALUES) == expected


def test_a_version_with_flagged_rates_below_the_base_is_refused():
    assert rejected("confirmations", {**CONFIRMATIONS, "flagged_clinic_rate": "0.001"}) == [("flagged_clinic_rate",)]
    assert rejected("confirmations", {**CONFIRMATIONS, "flagged_practitioner_rate": "0.01"}) == \
        [("flagged_practitioner_rate",)]
    assert rejected("confirmations", {**CONFIRMATIONS, "base_rate": "1.5"}) == [("base_rate",)]


def test_the_requests_events_are_what_the_model_makes():
    from datetime import date, datetime, timezone

    from services.common.events import VisitConfirmationRequested, decode, new_event
    from services.registry.confirmations_store import confirmation_events
    from services.registry.domain import VisitIn
    from tests.support.people import iin

    at = datetime(2026, 12, 7, 6, 0, tzinfo=timezone.utc)
    visits = [VisitIn("v-1", "C-1", iin(), date(2026, 12, 1), "consultation", "dr-1"),
              VisitIn("v-2", "C-2", iin(), date(2026, 11, 30), "screening_cervical")]
    codes = [c.new_code() for _ in visits]
    made = confirmation_events(visits, codes, date(2026, 12, 21), at.isoformat())
    for v, code, event in zip(visits, codes, made):
        model = new_event("visit-confirmation-requested", VisitConfirmationRequested(
            iin=v.iin, clinic_id=v.clinic_id, visit_id=v.visit_id, date=v.date, kind=v.kind, code=code,
            expires_on=date(2026, 12, 21)), producer="registry", key=v.iin, occurred_at=at, event_id=event.event_id)
        assert (event.topic, event.key, event.payload) == (model.topic, model.key, model.payload)
        assert decode(event.payload, "visit-confirmation-requested")[1].code == code
