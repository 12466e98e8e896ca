"""The contribution rule versions the unit tests compute with (the tests' own copy of the values)."""
from __future__ import annotations

from datetime import date

from services.contributions.rules import RULE_TABLES, Month, PeriodRules, rules_on
from tests.support.rules import snapshot_of

_RATES = dict(employer_rate="0.02", employer_cap_mzp=10, employee_rate="0.01", employee_cap_mzp=10,
              civil_rate="0.01", civil_cap_mzp=10, self_rate="0.05", self_base_mzp="1", entrepreneur_rate="0.05",
              entrepreneur_base_mzp="1.4", platform_rate=None, platform_cap_mzp=None)

VERSIONS = {
    "mzp": [(f"{y}-01-01", {"amount": a}) for y, a in [(2020, "42500.00"), (2021, "42500.00"), (2022, "60000.00"),
                                                         (2023, "70000.00"), (2024, "85000.00"), (2025, "85000.00"),
                                                         (2026, "85000.00")]],
    "rates": [("2020-01-01", _RATES),
              ("2021-01-01", {**_RATES, "employee_rate": "0.02", "civil_rate": "0.02"}),
              ("2022-01-01", {**_RATES, "employer_rate": "0.03", "employee_rate": "0.02", "civil_rate": "0.02"}),
              ("2024-09-03", {**_RATES, "employer_rate": "0.03", "employee_rate": "0.02", "civil_rate": "0.02",
                              "platform_rate": "0.01", "platform_cap_mzp": 20}),
              ("2026-01-01", {**_RATES, "employer_rate": "0.03", "employee_rate": "0.02", "civil_rate": "0.02",
                              "employer_cap_mzp": 40, "employee_cap_mzp": 20, "civil_cap_mzp": 20,
                              "platform_rate": "0.01", "platform_cap_mzp": 20})],
    "state_rate": [("2022-01-01", {"rate": "0.017"}), ("2025-01-01", {"rate": "0.02"}),
                   ("2027-01-01", {"rate": "0.022"})],
    "average_wage": [("2023-01-01", {"amount": "364295.00"}), ("2024-01-01", {"amount": "404000.00"})],
    "state_categories": [("2020-01-01", {"republican": ["children", "pensioners"], "local": ["unemployed"]})],
}
SNAPSHOT = snapshot_of(RULE_TABLES, VERSIONS)


def rules_for(month: Month) -> PeriodRules | None:
    """The rules of a calendar month (a payroll's period), from the tests' versions."""
    return rules_on(SNAPSHOT, date(month // 12, month % 12 + 1, 1))
