"""Registry rules at their boundaries: attachment decisions, deaths, visit checks, each by the rule
versions of a snapshot built here (tests/support/registry_rules.py), not by the seed."""
from __future__ import annotations

from datetime import date

import pytest

from services.common.ids import make_iin
from services.registry.domain import (
    Attach, AttachmentRecord, AttachmentRequest, Refusal, Replay, VisitIn, add_months, current_on,
    after_death, judge_attachment, judge_death, visit_errors,
)
from services.registry.rules import attachment_rules, visit_rules_for
from tests.support.registry_rules import snapshot

SNAP = snapshot()

ADULT = make_iin(date(1985, 4, 12), "F", 1234) or make_iin(date(1985, 4, 12), "F", 1235)
BABY = make_iin(date(2026, 3, 10), "M", 42) or make_iin(date(2026, 3, 10), "M", 43)
TODAY = date(2026, 11, 25)


def rec(clinic: str, reason: str, effective: date, previous: str | None = None,
        ended: date | None = None, aid: str = "") -> AttachmentRecord:
    return AttachmentRecord(aid or f"{clinic}-{effective}", clinic, previous, reason, effective, ended)


def judge(clinic: str, reason: str, effective: date, history=(), died_on=None, known=True, today=TODAY,
          iin: str = ADULT, snap=SNAP):
    rules = attachment_rules(snap, effective)  # as the route: the version in force on the effective date
    return judge_attachment(AttachmentRequest(iin, clinic, reason, effective), rules=rules, history=list(history),
                            died_on=died_on, clinic_known=known, today=today)


def refused(decision) -> str | None:
    return decision.rule if isinstance(decision, Refusal) else None


# ---------------------------------------------------------------- attachment

def test_first_attachment_by_choice_is_not_a_change_and_has_no_previous_clinic():
    assert judge("A", "choice", date(2026, 1, 15)) == Attach(previous_clinic_id=None,
                                                      rules_version="attachment@2020-01-01")


def test_a_new_clinic_detaches_the_old_one():
    decision = judge("B", "address_change", date(2026, 5, 1), [rec("A", "choice", date(2026, 1, 15))])
    assert isinstance(decision, Attach) and decision.previous_clinic_id == "A"


def test_unknown_clinic_and_dead_person_are_refused():
    assert refused(judge("X", "choice", date(2026, 1, 15), known=False)) == "unknown_clinic"
    assert refused(judge("A", "choice", date(2026, 1, 15), died_on=date(2026, 1, 1))) == "person_deceased"


def test_voluntary_change_allowed_again_exactly_twelve_months_after_the_last_one():
    history = [rec("A", "choice", date(2024, 1, 10)),
               rec("B", "choice", date(2025, 3, 1), previous="A")]
    assert refused(judge("C", "choice", date(2026, 2, 28), history)) == "voluntary_change_limit"
    assert isinstance(judge("C", "choice", date(2026, 3, 1), history), Attach)


def test_a_first_attachment_does_not_count_towards_the_voluntary_limit():
    history = [rec("A", "choice", date(2026, 1, 15))]
    assert isinstance(judge("B", "choice", date(2026, 2, 1), history), Attach)


def test_address_change_newborn_and_campaign_changes_do_not_use_up_the_voluntary_change():
    history = [rec("A", "choice", date(2025, 1, 10)),
               rec("B", "address_change", date(2026, 6, 1), previous="A")]
    assert isinstance(judge("C", "choice", date(2026, 7, 1), history), Attach)


def test_address_change_is_not_limited_after_a_recent_voluntary_change():
    history = [rec("A", "choice", date(2025, 1, 10)),
               rec("B", "choice", date(2026, 10, 1), previous="A")]
    assert isinstance(judge("C", "address_change", date(2026, 10, 2), history), Attach)


def test_voluntary_limit_clamps_a_leap_day_to_the_end_of_february():
    assert add_months(date(2024, 2, 29), 12) == date(2025, 2, 28)
    history = [rec("A", "choice", date(2023, 5, 1)), rec("B", "choice", date(2024, 2, 29), previous="A")]
    assert refused(judge("C", "choice", date(2025, 2, 27), history, today=date(2025, 3, 1))) == \
        "voluntary_change_limit"
    assert isinstance(judge("C", "choice", date(2025, 2, 28), history, today=date(2025, 3, 1)), Attach)


def test_same_clinic_again_with_another_date_is_refused_but_the_same_request_is_replayed():
    history = [rec("A", "choice", date(2026, 1, 15), aid="att-1")]
    assert refused(judge("A", "choice", date(2026, 2, 1), history)) == "already_attached"
    assert judge("A", "choice", date(2026, 1, 15), history) == Replay(history[0])


def test_a_replay_of_an_accepted_request_still_answers_after_later_changes_and_death():
    history = [rec("A", "choice", date(2026, 1, 15), ended=date(2026, 5, 1)),
               rec("B", "address_change", date(2026, 5, 1), previous="A", ended=date(2026, 9, 1))]
    assert judge("A", "choice", date(2026, 1, 15), history, died_on=date(2026, 9, 1)) == Replay(history[0])


def test_effective_date_before_the_current_attachment_is_refused_same_day_allowed():
    history = [rec("A", "choice", date(2026, 5, 1))]
    assert refused(judge("B", "address_change", date(2026, 4, 30), history)) == "effective_date_before_current"
    assert isinstance(judge("B", "address_change", date(2026, 5, 1), history), Attach)


def test_only_a_campaign_may_take_effect_in_the_future():
    assert refused(judge("A", "choice", TODAY.replace(day=26))) == "effective_date_in_future"
    assert isinstance(judge("A", "choice", TODAY), Attach)


