"""feedback: the visits the registry recorded, learned from visit-recorded (an upheld service_not_provided
complaint must name one of the complainant's), and the consumer's offsets and dead letters

Revision ID: 0004
"""
from services.common.migrations import execute_script

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
CREATE TABLE consumer_offsets (
    group_id    text   NOT NULL,
    topic       text   NOT NULL,
    partition   int    NOT NULL,
    next_offset bigint NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, topic, partition)
);
CREATE TABLE dead_letters (
    id          bigserial PRIMARY KEY,
    topic       text   NOT NULL,
    partition   int    NOT NULL,
    "offset"    bigint NOT NULL,
    key         bytea,
    value       bytea,
    error       text   NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (topic, partition, "offset")
);

-- A visit by the clinic's own id, which is unique per clinic (the registry's key), and whose it is.
-- The first event of a visit is kept: the registry records a visit once, so a later one is a replay.
-- Identifiers compared byte by byte (COLLATE "C"), as financing keys its visits.
CREATE TABLE recorded_visits (
    clinic_id text COLLATE "C" NOT NULL,
    visit_id  text COLLATE "C" NOT NULL,
    iin       text NOT NULL,   -- personal data: never logged, never in an answer
    PRIMARY KEY (clinic_id, visit_id)
);
""")


def downgrade() -> None:
    raise NotImplementedError("forward-only migrations")
