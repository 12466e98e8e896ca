"""registry: the rule tables seeded (attachment rules, visit rules); attachments name the version

Revision ID: 0004
"""
from services.common.migrations import execute_script

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = "c0002"  # rule_versions


def upgrade() -> None:
    # Attachments accepted before name the rules they were judged by as "2020": the same rules,
    # now the version attachment@2020-01-01.
    execute_script("""
UPDATE attachments SET rules_version = 'attachment@2020-01-01' WHERE rules_version = '2020';
INSERT INTO rule_versions (rule_table, effective_from, vals, legal_basis, note, published_by) VALUES
('attachment', '2020-01-01', '{"voluntary_window_months": 12, "voluntary_changes_allowed": 1, "limited_reasons": ["choice"], "campaign_opens": "09-01", "campaign_closes": "11-01", "campaign_effective": "01-01", "newborn_max_age_months": 12}', '{"act": "Приказ Министра здравоохранения РК «Об утверждении правил прикрепления физических лиц к организациям здравоохранения, оказывающим первичную медико-санитарную помощь»", "number": "ҚР ДСМ-194/2020", "date": "2020-11-13", "url": "https://adilet.zan.kz/rus/docs/V2000021642"}',
 'the numbers are as the project had them, not re-verified against the order''s text: a voluntary change (choice) at most once in 12 months, a first attachment not being a change; changes for a new address, a newborn''s first attachment and the annual campaign are not limited; the campaign takes requests from 1 September to 1 November, effective 1 January of the next year; newborn: a first attachment of a child under 12 months. In force from 2020-01-01, the first day the registry takes records (the order itself is of 13 November 2020)', 'migration 0004'),
('visits', '2020-01-01', '{"earliest_date": "2020-01-01", "kinds": [{"code": "consultation", "sex": null, "min_age_years": null, "max_age_years": null}, {"code": "home_visit", "sex": null, "min_age_years": null, "max_age_years": null}, {"code": "telemedicine", "sex": null, "min_age_years": null, "max_age_years": null}, {"code": "treatment", "sex": null, "min_age_years": null, "max_age_years": null}, {"code": "diagnostic", "sex": null, "min_age_years": null, "max_age_years": null}, {"code": "prophylactic", "sex": null, "min_age_years": null, "max_age_years": null}, {"code": "vaccination", "sex": null, "min_age_years": null, "max_age_years": null}, {"code": "patronage", "sex": null, "min_age_years": 0, "max_age_years": 5}, {"code": "screening", "sex": null, "min_age_years": null, "max_age_years": null}, {"code": "dispensary", "sex": null, "min_age_years": null, "max_age_years": null}, {"code": "emergency", "sex": null, "min_age_years": null, "max_age_years": null}, {"code": "screening_cervical", "sex": "F", "min_age_years": 30, "max_age_years": 70}, {"code": "screening_breast", "sex": "F", "min_age_years": 40, "max_age_years": 70}, {"code": "antenatal", "sex": "F", "min_age_years": 14, "max_age_years": 55}, {"code": "screening_prostate", "sex": "M", "min_age_years": 45, "max_age_years": 70}], "practitioner_daily_norm": 24}', '{"act": "Приказ Министра здравоохранения РК «Об утверждении Правил оказания первичной медико-санитарной помощи»", "number": "ҚР ДСМ-90", "date": "2021-08-24", "url": "https://adilet.zan.kz/rus/docs/V2100024094"}',
 'the kinds, the earliest date (2020-01-01, as contributions) and the practitioner''s daily norm of 24 patients (the norm the 2026 audit of padded records measured against) are as the project had them, not taken from the order''s text. The sex and ages each kind applies to are the project''s decision, not the law''s: antenatal F 14-55, cervical screening F 30-70, breast screening F 40-70, prostate screening M 45-70, patronage (newborn and child patronage) 0-5 years; the others any sex and age. The ages are data only for now: intake does not check them yet. In force from 2020-01-01, the first day the registry takes records (the order itself is of 24 August 2021)', 'migration 0004');
""")


def downgrade() -> None:
    raise NotImplementedError("forward-only migrations")
