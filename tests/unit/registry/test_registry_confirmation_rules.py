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


def test_only_draws_below_the_highest_rate_that_may_apply_are_candidates():
    seq = iter([0.3, 0.0, 0.19, 0.2, 0.999, 0.5])
    assert c.draws(RATES, 6, draw=lambda: next(seq)) == [(1, 0.0), (2, 0.19)]
    seq = iter([0.3, 0.0, 0.19, 0.2, 0.999, 0.5])
    assert c.draws(RATES, 6, held={0, 4}, draw=lambda: next(seq)) == [(0, 0.3), (1, 0.0), (2, 0.19), (4, 0.999)]
    assert c.draws(c.Rates(0, 0, 0, 0), 1000, held={3}) == []


def test_the_sample_share_follows_the_rate():
    rng = random.Random(7)
    n = 100_000
    taken = [k for k, u in c.draws(RATES, n, draw=rng.random) if c.sampled(RATES, u, held=False)]
    assert 0.008 * n < len(taken) < 0.012 * n


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
