"""financing: monthly statements close: the closing state, the closed months, their frozen statements,
the adjustments of the open month; the statements rule table seeded (close day 10)

Revision ID: 0006
"""
from services.common.migrations import execute_script

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

UPGRADE = """
-- One row: the months up to closed_through (a month's first day) are closed. The consumer reads it
-- FOR KEY SHARE in each batch and a closing takes it FOR UPDATE, so a batch applies wholly before a
-- closing or wholly after it. started_on: the day financing began keeping statements (set on the first
-- start); only months whose close day comes after it close without an operator.
CREATE TABLE fin_statement_state (
    one            boolean PRIMARY KEY DEFAULT true CHECK (one),
    closed_through date,
    started_on     date
);
INSERT INTO fin_statement_state (one) VALUES (true);

-- Each closed month: when, by whom (a key, or the close day of the rule table), and the capitation
-- version its statements were figured under (the corrections of the month use the same).
CREATE TABLE fin_closed_months (
    month         date PRIMARY KEY,
    closed_at     timestamptz NOT NULL,
    closed_by     text NOT NULL,
    rules         jsonb NOT NULL
);

-- A closed month's statement of a clinic, as it was answered when the month closed, never rewritten.
-- A clinic with nobody and no adjustment in a closed month has no row (its statement is empty).
CREATE TABLE fin_statements (
    clinic_no  integer NOT NULL,
    month      date NOT NULL,
    settlement text,
    body       jsonb NOT NULL,
    PRIMARY KEY (clinic_no, month)
);

-- A change to a closed month's counting day for one person at one clinic, by one event: the person
-- counted in cell_before and now in cell_after (NULL: not counted by this clinic). It lands in the
-- statement of the first open month (lands_in); its amount is figured under the corrected month's
-- capitation version. The event is named by its place on the topic.
CREATE TABLE fin_adjustments (
    lands_in     date NOT NULL,
    clinic_no    integer NOT NULL,
    corrects     date NOT NULL,
    iin          text COLLATE "C" NOT NULL,
    cell_before  smallint,
    cell_after   smallint,
    topic        text NOT NULL,
    partition    integer NOT NULL,
    "offset"     bigint NOT NULL,
    event_day    date,
    visit_clinic text,
    visit_id     text,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, partition, "offset", iin, clinic_no, corrects)
);
CREATE INDEX fin_adjustments_landing ON fin_adjustments (lands_in, clinic_no);

INSERT INTO rule_versions (rule_table, effective_from, vals, legal_basis, note, published_by) VALUES
('statements', '2020-01-01', '{"close_day": 10}',
 '{"act": "Приказ Министра здравоохранения РК «Об утверждении правил оплаты услуг субъектов здравоохранения в рамках гарантированного объема бесплатной медицинской помощи и (или) в системе обязательного социального медицинского страхования»", "number": "ҚР ДСМ-291/2020 (as amended)", "date": "2020-12-20", "url": "https://adilet.zan.kz/rus/docs/V2000021831"}',
 'The project''s decision: month M''s per-capita statement closes on the 10th of month M+1, after which its money is final and a change to it becomes an adjustment of the first open month. The payment rules settle clinics monthly on the basis of the month''s statement; no close day was found in them, so the 10th is this project''s value until a version says otherwise.',
 'migration 0006')
ON CONFLICT (rule_table, effective_from) DO NOTHING;
"""


def upgrade() -> None:
    execute_script(UPGRADE)


def downgrade() -> None:
    raise NotImplementedError("forward-only migrations")
