"""registry: padded-records checks at intake; held visits, their decisions, and the rule values they use

Visits whose integrity changed (held at intake or later, cleared, voided) get a row in
`visit_integrity`, every change a row in `integrity_changes` (who, when, why); a visit without a row
is clear, so the intake writes nothing more for a clean visit. An index on the person and day finds
the same visit recorded twice and the visits after a death. From 2026-12-07 the visits rules carry the
practitioner's tolerance over the daily norm, the factor "far beyond" it, and the windows of the
turning-inactive signal.

Revision ID: 0007_integrity
"""
from services.common.migrations import execute_script

revision = "0007_integrity"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
CREATE INDEX visits_person_day ON visits (iin, date);

-- Keys in the "C" collation, as the visits' (0003): a join or a key compared across collations uses no index.
CREATE TABLE visit_integrity (
    clinic_id  text COLLATE "C" NOT NULL,
    visit_id   text COLLATE "C" NOT NULL,
    iin        text NOT NULL,
    date       date NOT NULL,
    state      text NOT NULL CHECK (state IN ('clear', 'held', 'void')),
    reasons    text[] NOT NULL,
    version    integer NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT now(),
    changed_by text NOT NULL,
    note       text,
    PRIMARY KEY (clinic_id, visit_id),
    FOREIGN KEY (clinic_id, visit_id) REFERENCES visits
);
CREATE INDEX visit_integrity_held ON visit_integrity (date, clinic_id, visit_id) WHERE state = 'held';

CREATE TABLE integrity_changes (
    id         bigserial PRIMARY KEY,
    clinic_id  text COLLATE "C" NOT NULL,
    visit_id   text COLLATE "C" NOT NULL,
    version    integer NOT NULL,
    state      text NOT NULL,
    reasons    text[] NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT now(),
    changed_by text NOT NULL,
    note       text,
    UNIQUE (clinic_id, visit_id, version)
);

INSERT INTO rule_versions (rule_table, effective_from, vals, legal_basis, note, published_by) VALUES
('visits', '2026-12-07', '{"earliest_date": "2020-01-01", "kinds": [{"code": "consultation", "sex": null, "min_age_years": null, "max_age_years": null}, {"code": "home_visit", "sex": null, "min_age_years": null, "max_age_years": null}, {"code": "telemedicine", "sex": null, "min_age_years": null, "max_age_years": null}, {"code": "treatment", "sex": null, "min_age_years": null, "max_age_years": null}, {"code": "diagnostic", "sex": null, "min_age_years": null, "max_age_years": null}, {"code": "prophylactic", "sex": null, "min_age_years": null, "max_age_years": null}, {"code": "vaccination", "sex": null, "min_age_years": null, "max_age_years": null}, {"code": "patronage", "sex": null, "min_age_years": 0, "max_age_years": 5}, {"code": "screening", "sex": null, "min_age_years": null, "max_age_years": null}, {"code": "dispensary", "sex": null, "min_age_years": null, "max_age_years": null}, {"code": "emergency", "sex": null, "min_age_years": null, "max_age_years": null}, {"code": "screening_cervical", "sex": "F", "min_age_years": 30, "max_age_years": 70}, {"code": "screening_breast", "sex": "F", "min_age_years": 40, "max_age_years": 70}, {"code": "antenatal", "sex": "F", "min_age_years": 14, "max_age_years": 55}, {"code": "screening_prostate", "sex": "M", "min_age_years": 45, "max_age_years": 70}], "practitioner_daily_norm": 24, "clinic_report_days": 30, "practitioner_tolerance": "1.5", "practitioner_far_beyond": "3", "activity_window_days": 365, "turning_inactive_days": 30}', '{"act": "Приказ Министра здравоохранения РК «Об утверждении Правил оказания первичной медико-санитарной помощи»", "number": "ҚР ДСМ-90", "date": "2021-08-24", "url": "https://adilet.zan.kz/rus/docs/V2100024094"}',
 'the values of 2026-12-01 unchanged, and the padded-records checks, this project''s decision after the 2026 audit (a doctor with 1,442 patients a day against a norm of about 24): a practitioner''s visits of a day beyond the norm times 1.5 are held, and all of that day''s once it passes 3 times the norm; a held visit counts towards activity only when an operator clears it. The turning-inactive signal of the risk lists looks at visits that land within 30 days of the 365-day activity window running out (the financing rule''s window)', 'migration 0007_integrity');
""")


def downgrade() -> None:
    raise NotImplementedError("forward-only migrations")