def test_an_iin_born_after_the_effective_date_is_invalid():
    decision = judge("A", "newborn", date(2026, 3, 9), iin=BABY)
    assert (decision.rule, decision.status, decision.loc) == ("iin_born_after_date", 422, ("body", "iin"))
    assert isinstance(judge("A", "newborn", date(2026, 3, 10), iin=BABY), Attach)
    assert isinstance(judge("A", "newborn", date(2026, 3, 10), iin=BABY), Attach)


@pytest.mark.parametrize("today, expected", [
    (date(2026, 8, 31), "campaign_closed"), (date(2026, 9, 1), None),
    (date(2026, 11, 1), None), (date(2026, 11, 2), "campaign_closed")])
def test_campaign_requests_are_taken_from_1_september_to_1_november(today, expected):
    history = [rec("A", "choice", date(2026, 6, 1), previous="Z"), rec("Z", "choice", date(2025, 1, 1))]
    history.sort(key=lambda a: a.effective_date)
    assert refused(judge("B", "campaign", date(2027, 1, 1), history, today=today)) == expected


def test_a_campaign_change_takes_effect_on_1_january_only():
    assert refused(judge("B", "campaign", date(2027, 1, 2), today=date(2026, 10, 1))) == "campaign_effective_date"
    assert refused(judge("B", "campaign", date(2026, 12, 31), today=date(2026, 10, 1))) == "campaign_effective_date"


def test_newborn_is_a_first_attachment_of_a_child_under_twelve_months():
    assert isinstance(judge("A", "newborn", date(2027, 3, 9), iin=BABY, today=date(2027, 4, 1)), Attach)
    assert refused(judge("A", "newborn", date(2027, 3, 10), iin=BABY, today=date(2027, 4, 1))) == "newborn_too_old"
    history = [rec("A", "newborn", date(2026, 3, 10))]
    assert refused(judge("B", "newborn", date(2026, 4, 1), history, iin=BABY)) == "newborn_not_first_attachment"


def test_the_clinic_in_force_waits_for_a_campaign_attachment_to_take_effect():
    history = [rec("A", "choice", date(2025, 1, 10), ended=date(2027, 1, 1)),
               rec("B", "campaign", date(2027, 1, 1), previous="A")]
    assert current_on(history, date(2026, 12, 31)).clinic_id == "A"
    assert current_on(history, date(2027, 1, 1)).clinic_id == "B"
    assert current_on(history, date(2025, 1, 9)) is None


# ---------------------------------------------------------------- death

def test_death_today_is_recorded_tomorrow_is_invalid_and_another_date_conflicts():
    assert judge_death(ADULT, TODAY, recorded=None, today=TODAY) is None
    assert judge_death(ADULT, TODAY, recorded=TODAY, today=TODAY) is None
    assert judge_death(ADULT, date(2026, 11, 26), recorded=None, today=TODAY).status == 422
    other = judge_death(ADULT, date(2026, 11, 1), recorded=TODAY, today=TODAY)
    assert (other.status, other.rule) == (409, "death_already_recorded")
    assert judge_death(ADULT, date(1985, 4, 11), recorded=None, today=TODAY).rule == "death_before_birth"


# ---------------------------------------------------------------- visits

def errors(visit_date: date, *, iin: str = ADULT, known=True, kind="consultation", snap=SNAP, today=TODAY,
           correction=False):
    rules = visit_rules_for(snap, today, [visit_date])
    return visit_errors(VisitIn("v1", "A", iin, visit_date, kind), today=today, clinic_known=known, rules=rules,
                        correction=correction)


def test_a_visit_today_is_recorded_tomorrow_is_in_the_future():
    assert errors(TODAY) == []
    assert errors(date(2026, 11, 26)) == ["date_in_future"]


def test_a_visit_on_the_day_of_death_counts_the_day_after_does_not():
    assert not after_death(VisitIn("v1", "A", ADULT, date(2026, 5, 1), "consultation"), date(2026, 5, 1))
    assert after_death(VisitIn("v1", "A", ADULT, date(2026, 5, 2), "consultation"), date(2026, 5, 1))
    assert not after_death(VisitIn("v1", "A", ADULT, date(2026, 5, 2), "consultation"), None)


def test_visits_before_2020_or_before_birth_are_rejected():
    assert errors(date(2020, 1, 1)) == []
    assert errors(date(2019, 12, 31)) == ["date_too_old"]
    assert errors(date(2026, 3, 9), iin=BABY) == ["invalid_iin: the IIN's birth date is after the date it is used for"]
    assert errors(date(2026, 3, 10), iin=BABY) == []


def test_invalid_iin_unknown_clinic_and_unknown_kind_are_each_named():
    bad_iin = ADULT[:11] + str((int(ADULT[11]) + 1) % 10)
    assert errors(TODAY, iin=bad_iin) == ["invalid_iin: IIN check digit is wrong"]
    assert errors(TODAY, known=False, kind="massage") == ["unknown_clinic", "unknown_kind"]


def test_sex_specific_screenings_are_kinds_of_the_rule_table_but_not_refused_yet():
    kinds = {k.code: k for k in SNAP.in_force("visits", TODAY).values.kinds}
    assert (kinds["screening_cervical"].sex, kinds["screening_cervical"].min_age_years) == ("F", 30)
    assert kinds["screening_prostate"].sex == "M"
    # data only for now: a woman's prostate screening is stored for the Fund's checks, not refused here
    assert errors(TODAY, kind="screening_prostate") == []
