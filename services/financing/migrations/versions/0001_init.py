"""financing: consumer offsets and the walking-skeleton projection

Revision ID: 0001
"""
from services.common.migrations import execute_script

from services.common.consumer import CONSUMER_DDL

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(CONSUMER_DDL)
    execute_script("""
    -- The person's current attachment as the newest (person_version) event says.
    CREATE TABLE fin_persons (
        iin            text PRIMARY KEY,
        clinic_id      text,
        attached_since date,
        birth_date     date,
        sex            char(1),
        person_version bigint NOT NULL
    );
    CREATE INDEX fin_persons_clinic ON fin_persons (clinic_id) WHERE clinic_id IS NOT NULL;

    CREATE TABLE fin_visits (
        clinic_id text NOT NULL,
        visit_id  text NOT NULL,
        iin       text NOT NULL,
        date      date NOT NULL,
        voided    boolean NOT NULL DEFAULT false,
        PRIMARY KEY (clinic_id, visit_id)
    );
    CREATE INDEX fin_visits_person ON fin_visits (iin, date);
    """)


def downgrade() -> None:
    raise NotImplementedError("forward-only migrations")
