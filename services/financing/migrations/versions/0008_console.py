"""financing: the people each clinic has had attached (the worklists' per-clinic index), filled from the
histories held; the checkpoints of the calendars for region-wide answers; the worklists rule table
seeded (30 days ahead)

Revision ID: 0008_console
"""
from services.common.migrations import execute_script

revision = "0008_console"
down_revision = "0007_integrity"
branch_labels = None
depends_on = None

UPGRADE = """
-- Every person ever attached to a clinic (an attachment version naming it), written by the consumer in
-- the batch that brings the attachment. A clinic's worklists read its people's histories through it,
-- and the history says whether they are attached on the date asked: a list never scans the nation.
CREATE TABLE fin_clinic_people (
    clinic_no  integer NOT NULL,
    iin        text COLLATE "C" NOT NULL,
    PRIMARY KEY (clinic_no, iin)
);

-- The people already held: each attachment version of a history ({"a": [[version, clinic_id, day]]}).
INSERT INTO fin_clinic_people (clinic_no, iin)
SELECT DISTINCT c.clinic_no, p.iin
FROM fin_persons p
CROSS JOIN LATERAL jsonb_array_elements(convert_from(p.history, 'UTF8')::jsonb -> 'a') AS a(v)
JOIN fin_clinics c ON c.clinic_id = a.v ->> 1
ON CONFLICT DO NOTHING;

-- Checkpoints, a cache of the calendars for region-wide answers (services.financing.checkpoints): the
-- sums of a clinic's count deltas up to a day, and its people by cell on a month's first day with their
-- amount under one capitation version and settlement. A batch deletes those its deltas reach; they are
-- written only while no batch is in flight. Empty at first: each is figured when first asked.
CREATE TABLE fin_count_marks (
    clinic_no  integer NOT NULL,
    day        date NOT NULL,
    attached   integer NOT NULL,
    active     integer NOT NULL,
    insured    integer NOT NULL,
    PRIMARY KEY (clinic_no, day)
);
CREATE TABLE fin_month_cells (
    clinic_no      integer NOT NULL,
    month          date NOT NULL,
    people         integer[] NOT NULL,
    rules_version  text,
    settlement     text,
    amount         numeric,
    PRIMARY KEY (clinic_no, month)
);

INSERT INTO rule_versions (rule_table, effective_from, vals, legal_basis, note, published_by) VALUES
('worklists', '2020-01-01', '{"horizon_days": 30}',
 '{"act": "Приказ Министра здравоохранения РК «Об утверждении правил оплаты услуг субъектов здравоохранения в рамках гарантированного объема бесплатной медицинской помощи и (или) в системе обязательного социального медицинского страхования»", "number": "ҚР ДСМ-291/2020 (as amended)", "date": "2020-12-20", "url": "https://adilet.zan.kz/rus/docs/V2000021831"}',
 'The project''s decision: the clinics'' worklists of attached people who turn inactive and of those whose insured time ends look 30 days ahead, so that a clinic can reach them before the reduction coefficients apply to them. No act sets such a horizon.',
 'migration 0008_console')
ON CONFLICT (rule_table, effective_from) DO NOTHING;
"""


def upgrade() -> None:
    execute_script(UPGRADE)


def downgrade() -> None:
    raise NotImplementedError("forward-only migrations")
