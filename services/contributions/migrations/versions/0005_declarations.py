"""contributions: payroll versions (corrections), each person's month per employer (caps across payrolls),
declarations against bank records, refunds, the single payment (ЕП) as a payer kind, and the payment
terms, base rate and single payment tables

Revision ID: 0005
"""
from services.common.migrations import execute_script

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
-- A payroll's current version; version 1 is the payroll as submitted, each correction adds one.
ALTER TABLE payrolls ADD COLUMN version int NOT NULL DEFAULT 1;
ALTER TABLE payroll_rows ADD COLUMN version int NOT NULL DEFAULT 1;
ALTER TABLE payroll_rows DROP CONSTRAINT payroll_rows_pkey, ADD PRIMARY KEY (payroll_id, version, row_no);

CREATE TABLE payroll_corrections (
    payroll_id    uuid NOT NULL,
    version       int NOT NULL CHECK (version >= 2),
    reference     text NOT NULL,
    body_sha256   bytea NOT NULL,
    received_on   date NOT NULL,
    rows          int NOT NULL,
    employer_deduction_total    numeric(20, 2) NOT NULL,
    employee_contribution_total numeric(20, 2) NOT NULL,
    employer_deduction_difference    numeric(20, 2) NOT NULL,
    employee_contribution_difference numeric(20, 2) NOT NULL,
    rules_version     text NOT NULL,
    rules_provisional bool NOT NULL,
    rules_carried_from int,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (payroll_id, version),
    UNIQUE (payroll_id, reference)
);
-- Per person, what a correction changed in the person's month with the employer.
CREATE TABLE payroll_correction_persons (
    payroll_id    uuid NOT NULL,
    version       int NOT NULL,
    iin           text NOT NULL,
    kind          text NOT NULL,
    income_before numeric(20, 2) NOT NULL,
    income_after  numeric(20, 2) NOT NULL,
    employer_deduction_difference    numeric(20, 2) NOT NULL,
    employee_contribution_difference numeric(20, 2) NOT NULL,
    PRIMARY KEY (payroll_id, version, iin, kind)
);

-- A person's income of one kind from one employer in one month, over every current payroll version,
-- and the contributions on it: the caps apply to this total.
CREATE TABLE employer_person_months (
    employer_bin text NOT NULL,
    period       date NOT NULL,
    iin          text NOT NULL,
    kind         text NOT NULL,
    income       numeric(20, 2) NOT NULL,
    employer_deduction    numeric(20, 2) NOT NULL,
    employee_contribution numeric(20, 2) NOT NULL,
    PRIMARY KEY (employer_bin, period, iin, kind)
);
CREATE INDEX employer_person_months_by_person ON employer_person_months (iin);
INSERT INTO employer_person_months
SELECT p.employer_bin, p.period, r.iin, r.kind, sum(r.income), sum(r.employer_deduction),
       sum(r.employee_contribution)
FROM payroll_rows r JOIN payrolls p USING (payroll_id)
GROUP BY 1, 2, 3, 4;

-- One employer's declared contributions for one month against the bank's records paid for it.
-- Its months count until counts_until; unpaid after that the declaration lapses (lapsed_on) until paid.
-- The row is also the lock of the employer's month.
CREATE TABLE declarations (
    employer_bin      text NOT NULL,
    period            date NOT NULL,
    declared          numeric(20, 2) NOT NULL,
    paid              numeric(20, 2) NOT NULL DEFAULT 0,
    due_on            date NOT NULL,
    counts_until      date NOT NULL,
    first_received_on date NOT NULL,
    lapsed_on         date,
    PRIMARY KEY (employer_bin, period)
);
CREATE INDEX declarations_to_sweep ON declarations (counts_until) WHERE lapsed_on IS NULL AND paid < declared;
-- Payrolls accepted before bank statements were imported were taken as paid; they stay so.
INSERT INTO declarations (employer_bin, period, declared, paid, due_on, counts_until, first_received_on)
SELECT employer_bin, period, sum(employer_deduction_total + employee_contribution_total),
       sum(employer_deduction_total + employee_contribution_total),
       (period + interval '1 month' + interval '24 days')::date,
       (period + interval '1 month' + interval '34 days')::date, min(received_on)
FROM payrolls GROUP BY 1, 2;

