"""feedback: appeals, their transitions, per-year registration counters, outbox

Revision ID: 0001
"""
from services.common.migrations import execute_script


OUTBOX_DDL = """
CREATE TABLE outbox (
    id         bigserial PRIMARY KEY,
    txid       xid8 NOT NULL DEFAULT pg_current_xact_id(),
    topic      text NOT NULL,
    key        text NOT NULL,
    event_id   uuid NOT NULL,
    payload    bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outbox_publish_order ON outbox (txid, id);
"""

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(OUTBOX_DDL)
    execute_script("""
    -- One row per year: the last registration serial given. Updated in the registering
    -- transaction, so numbers are unique per year and have no gaps.
    CREATE TABLE registration_counters (
        year        int PRIMARY KEY,
        last_serial int NOT NULL
    );

    CREATE TABLE appeals (
        appeal_id            uuid PRIMARY KEY,
        seq                  bigint GENERATED ALWAYS AS IDENTITY UNIQUE,  -- stable list order, cursors
        registration_number  text NOT NULL UNIQUE,
        kind                 text NOT NULL CHECK (kind IN ('consultation', 'complaint')),
        category             text CHECK (category IN ('quality_of_care', 'refusal_of_care',
                                 'refusal_of_medicines', 'charged_for_free_service',
                                 'service_not_provided', 'other')),
        channel              text NOT NULL CHECK (channel IN ('call_center', 'mobile_app', 'website',
                                 'telegram', 'clinic_desk')),
        region               text NOT NULL,
        iin                  text,            -- personal data: never logged
        clinic_id            text,
        visit_id             text,
        text                 text NOT NULL,   -- personal data: never logged
        status               text NOT NULL CHECK (status IN ('registered', 'in_review', 'extended',
                                 'resolved_on_spot', 'withdrawn', 'upheld', 'rejected', 'answered')),
        registered_at        timestamptz NOT NULL,
        registered_on        date NOT NULL,   -- Kazakhstan's date of registration: deadlines count from it
        due_date             date NOT NULL,
        due_date_provisional boolean NOT NULL DEFAULT false,
        extended_due_date    date,
        resolved_on          date,
        idempotency_key      text UNIQUE,
        request_hash         bytea,
        CHECK ((kind = 'complaint') = (category IS NOT NULL))
    );
    CREATE INDEX appeals_region_registered ON appeals (region, registered_on);
    CREATE INDEX appeals_open_due ON appeals ((coalesce(extended_due_date, due_date)), seq)
        WHERE status IN ('registered', 'in_review', 'extended');
    CREATE INDEX appeals_clinic ON appeals (clinic_id, seq) WHERE clinic_id IS NOT NULL;

    -- Every status change, the registration included: who, when, from what, to what, and why.
    CREATE TABLE appeal_transitions (
        appeal_id       uuid NOT NULL REFERENCES appeals,
        step            int  NOT NULL,
        from_status     text,
        to_status       text NOT NULL,
        by_operator     text NOT NULL,
        at              timestamptz NOT NULL,
        note            text,             -- may quote the applicant: never logged
        due_date        date,             -- the new due date an extension set
        idempotency_key text,
        request_hash    bytea,
        PRIMARY KEY (appeal_id, step),
        UNIQUE (appeal_id, idempotency_key)
    );
    """)


def downgrade() -> None:
    raise NotImplementedError("forward-only migrations")
