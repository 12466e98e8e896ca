"""registry: bounds on backdating by role, as new versions of both rule tables; attachments record who asked and why

From 2026-12-01 a clinic's attachment takes effect at most 3 days before the day of the request and a
clinic reports visits at most 30 days old; further back only an admin's correction, an attachment's with
a reason recorded with it.

Revision ID: 0005
"""
from services.common.migrations import execute_script

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
ALTER TABLE attachments
    ADD COLUMN requested_by text NOT NULL DEFAULT '',
    ADD COLUMN backdate_reason text;
INSERT INTO rule_versions (rule_table, effective_from, vals, legal_basis, note, published_by) VALUES
('attachment', '2026-12-01', '{"voluntary_window_months": 12, "voluntary_changes_allowed": 1, "limited_reasons": ["choice"], "campaign_opens": "09-01", "campaign_closes": "11-01", "campaign_effective": "01-01", "newborn_max_age_months": 12, "clinic_backdate_days": 3}', '{"act": "Приказ Министра здравоохранения РК «Об утверждении правил прикрепления физических лиц к организациям здравоохранения, оказывающим первичную медико-санитарную помощь»", "number": "ҚР ДСМ-194/2020", "date": "2020-11-13", "url": "https://adilet.zan.kz/rus/docs/V2000021642"}',
 'the 2020 values unchanged, and a bound on backdating, this project''s decision (the order does not set one): a clinic''s attachment takes effect at most 3 days before the day of the request (a weekend and a day of a clinic''s paperwork); an earlier effective date is an admin''s correction with a recorded reason, so that a clinic cannot move a person, and the money of months already paid, out of another clinic''s past', 'migration 0005'),
('visits', '2026-12-01', '{"earliest_date": "2020-01-01", "kinds": [{"code": "consultation", "sex": null, "min_age_years": null, "max_age_years": null}, {"code": "home_visit", "sex": null, "min_age_years": null, "max_age_years": null}, {"code": "telemedicine", "sex": null, "min_age_years": null, "max_age_years": null}, {"code": "treatment", "sex": null, "min_age_years": null, "max_age_years": null}, {"code": "diagnostic", "sex": null, "min_age_years": null, "max_age_years": null}, {"code": "prophylactic", "sex": null, "min_age_years": null, "max_age_years": null}, {"code": "vaccination", "sex": null, "min_age_years": null, "max_age_years": null}, {"code": "patronage", "sex": null, "min_age_years": 0, "max_age_years": 5}, {"code": "screening", "sex": null, "min_age_years": null, "max_age_years": null}, {"code": "dispensary", "sex": null, "min_age_years": null, "max_age_years": null}, {"code": "emergency", "sex": null, "min_age_years": null, "max_age_years": null}, {"code": "screening_cervical", "sex": "F", "min_age_years": 30, "max_age_years": 70}, {"code": "screening_breast", "sex": "F", "min_age_years": 40, "max_age_years": 70}, {"code": "antenatal", "sex": "F", "min_age_years": 14, "max_age_years": 55}, {"code": "screening_prostate", "sex": "M", "min_age_years": 45, "max_age_years": 70}], "practitioner_daily_norm": 24, "clinic_report_days": 30}', '{"act": "Приказ Министра здравоохранения РК «Об утверждении Правил оказания первичной медико-санитарной помощи»", "number": "ҚР ДСМ-90", "date": "2021-08-24", "url": "https://adilet.zan.kz/rus/docs/V2100024094"}',
 'the 2020 values unchanged, and a reporting window, this project''s decision (the order does not set one): a clinic reports a visit at most 30 days after its date (clinics upload in batches, so days, not hours); an older visit only through an admin''s correction, so that a clinic cannot change its own past statements', 'migration 0005');
""")


def downgrade() -> None:
    raise NotImplementedError("forward-only migrations")