-- The bank's payment records; a record matching no declaration keeps employer period NULL (unmatched).
CREATE TABLE bank_records (
    record_id    uuid PRIMARY KEY,
    reference    text NOT NULL UNIQUE,
    body_sha256  bytea NOT NULL,
    payer_bin    text NOT NULL,
    paid_on      date NOT NULL,
    amount       numeric(20, 2) NOT NULL,
    purpose      text NOT NULL,
    period       date,
    received_on  date NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX bank_records_by_declaration ON bank_records (payer_bin, period, paid_on);
CREATE INDEX bank_records_unmatched ON bank_records (created_at) WHERE period IS NULL;

-- Money given back to its payer: an employer's month (declaration) or a person's payment.
CREATE TABLE refunds (
    refund_id    uuid PRIMARY KEY,
    reference    text NOT NULL UNIQUE,
    body_sha256  bytea NOT NULL,
    employer_bin text,
    period       date,
    payment_id   uuid,
    amount       numeric(20, 2) NOT NULL CHECK (amount > 0),
    reason       text NOT NULL,
    refunded_on  date NOT NULL,
    months       date[] NOT NULL,   -- the months the refund uncovered (a payment's)
    created_at   timestamptz NOT NULL DEFAULT now(),
    CHECK ((payment_id IS NULL) <> (employer_bin IS NULL AND period IS NULL))
);
CREATE INDEX refunds_by_declaration ON refunds (employer_bin, period) WHERE employer_bin IS NOT NULL;
CREATE INDEX refunds_by_payment ON refunds (payment_id) WHERE payment_id IS NOT NULL;

ALTER TABLE payments DROP CONSTRAINT payments_payer_kind_check,
    ADD CONSTRAINT payments_payer_kind_check
        CHECK (payer_kind IN ('self', 'entrepreneur', 'platform', 'single_payment'));

INSERT INTO rule_versions (rule_table, effective_from, vals, legal_basis, note, published_by) VALUES
('payment_terms', '2020-01-01', '{"due_day": 25, "grace_days": 10, "penalty_multiplier": "1.25", "days_in_year": 365}', '{"act": "Закон РК «Об обязательном социальном медицинском страховании»", "number": "405-V", "date": "2015-11-16", "url": "https://adilet.zan.kz/rus/docs/Z1500000405"}',
 'due by the 25th of the next month (art. 28); пеня for each day late at 1.25 times the National Bank''s base rate (art. 27), counted a day as rate / 365 from the day after the due date to the day paid. The 10-day grace during which declared but unpaid months still count is the project''s decision (the time a transfer and its statement take)', 'migration 0005'),
('base_rate', '2020-01-01', '{"rate": "0.0925"}', '{"act": "Постановление Комитета по денежно-кредитной политике НБ РК об установлении базовой ставки", "number": "—", "date": "2019-09-09", "url": "https://nationalbank.kz/ru/page/bazovaya-stavka"}',
 'not verified against the National Bank''s schedule: the project''s recollection', 'migration 0005'),
('base_rate', '2021-01-26', '{"rate": "0.09"}', '{"act": "Постановление Комитета по денежно-кредитной политике НБ РК об установлении базовой ставки", "number": "1", "date": "2021-01-22", "url": "https://nationalbank.kz/ru/page/bazovaya-stavka"}',
 '9.00% from 26 January 2021 (the order of 22 January 2021 No. 1)', 'migration 0005'),
('base_rate', '2022-02-24', '{"rate": "0.135"}', '{"act": "Постановление Комитета по денежно-кредитной политике НБ РК об установлении базовой ставки", "number": "—", "date": "2022-02-24", "url": "https://nationalbank.kz/ru/page/bazovaya-stavka"}',
 'not verified against the National Bank''s schedule: the project''s recollection; intermediate changes of 2021-2022 to be published', 'migration 0005'),
('base_rate', '2023-07-10', '{"rate": "0.1675"}', '{"act": "Постановление Комитета по денежно-кредитной политике НБ РК об установлении базовой ставки", "number": "5", "date": "2023-07-04", "url": "https://nationalbank.kz/ru/page/bazovaya-stavka"}',
 '16.75% from 10 July 2023 (the order of 4 July 2023 No. 5); the level held since December 2022', 'migration 0005'),
('base_rate', '2024-08-30', '{"rate": "0.1425"}', '{"act": "Постановление Комитета по денежно-кредитной политике НБ РК об установлении базовой ставки", "number": "—", "date": "2024-08-30", "url": "https://nationalbank.kz/ru/page/bazovaya-stavka"}',
 'not verified against the National Bank''s schedule: the project''s recollection; the steps of 2023-2024 to be published', 'migration 0005'),
('base_rate', '2025-03-07', '{"rate": "0.165"}', '{"act": "Постановление Комитета по денежно-кредитной политике НБ РК об установлении базовой ставки", "number": "—", "date": "2025-03-07", "url": "https://nationalbank.kz/ru/page/bazovaya-stavka"}',
 'not verified against the National Bank''s schedule: the project''s recollection', 'migration 0005'),
('base_rate', '2025-10-10', '{"rate": "0.18"}', '{"act": "Постановление Комитета по денежно-кредитной политике НБ РК об установлении базовой ставки", "number": "—", "date": "2025-10-10", "url": "https://nationalbank.kz/ru/page/bazovaya-stavka"}',
 'not verified against the National Bank''s schedule: the project''s recollection', 'migration 0005'),
('single_payment', '2023-01-01', '{"osms_share": "0.225"}', '{"act": "Кодекс РК «О налогах и других обязательных платежах в бюджет» (Налоговый кодекс), единый платёж", "number": "120-VI", "date": "2017-12-25", "url": "https://adilet.zan.kz/rus/docs/K1700000120"}',
 'the single payment (ЕП) from 2023: of each payment 12.5% goes to employer deductions and 10% to employee contributions of ОСМС, 22.5% in all (the rest to income tax, pensions and social insurance); as the project reads the Tax Code, not verified against its current text', 'migration 0005');
""")


def downgrade() -> None:
    raise NotImplementedError("forward-only migrations")
