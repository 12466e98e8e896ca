"""financing: held visits (the registry's padded-records checks) stay out of activity until cleared

`held`: the visit's integrity state of the highest `integrity_version` seen (visit-recorded is version
0, visit-held and visit-cleared carry theirs), so the newest state wins whatever order the events come
in. A visit counts when it is known (iin), not voided by an upheld complaint, and not held.

Revision ID: 0007_integrity
"""
from services.common.migrations import execute_script

revision = "0007_integrity"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
ALTER TABLE fin_visits
    ADD COLUMN held boolean NOT NULL DEFAULT false,
    ADD COLUMN integrity_version bigint NOT NULL DEFAULT 0;
""")


def downgrade() -> None:
    raise NotImplementedError("forward-only migrations")
