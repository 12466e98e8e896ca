"""contributions: payrolls, payments, state contributions, per-person coverage

Revision ID: 0002
"""
from services.common.migrations import execute_script

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
    -- One row per accepted payroll; (employer_bin, reference) is the idempotency key, and the
    -- hash of the canonical body tells a repeat (same answer) from a different body (409).
    CREATE TABLE payrolls (
        payroll_id    uuid PRIMARY KEY,
        employer_bin  text NOT NULL,
        reference     text NOT NULL,
        body_sha256   bytea NOT NULL,
        period        date NOT NULL,
        received_on   date NOT NULL,
        rows          int NOT NULL,
        employer_deduction_total    numeric(20, 2) NOT NULL,
        employee_contribution_total numeric(20, 2) NOT NULL,
        rules_version text NOT NULL,
        created_at    timestamptz NOT NULL DEFAULT now(),
        UNIQUE (employer_bin, reference)
    );
    CREATE INDEX payrolls_by_employer ON payrolls (employer_bin, period DESC, created_at DESC);

    -- Written by COPY in the payroll's transaction (no foreign key: a lookup per row for nothing).
    CREATE TABLE payroll_rows (
        payroll_id            uuid NOT NULL,
        row_no                int NOT NULL,
        iin                   text NOT NULL,
        kind                  text NOT NULL,
        income                numeric(20, 2) NOT NULL,
        employer_deduction    numeric(20, 2) NOT NULL,
        employee_contribution numeric(20, 2) NOT NULL,
        PRIMARY KEY (payroll_id, row_no)
    );
    CREATE INDEX payroll_rows_by_person ON payroll_rows (iin);

    CREATE TABLE payments (
        payment_id     uuid PRIMARY KEY,
        reference      text NOT NULL UNIQUE,
        body_sha256    bytea NOT NULL,
        iin            text NOT NULL,
        payer_kind     text NOT NULL CHECK (payer_kind IN ('self', 'entrepreneur', 'platform')),
        amount         numeric(20, 2) NOT NULL,
        paid_on        date NOT NULL,
        covered_months date[] NOT NULL,
        monthly_amount numeric(20, 2) NOT NULL,  -- what each covered month received
        created_at     timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX payments_by_person ON payments (iin, paid_on);

    CREATE TABLE state_contributions (
        contribution_id   uuid PRIMARY KEY,
        reference         text NOT NULL UNIQUE,
        body_sha256       bytea NOT NULL,
        budget            text NOT NULL CHECK (budget IN ('republican', 'local')),
        category          text NOT NULL,
        period            date NOT NULL,
        received_on       date NOT NULL,
        persons           int NOT NULL,
        amount_per_person numeric(20, 2) NOT NULL,
        total             numeric(20, 2) NOT NULL,
        created_at        timestamptz NOT NULL DEFAULT now()
    );
    CREATE TABLE state_contribution_persons (
        contribution_id uuid NOT NULL,
        iin             text NOT NULL,
        PRIMARY KEY (contribution_id, iin)
    );
    CREATE INDEX state_contribution_persons_by_person ON state_contribution_persons (iin);

    -- Each person's covered months as bit masks (bit i = the i-th month from 2020-01): `covered`
    -- by any payer, `nonstate` by a payer other than the state. The row is also the person's lock
    -- (every write upserts it first) and holds the per-person status_version of contribution-paid.
    CREATE TABLE person_coverage (
        iin            text PRIMARY KEY,
        covered        bit(256) NOT NULL,
        nonstate       bit(256) NOT NULL,
        status_version bigint NOT NULL,
        updated_at     timestamptz NOT NULL DEFAULT now()
    );
    """)


def downgrade() -> None:
    raise NotImplementedError("forward-only migrations")
