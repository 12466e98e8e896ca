"""The intake's padded-records checks at their boundaries, by the visit rules of snapshots built here:
a kind against the IIN's sex and age, a practitioner's day against norm × tolerance and far beyond,
the same person, clinic, kind and day under another id; and the risk score."""
from __future__ import annotations

from datetime import date

from services.common.ids import make_iin
from services.registry.domain import (KIND_AGE, KIND_SEX, PRACTITIONER_VOLUME, REPEATED_VISIT, VisitIn, age_on,
                                      intake_holds, kind_reasons, risk_score, volume_held)
from services.registry.rules import visit_rules, visit_rules_for
from tests.support.registry_rules import VISITS, rejected, snapshot

TODAY = date(2026, 12, 10)
CHECKED = {**VISITS, "practitioner_tolerance": "1.5", "practitioner_far_beyond": "3"}
SNAP = snapshot(visits=[(date(2020, 1, 1), VISITS), (date(2026, 12, 7), CHECKED)])


def person(born: date, sex: str) -> str:
    return next(i for i in (make_iin(born, sex, n) for n in range(100)) if i)


WOMAN_30 = person(date(1996, 12, 10), "F")      # 30 on TODAY
MAN_50 = person(date(1976, 1, 1), "M")


def kind(code: str):
    return visit_rules(SNAP, TODAY).values.limited_kinds.get(code)


def test_a_kind_for_the_other_sex_is_held_and_one_for_everyone_is_not_looked_at():
    assert kind_reasons(MAN_50, TODAY, kind("screening_cervical")) == [KIND_SEX]
    assert kind_reasons(WOMAN_30, TODAY, kind("screening_cervical")) == []
    assert kind_reasons(WOMAN_30, TODAY, kind("screening_prostate")) == [KIND_SEX, KIND_AGE]
    assert kind("consultation") is None and kind_reasons(MAN_50, TODAY, None) == []


def test_the_ages_are_whole_years_on_the_visit_date_and_both_bounds_count():
    screening = kind("screening_cervical")                        # 30 to 70
    assert age_on(date(1996, 12, 10), date(2026, 12, 9)) == 29
    assert kind_reasons(WOMAN_30, date(2026, 12, 9), screening) == [KIND_AGE]    # the day before her 30th
    assert kind_reasons(WOMAN_30, TODAY, screening) == []                        # her 30th birthday
    old = person(date(1956, 6, 1), "F")
    assert kind_reasons(old, date(2026, 12, 1), screening) == []                 # 70
    assert kind_reasons(old, date(2027, 6, 1), screening) == [KIND_AGE]          # 71
    patronage = kind("patronage")                                 # 0 to 5
    child = person(date(2021, 3, 1), "M")
    assert kind_reasons(child, date(2026, 2, 28), patronage) == []
    assert kind_reasons(child, date(2026, 3, 1), patronage) == []
    assert kind_reasons(child, date(2027, 3, 1), patronage) == [KIND_AGE]
    assert age_on(date(2020, 2, 29), date(2021, 2, 28)) == 0 and age_on(date(2020, 2, 29), date(2021, 3, 1)) == 1


def test_the_volume_limits_are_the_intake_versions_in_whole_visits():
    rules = visit_rules_for(SNAP, TODAY, [date(2026, 11, 1)])
    assert (rules.volume_limit, rules.volume_far) == (36, 72)
    before = visit_rules_for(SNAP, date(2026, 12, 6), [date(2026, 12, 6)])
    assert (before.volume_limit, before.volume_far) == (None, None)   # the version before: no volume hold
    odd = snapshot(visits=[(date(2020, 1, 1), {**CHECKED, "practitioner_daily_norm": 25})])
    assert (visit_rules_for(odd, TODAY, [TODAY]).volume_limit, visit_rules_for(odd, TODAY, [TODAY]).volume_far) \
        == (37, 75)   # 37.5 and 75: rounded down


def test_a_practitioners_visits_beyond_norm_times_tolerance_are_held_and_all_beyond_far():
    assert volume_held(0, 36, 36, 72) == (range(0), False)           # the 36th: clear
    assert volume_held(0, 37, 36, 72) == (range(36, 37), False)      # the 37th: held
    assert volume_held(35, 3, 36, 72) == (range(1, 3), False)        # the 36th of the day clear, 37th and 38th held
    assert volume_held(40, 32, 36, 72) == (range(32), False)         # the 72nd still only beyond the tolerance
    assert volume_held(72, 1, 36, 72) == (range(1), True)            # the 73rd: the day's earlier ones too
    assert volume_held(0, 73, 36, 72) == (range(73), False)          # all in one request: nothing earlier
    assert volume_held(80, 5, 36, 72) == (range(5), False)           # the earlier ones are held already
    assert volume_held(1000, 5, None, None) == (range(0), False)     # no volume hold in the version


def test_intake_holds_gathers_every_reason_of_each_visit_and_the_days_to_hold_whole():
    d = date(2026, 12, 8)
    visits = [VisitIn(f"v{i}", "C", person(date(1960, 1, 1), "M") if i == 0 else MAN_50, d,
                      "screening_cervical" if i == 0 else "consultation", "dr-1") for i in range(3)]
    rules = visit_rules_for(SNAP, TODAY, [d])
    held, whole = intake_holds(visits, rules, day_counts={("C", d, "dr-1"): 34}, repeated={2})
    # v0: the other sex (35th of the day); v1: 36th, clear; v2: 37th and a repeat of v1
    assert held == {0: [KIND_SEX], 2: [PRACTITIONER_VOLUME, REPEATED_VISIT]} and whole == []
    held, whole = intake_holds(visits[1:2], rules, day_counts={("C", d, "dr-1"): 72}, repeated=set())
    assert held == {0: [PRACTITIONER_VOLUME]} and whole == [("C", d, "dr-1")]
    # a day the store did not name stays within the norm, whatever the request holds of it
    assert intake_holds(visits[1:], rules, day_counts={}, repeated=set()) == ({}, [])


def test_the_risk_is_the_turning_inactive_share_beyond_the_regions_plus_denials():
    assert risk_score(100, 40, 0.05) == 0.35
    assert risk_score(100, 3, 0.05) == 0.0            # below the region's share: no risk from it
    assert risk_score(0, 0, 0.05) == 0.0
    assert risk_score(100, 5, 0.05, denial_rate=0.2) == 0.2


def test_the_checks_values_are_validated():
    assert rejected("visits", {**CHECKED, "practitioner_far_beyond": "1.2"}) == [("practitioner_far_beyond",)]
    assert rejected("visits", {**CHECKED, "practitioner_tolerance": "0.5"}) == [("practitioner_tolerance",)]
    assert rejected("visits", {**CHECKED, "activity_window_days": 30, "turning_inactive_days": 30}) == \
        [("turning_inactive_days",)]
