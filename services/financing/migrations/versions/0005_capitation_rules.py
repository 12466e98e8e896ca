"""financing: the capitation rule table (КПН) seeded; clinics keep their settlement (urban/rural)

Revision ID: 0005
"""
from services.common.migrations import execute_script

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = "c0002"  # rule_versions

# IF NOT EXISTS: databases made while 0001 read the live DDL may have the column already. The seed is kept if it is there already.
UPGRADE = """
ALTER TABLE fin_clinics ADD COLUMN IF NOT EXISTS settlement text CHECK (settlement IN ('urban', 'rural'));
INSERT INTO rule_versions (rule_table, effective_from, vals, legal_basis, note, published_by) VALUES
('capitation', '2025-10-01',
 '{"base_rate": {"urban": "1176.03", "rural": "1176.03"}, "age_band_bounds": [0, 1, 5, 10, 15, 20, 30, 40, 50, 60, 70], "age_sex_coefficients": [{"male": "3.20", "female": "3.10"}, {"male": "1.80", "female": "1.75"}, {"male": "1.10", "female": "1.10"}, {"male": "0.95", "female": "0.95"}, {"male": "0.80", "female": "0.95"}, {"male": "0.60", "female": "1.05"}, {"male": "0.65", "female": "1.05"}, {"male": "0.80", "female": "0.95"}, {"male": "1.05", "female": "1.10"}, {"male": "1.40", "female": "1.35"}, {"male": "1.85", "female": "1.70"}], "activity_coefficient": "0.8", "insurance_coefficient": "0.9", "activity_window_days": 365}',
 '{"act": "Приказ Министра здравоохранения РК «Об утверждении правил оплаты услуг субъектов здравоохранения в рамках гарантированного объема бесплатной медицинской помощи и (или) в системе обязательного социального медицинского страхования» (КПН ПМСП, изменения с 1 октября 2025 года)", "number": "ҚР ДСМ-291/2020 (as amended)", "date": "2020-12-20", "url": "https://adilet.zan.kz/rus/docs/V2000021831"}',
 'The project''s values as of the КПН reform of 1 October 2025. Base rate: 1176.03 tenge per attached person per month, the project''s placeholder, the same for urban and rural clinics: the real КПН base rate is not published, and the figure of about 27,000 tenge a year per attached person quoted publicly could not be traced to an act; the Ministry announced a rural-specific model for 2026 but published no values, so rural equals urban until a version says otherwise. Age-sex coefficients: placeholders shaped like published PHC capitation tables. Activity coefficient 0.8 (no visit to a PHC clinic in the last 365 days) and insurance coefficient 0.9 (not insured on the day), applied together (0.72): from the Ministry''s statements of October 2025 on the КПН reform; no order number was found for them. The legal basis names the payment rules order as amended: the amending order that introduced these coefficients from 1 October 2025 was not identified. Age bands and the activity window are the projection''s shape: a version with others needs a new projection shape and a rebuild.',
 'migration 0005')
ON CONFLICT (rule_table, effective_from) DO NOTHING;
"""


def upgrade() -> None:
    execute_script(UPGRADE)


def downgrade() -> None:
    raise NotImplementedError("forward-only migrations")
