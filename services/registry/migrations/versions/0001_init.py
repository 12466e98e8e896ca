"""registry: clinics, people, attachments, visits, outbox

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
    CREATE TABLE clinics (
        clinic_id  text PRIMARY KEY,
        name       text NOT NULL,
        region     text NOT NULL,
        settlement text NOT NULL CHECK (settlement IN ('urban', 'rural')),
        version    bigint NOT NULL DEFAULT 1,  -- orders the clinic's clinic-registered events
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX clinics_region ON clinics (region, clinic_id);

    -- One row per person known to the registry: the current attachment and the person's version,
    -- which orders the person's attach/detach events for consumers.
    CREATE TABLE persons (
        iin            text PRIMARY KEY,
        birth_date     date NOT NULL,
        sex            char(1) NOT NULL CHECK (sex IN ('M', 'F')),
        clinic_id      text REFERENCES clinics,
        attachment_id  uuid,
        attached_since date,
        died_on        date,
        version        bigint NOT NULL DEFAULT 0
    );
    CREATE INDEX persons_clinic ON persons (clinic_id) WHERE clinic_id IS NOT NULL;
    -- Each visits request looks up the deaths among its people: a small index of the dead only.
    CREATE INDEX persons_dead ON persons (iin) INCLUDE (died_on) WHERE died_on IS NOT NULL;

    CREATE TABLE attachments (
        attachment_id      uuid PRIMARY KEY,
        iin                text NOT NULL REFERENCES persons,
        clinic_id          text NOT NULL REFERENCES clinics,
        previous_clinic_id text,
        reason             text NOT NULL CHECK (reason IN ('choice', 'address_change', 'newborn', 'campaign')),
        effective_date     date NOT NULL,
        rules_version      text NOT NULL,
        ended_on           date,
        end_reason         text,
        created_at         timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX attachments_person ON attachments (iin, effective_date);

    CREATE TABLE visits (
        clinic_id       text NOT NULL,
        visit_id        text NOT NULL,
        iin             text NOT NULL,
        date            date NOT NULL,
        kind            text NOT NULL,
        practitioner_id text,
        recorded_at     timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (clinic_id, visit_id)
    );
    -- Volumes per practitioner per day within a clinic (padded-records checks). The only secondary
    -- index: every index costs each 1,000-visit insert.
    CREATE INDEX visits_clinic_day ON visits (clinic_id, date, practitioner_id);
    """)


def downgrade() -> None:
    raise NotImplementedError("forward-only migrations")
