"""contributions: the rule tables seeded (МЗП, rates, the state rate, average wages, state categories);
each accepted record keeps the rule versions it was computed from

Revision ID: 0004
"""
from services.common.migrations import execute_script

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = "c0002"  # rule_versions


def upgrade() -> None:
    execute_script("""
ALTER TABLE payrolls ADD COLUMN rules_provisional bool NOT NULL DEFAULT false,
                     ADD COLUMN rules_carried_from int;
ALTER TABLE payments ADD COLUMN rules_version text NOT NULL DEFAULT '',
                     ADD COLUMN rules_provisional bool NOT NULL DEFAULT false,
                     ADD COLUMN rules_carried_from int;
ALTER TABLE state_contributions ADD COLUMN rules_version text NOT NULL DEFAULT '',
                                ADD COLUMN rules_provisional bool NOT NULL DEFAULT false,
                                ADD COLUMN rules_carried_from int;
INSERT INTO rule_versions (rule_table, effective_from, vals, legal_basis, note, published_by) VALUES
('mzp', '2020-01-01', '{"amount": "42500.00"}', '{"act": "Закон РК «О республиканском бюджете на 2020–2022 годы»", "number": "276-VI", "date": "2019-12-04", "url": "https://adilet.zan.kz/rus/search/docs/fulltext=%D1%80%D0%B5%D1%81%D0%BF%D1%83%D0%B1%D0%BB%D0%B8%D0%BA%D0%B0%D0%BD%D1%81%D0%BA%D0%BE%D0%BC%20%D0%B1%D1%8E%D0%B4%D0%B6%D0%B5%D1%82%D0%B5"}',
 'as the Fund states it; the budget law''s number is not verified against its text', 'migration 0004'),
('mzp', '2021-01-01', '{"amount": "42500.00"}', '{"act": "Закон РК «О республиканском бюджете на 2021–2023 годы»", "number": "379-VI", "date": "2020-12-02", "url": "https://adilet.zan.kz/rus/search/docs/fulltext=%D1%80%D0%B5%D1%81%D0%BF%D1%83%D0%B1%D0%BB%D0%B8%D0%BA%D0%B0%D0%BD%D1%81%D0%BA%D0%BE%D0%BC%20%D0%B1%D1%8E%D0%B4%D0%B6%D0%B5%D1%82%D0%B5"}',
 'as the Fund states it; the budget law''s number is not verified against its text', 'migration 0004'),
('mzp', '2022-01-01', '{"amount": "60000.00"}', '{"act": "Закон РК «О республиканском бюджете на 2022–2024 годы»", "number": "69-VII", "date": "2021-12-02", "url": "https://adilet.zan.kz/rus/search/docs/fulltext=%D1%80%D0%B5%D1%81%D0%BF%D1%83%D0%B1%D0%BB%D0%B8%D0%BA%D0%B0%D0%BD%D1%81%D0%BA%D0%BE%D0%BC%20%D0%B1%D1%8E%D0%B4%D0%B6%D0%B5%D1%82%D0%B5"}',
 'as the Fund states it; the budget law''s number is not verified against its text', 'migration 0004'),
('mzp', '2023-01-01', '{"amount": "70000.00"}', '{"act": "Закон РК «О республиканском бюджете на 2023–2025 годы»", "number": "157-VII", "date": "2022-11-30", "url": "https://adilet.zan.kz/rus/search/docs/fulltext=%D1%80%D0%B5%D1%81%D0%BF%D1%83%D0%B1%D0%BB%D0%B8%D0%BA%D0%B0%D0%BD%D1%81%D0%BA%D0%BE%D0%BC%20%D0%B1%D1%8E%D0%B4%D0%B6%D0%B5%D1%82%D0%B5"}',
 'as the Fund states it; the budget law''s number is not verified against its text', 'migration 0004'),
('mzp', '2024-01-01', '{"amount": "85000.00"}', '{"act": "Закон РК «О республиканском бюджете на 2024–2026 годы»", "number": "42-VIII", "date": "2023-12-05", "url": "https://adilet.zan.kz/rus/search/docs/fulltext=%D1%80%D0%B5%D1%81%D0%BF%D1%83%D0%B1%D0%BB%D0%B8%D0%BA%D0%B0%D0%BD%D1%81%D0%BA%D0%BE%D0%BC%20%D0%B1%D1%8E%D0%B4%D0%B6%D0%B5%D1%82%D0%B5"}',
 'as the Fund states it; the budget law''s number is not verified against its text', 'migration 0004'),
('mzp', '2025-01-01', '{"amount": "85000.00"}', '{"act": "Закон РК «О республиканском бюджете на 2025–2027 годы»", "number": "136-VIII", "date": "2024-11-21", "url": "https://adilet.zan.kz/rus/search/docs/fulltext=%D1%80%D0%B5%D1%81%D0%BF%D1%83%D0%B1%D0%BB%D0%B8%D0%BA%D0%B0%D0%BD%D1%81%D0%BA%D0%BE%D0%BC%20%D0%B1%D1%8E%D0%B4%D0%B6%D0%B5%D1%82%D0%B5"}',
 'as the Fund states it; the budget law''s number is not verified against its text', 'migration 0004'),
('mzp', '2026-01-01', '{"amount": "85000.00"}', '{"act": "Закон РК «О республиканском бюджете на 2026–2028 годы»", "number": "—", "date": "2025-12-08", "url": "https://adilet.zan.kz/rus/search/docs/fulltext=%D1%80%D0%B5%D1%81%D0%BF%D1%83%D0%B1%D0%BB%D0%B8%D0%BA%D0%B0%D0%BD%D1%81%D0%BA%D0%BE%D0%BC%20%D0%B1%D1%8E%D0%B4%D0%B6%D0%B5%D1%82%D0%B5"}',
 '85,000 unchanged (budget law signed 2025-12-08; its number not verified here)', 'migration 0004'),
('rates', '2020-01-01', '{"employer_rate": "0.02", "employer_cap_mzp": 10, "employee_rate": "0.01", "employee_cap_mzp": 10, "civil_rate": "0.01", "civil_cap_mzp": 10, "self_rate": "0.05", "self_base_mzp": "1", "entrepreneur_rate": "0.05", "entrepreneur_base_mzp": "1.4", "platform_rate": null, "platform_cap_mzp": null}', '{"act": "Закон РК «Об обязательном социальном медицинском страховании»", "number": "405-V", "date": "2015-11-16", "url": "https://adilet.zan.kz/rus/docs/Z1500000405"}',
 'employer 2%, employee 1% in 2020 (fms.kz, ''how to pay contributions''); caps 10 МЗП; self-payers 5% of 1 МЗП, entrepreneurs 5% of 1.4 МЗП (fms.kz)', 'migration 0004'),
('rates', '2021-01-01', '{"employer_rate": "0.02", "employer_cap_mzp": 10, "employee_rate": "0.02", "employee_cap_mzp": 10, "civil_rate": "0.02", "civil_cap_mzp": 10, "self_rate": "0.05", "self_base_mzp": "1", "entrepreneur_rate": "0.05", "entrepreneur_base_mzp": "1.4", "platform_rate": null, "platform_cap_mzp": null}', '{"act": "Закон РК «Об обязательном социальном медицинском страховании»", "number": "405-V", "date": "2015-11-16", "url": "https://adilet.zan.kz/rus/docs/Z1500000405"}',
 'employee and ГПХ contributions 2% from 2021 (fms.kz)', 'migration 0004'),
('rates', '2022-01-01', '{"employer_rate": "0.03", "employer_cap_mzp": 10, "employee_rate": "0.02", "employee_cap_mzp": 10, "civil_rate": "0.02", "civil_cap_mzp": 10, "self_rate": "0.05", "self_base_mzp": "1", "entrepreneur_rate": "0.05", "entrepreneur_base_mzp": "1.4", "platform_rate": null, "platform_cap_mzp": null}', '{"act": "Закон РК «Об обязательном социальном медицинском страховании»", "number": "405-V", "date": "2015-11-16", "url": "https://adilet.zan.kz/rus/docs/Z1500000405"}',
 'employer deductions 3% from 2022 (fms.kz)', 'migration 0004'),
('rates', '2024-09-03', '{"employer_rate": "0.03", "employer_cap_mzp": 10, "employee_rate": "0.02", "employee_cap_mzp": 10, "civil_rate": "0.02", "civil_cap_mzp": 10, "self_rate": "0.05", "self_base_mzp": "1", "entrepreneur_rate": "0.05", "entrepreneur_base_mzp": "1.4", "platform_rate": "0.01", "platform_cap_mzp": 20}', '{"act": "Закон РК «О внесении изменений и дополнений в некоторые законодательные акты по вопросам налогообложения» (платформенная занятость)", "number": "105-VIII", "date": "2024-07-01", "url": "https://adilet.zan.kz/rus/docs/Z2400000105"}',
 'platform workers pay 1% of platform income, withheld by the platform, from 3 September 2024 (kgd.gov.kz). No minimum is found in the sources: any positive contribution covers its month. The cap of 20 МЗП is the project''s decision (one source gives it, another ties 20 МЗП to ГПХ only)', 'migration 0004'),
('rates', '2026-01-01', '{"employer_rate": "0.03", "employer_cap_mzp": 40, "employee_rate": "0.02", "employee_cap_mzp": 20, "civil_rate": "0.02", "civil_cap_mzp": 20, "self_rate": "0.05", "self_base_mzp": "1", "entrepreneur_rate": "0.05", "entrepreneur_base_mzp": "1.4", "platform_rate": "0.01", "platform_cap_mzp": 20}', '{"act": "Приказ Министра здравоохранения РК (изменения в приказ № 478)", "number": "106", "date": "2025-10-13", "url": "https://adilet.zan.kz/rus/docs/V2500037117"}',
 'caps 40 МЗП for employers, 20 МЗП for employees and ГПХ from 2026 (the Fund; order 106, reg. 37117); self-employed on platforms 1% under the 2026 Tax Code, arts. 720-721', 'migration 0004'),
('state_rate', '2020-01-01', '{"rate": "0.014"}', '{"act": "Закон РК «Об обязательном социальном медицинском страховании»", "number": "405-V", "date": "2015-11-16", "url": "https://adilet.zan.kz/rus/docs/Z1500000405"}',
 'not verified: no source found this time; the project keeps the 2019 schedule as it recalls it. Akimats pay at the same rate; whether on the regional average wage (the Ministry, 2025-12-24) is not modelled: the project uses the republic''s', 'migration 0004'),
('state_rate', '2021-01-01', '{"rate": "0.016"}', '{"act": "Закон РК «Об обязательном социальном медицинском страховании»", "number": "405-V", "date": "2015-11-16", "url": "https://adilet.zan.kz/rus/docs/Z1500000405"}',
 'not verified: no source found this time; the project keeps the 2019 schedule as it recalls it. Akimats pay at the same rate; whether on the regional average wage (the Ministry, 2025-12-24) is not modelled: the project uses the republic''s', 'migration 0004'),
('state_rate', '2022-01-01', '{"rate": "0.017"}', '{"act": "Закон РК «Об обязательном социальном медицинском страховании»", "number": "405-V", "date": "2015-11-16", "url": "https://adilet.zan.kz/rus/docs/Z1500000405"}',
 '1.7% (Uchet.kz, the Fund''s Astana branch: 3,614.20 ₸ a person). Akimats pay at the same rate; whether on the regional average wage (the Ministry, 2025-12-24) is not modelled: the project uses the republic''s', 'migration 0004'),
('state_rate', '2023-01-01', '{"rate": "0.018"}', '{"act": "Закон РК «Об обязательном социальном медицинском страховании»", "number": "405-V", "date": "2015-11-16", "url": "https://adilet.zan.kz/rus/docs/Z1500000405"}',
 '1.8% (the Fund, 2023). Akimats pay at the same rate; whether on the regional average wage (the Ministry, 2025-12-24) is not modelled: the project uses the republic''s', 'migration 0004'),
('state_rate', '2024-01-01', '{"rate": "0.019"}', '{"act": "Закон РК «Об обязательном социальном медицинском страховании»", "number": "405-V", "date": "2015-11-16", "url": "https://adilet.zan.kz/rus/docs/Z1500000405"}',
 '1.9% (the 2024-2026 budget law''s draft; the Fund: ''from 1.9 to 2%''). Akimats pay at the same rate; whether on the regional average wage (the Ministry, 2025-12-24) is not modelled: the project uses the republic''s', 'migration 0004'),
('state_rate', '2025-01-01', '{"rate": "0.02"}', '{"act": "Закон РК «Об обязательном социальном медицинском страховании»", "number": "405-V", "date": "2015-11-16", "url": "https://adilet.zan.kz/rus/docs/Z1500000405"}',
 '2% in 2025, kept in 2026 (the Fund; the 2026-2028 budget law). Akimats pay at the same rate; whether on the regional average wage (the Ministry, 2025-12-24) is not modelled: the project uses the republic''s', 'migration 0004'),
('state_rate', '2027-01-01', '{"rate": "0.022"}', '{"act": "Закон РК «Об обязательном социальном медицинском страховании»", "number": "405-V", "date": "2015-11-16", "url": "https://adilet.zan.kz/rus/docs/Z1500000405"}',
 '2.2% in 2027, then rising stepwise to 4.7% in 2037 (the Fund, ''Изменятся ли платежи на ОСМС в 2026 году''; the amendments of July 2025); the later steps are to be published as they are confirmed. Akimats pay at the same rate; whether on the regional average wage (the Ministry, 2025-12-24) is not modelled: the project uses the republic''s', 'migration 0004'),
('average_wage', '2018-01-01', '{"amount": "162673.00"}', '{"act": "Бюро национальной статистики АСПиР РК: среднемесячная номинальная заработная плата", "number": "—", "date": "2019-03-01", "url": "https://stat.gov.kz/ru/industries/labor-and-income/stat-wags/"}',
 'as the project had it; not re-verified', 'migration 0004'),
('average_wage', '2019-01-01', '{"amount": "186815.00"}', '{"act": "Бюро национальной статистики АСПиР РК: среднемесячная номинальная заработная плата", "number": "—", "date": "2020-03-01", "url": "https://stat.gov.kz/ru/industries/labor-and-income/stat-wags/"}',
 'as the project had it; not re-verified', 'migration 0004'),
('average_wage', '2020-01-01', '{"amount": "213003.00"}', '{"act": "Бюро национальной статистики АСПиР РК: среднемесячная номинальная заработная плата", "number": "—", "date": "2021-03-01", "url": "https://stat.gov.kz/ru/industries/labor-and-income/stat-wags/"}',
 'as the project had it; not re-verified', 'migration 0004'),
('average_wage', '2021-01-01', '{"amount": "250311.00"}', '{"act": "Бюро национальной статистики АСПиР РК: среднемесячная номинальная заработная плата", "number": "—", "date": "2022-03-01", "url": "https://stat.gov.kz/ru/industries/labor-and-income/stat-wags/"}',
 'as the project had it; not re-verified', 'migration 0004'),
('average_wage', '2022-01-01', '{"amount": "309567.00"}', '{"act": "Бюро национальной статистики АСПиР РК: среднемесячная номинальная заработная плата", "number": "—", "date": "2023-03-01", "url": "https://stat.gov.kz/ru/industries/labor-and-income/stat-wags/"}',
 'about 310 thousand ₸ (stat.gov.kz, 2023-06-08)', 'migration 0004'),
('average_wage', '2023-01-01', '{"amount": "364295.00"}', '{"act": "Бюро национальной статистики АСПиР РК: среднемесячная номинальная заработная плата", "number": "—", "date": "2024-03-01", "url": "https://stat.gov.kz/ru/industries/labor-and-income/stat-wags/"}',
 '364,295 ₸, the figure the Fund counts 2025 state contributions from (363,817 was an earlier figure)', 'migration 0004'),
('average_wage', '2024-01-01', '{"amount": "404000.00"}', '{"act": "Бюро национальной статистики АСПиР РК: среднемесячная номинальная заработная плата", "number": "—", "date": "2025-03-01", "url": "https://stat.gov.kz/ru/industries/labor-and-income/stat-wags/"}',
 'placeholder: the final annual figure was not found (Q1 382,279, Q2 403,251); publish it as a new version', 'migration 0004'),
('state_categories', '2020-01-01', '{"republican": ["children", "large_family_mothers", "war_veterans", "disabled", "full_time_students", "maternity_leave", "pregnant_non_working", "parent_child_under_3", "pensioners", "prisoners", "detainees", "kandas", "carers_of_disabled", "targeted_social_assistance", "trafficking_victims", "military_and_law_enforcement"], "local": ["unemployed", "social_level_d", "social_level_e"]}', '{"act": "Закон РК «Об обязательном социальном медицинском страховании»", "number": "405-V", "date": "2015-11-16", "url": "https://adilet.zan.kz/rus/docs/Z1500000405"}',
 'art. 26(1) (republican budget) and art. 26-1 (local budgets: the registered unemployed, crisis and emergency social levels D and E)', 'migration 0004');
""")


def downgrade() -> None:
    raise NotImplementedError("forward-only migrations")
