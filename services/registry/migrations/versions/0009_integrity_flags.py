"""registry: a held or voided visit's practitioner kept with its integrity state, so that whether a clinic
or a practitioner is flagged (a held or voided visit in the window) is one probe of a partial index,
whatever the number of the clinic's holds

Revision ID: 0009_integrity_flags
"""
from services.common.migrations import execute_script

revision = "0009_integrity_flags"
down_revision = "0008_confirmations"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
ALTER TABLE visit_integrity ADD COLUMN practitioner_id text COLLATE "C";
UPDATE visit_integrity i SET practitioner_id = v.practitioner_id
FROM visits v WHERE v.clinic_id = i.clinic_id AND v.visit_id = i.visit_id AND v.practitioner_id IS NOT NULL;
CREATE INDEX visit_integrity_clinic_flags ON visit_integrity (clinic_id, date) WHERE state <> 'clear';
CREATE INDEX visit_integrity_practitioner_flags ON visit_integrity (clinic_id, practitioner_id, date)
    WHERE state <> 'clear';
""")


def downgrade() -> None:
    execute_script("""
DROP INDEX visit_integrity_practitioner_flags;
DROP INDEX visit_integrity_clinic_flags;
ALTER TABLE visit_integrity DROP COLUMN practitioner_id;
""")
