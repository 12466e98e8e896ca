"""The capitation rule table, pure: a clinic's amount multiplies the base rate of its settlement, the
age-sex coefficient and the two reductions, each line rounded half up; a month is paid under the
version in force on its first day; a version is refused unless whole, in range, and of the
projection's shape. The versions are the tests' own (tests.support.financing_rules), not the seed."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from services.common.problems import Problem
from services.common.rules import PublishIn, validate_version
from services.financing import domain
from services.financing.rules import RULE_TABLES, Capitation, capitation_on
from tests.support.financing_rules import capitation_values, publication, snapshot


def _rules(**changes) -> Capitation:
    return Capitation.model_validate(capitation_values(**changes))


def test_the_amount_multiplies_base_rate_age_sex_activity_and_insurance():
    rules = _rules(urban="1176.03", activity_coefficient="0.8", insurance_coefficient="0.9")
    band = domain.band_of(35)
    assert rules.age_sex_coefficients[band].male == Decimal("1.60")     # the test's table
    cells = {domain.cell_of(band, "M", True, True): 2, domain.cell_of(band, "M", False, True): 1,
             domain.cell_of(band, "M", True, False): 1, domain.cell_of(band, "M", False, False): 1}
    lines = {(x.active, x.insured): x for x in domain.statement_lines(rules, "urban", cells)}
    assert lines[(True, True)].amount == Decimal("3763.30")      # 2 x 1176.03 x 1.60 = 3763.296
    assert lines[(False, True)].amount == Decimal("1505.32")     # x 0.8 = 1505.3184
    assert lines[(True, False)].amount == Decimal("1693.48")     # x 0.9 = 1693.4832
    assert lines[(False, False)].amount == Decimal("1354.79")    # x 0.8 x 0.9 = 1354.78656
    assert (lines[(False, False)].activity_coefficient, lines[(False, False)].insurance_coefficient) == \
        (Decimal("0.8"), Decimal("0.9"))
    assert domain.monthly_amount(rules, "urban", cells) == Decimal("8316.89")


def test_a_line_is_rounded_to_the_tiyn_half_up():
    rules = _rules(urban="1000.01", activity_coefficient="0.5")
    cell = domain.cell_of(0, "M", False, True)         # band 0, male: 1.00 in the test's table
    (line,) = domain.statement_lines(rules, None, {cell: 1})
    assert line.amount == Decimal("500.01")            # 500.005: half up, not to the even 500.00


def test_the_base_rate_is_the_clinics_settlements_and_urban_when_not_known():
    rules = _rules(urban="1000.00", rural="1500.00")
    cells = {domain.cell_of(domain.band_of(35), "M", True, True): 2}   # 2 x 1.60
    assert domain.monthly_amount(rules, "urban", cells) == Decimal("3200.00")
    assert domain.monthly_amount(rules, "rural", cells) == Decimal("4800.00")
    assert domain.monthly_amount(rules, None, cells) == Decimal("3200.00")
    assert domain.base_rate(rules, None) == Decimal("1000.00")


def test_a_month_is_paid_under_the_version_in_force_on_its_first_day():
    snap = snapshot((date(2025, 10, 1), capitation_values(urban="1000.00")),
                    (date(2027, 1, 15), capitation_values(urban="1100.00")),
                    (date(2027, 3, 1), capitation_values(urban="1200.00")))
    def used(day: date) -> tuple[str, Decimal]:
        found = capitation_on(snap, domain.month_start(day))
        assert found is not None and not found.provisional     # in force until replaced: never carried
        return found.version.version, found.values.base_rate.urban
    assert used(date(2026, 12, 31)) == ("capitation@2025-10-01", Decimal("1000.00"))
    # 15 January: January and February are counted on days before it.
    assert used(date(2027, 1, 20)) == ("capitation@2025-10-01", Decimal("1000.00"))
    assert used(date(2027, 2, 28)) == ("capitation@2027-01-15", Decimal("1100.00"))
    assert used(date(2027, 3, 1)) == ("capitation@2027-03-01", Decimal("1200.00"))
    assert used(date(2031, 6, 1)) == ("capitation@2027-03-01", Decimal("1200.00"))
    # Before the first version: the first, as the table had it before it was data.
    assert used(date(2024, 5, 9)) == ("capitation@2025-10-01", Decimal("1000.00"))
    assert capitation_on(snapshot(), date(2026, 1, 1)) is None


def _refused(values: dict, effective: date = date(2027, 1, 1)) -> list[dict]:
    with pytest.raises(Problem) as caught:
        validate_version(RULE_TABLES["capitation"], PublishIn.model_validate(publication(effective, values)))
    assert caught.value.status == 422
    return caught.value.errors or []


def test_a_whole_version_of_the_projections_shape_is_accepted():
    values = validate_version(RULE_TABLES["capitation"],
                              PublishIn.model_validate(publication(date(2027, 1, 1), capitation_values())))
    assert values.model_dump(mode="json") == capitation_values()


@pytest.mark.parametrize("field,value", [
    ("age_band_bounds", [0, 1, 5, 10, 15, 20, 30, 40, 50, 60, 65]),
    ("age_band_bounds", [0, 1, 5, 10, 15, 20, 30, 40, 50, 60]),
    ("activity_window_days", 180),
])
def test_other_bands_or_window_need_a_new_projection_shape_and_a_rebuild(field, value):
    errors = _refused(capitation_values(**{field: value}))
    assert [e["loc"] for e in errors] == [["body", "values", field]]
    assert "rebuild" in errors[0]["msg"] and "python -m services.financing.rebuild" in errors[0]["msg"]


def _pairs(n: int) -> list[dict]:
    return capitation_values()["age_sex_coefficients"][:n]


@pytest.mark.parametrize("changes,loc", [
    ({"base_rate": {"urban": "-1.00", "rural": "1000.00"}}, ["base_rate", "urban"]),
    ({"base_rate": {"urban": "1000.00", "rural": "0"}}, ["base_rate", "rural"]),
    ({"base_rate": {"urban": "1000000.01", "rural": "1000.00"}}, ["base_rate", "urban"]),
    ({"base_rate": {"urban": "1000.001", "rural": "1000.00"}}, ["base_rate", "urban"]),
    ({"base_rate": {"urban": 1000.5, "rural": "1000.00"}}, ["base_rate", "urban"]),       # a float
    ({"base_rate": {"urban": "1000.00"}}, ["base_rate", "rural"]),
    ({"activity_coefficient": "1.01"}, ["activity_coefficient"]),
    ({"activity_coefficient": "0"}, ["activity_coefficient"]),
    ({"insurance_coefficient": "-0.9"}, ["insurance_coefficient"]),
    ({"age_sex_coefficients": [*_pairs(10), {"male": "10.01", "female": "1"}]}, ["age_sex_coefficients", 10, "male"]),
    ({"age_sex_coefficients": [{"male": "0", "female": "1"}, *_pairs(11)[1:]]}, ["age_sex_coefficients", 0, "male"]),
    ({"age_sex_coefficients": [{"male": "1"}, *_pairs(11)[1:]]}, ["age_sex_coefficients", 0, "female"]),
    ({"age_sex_coefficients": _pairs(10)}, ["age_sex_coefficients"]),
    ({"surcharge": "1.1"}, ["surcharge"]),
])
def test_a_version_out_of_range_or_incomplete_is_refused_naming_the_field(changes, loc):
    errors = _refused(capitation_values(**changes))
    assert ["body", "values", *loc] in [e["loc"] for e in errors], errors


def test_a_version_missing_a_field_is_refused():
    values = capitation_values()
    del values["insurance_coefficient"]
    assert ["body", "values", "insurance_coefficient"] in [e["loc"] for e in _refused(values)]


def test_a_version_before_2020_is_refused():
    assert ["body", "effective_from"] in [e["loc"] for e in _refused(capitation_values(), date(2019, 12, 1))]
