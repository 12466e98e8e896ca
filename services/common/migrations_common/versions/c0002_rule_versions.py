"""common: rule versions (every service database): the rule tables its administrators publish

Revision ID: c0002
"""
from services.common.migrations import execute_script

revision = "c0002"
down_revision = "c0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A version is never edited: the trigger refuses UPDATE and DELETE, a correction is a new row.
    execute_script("""
CREATE TABLE rule_versions (
    seq            bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    rule_table     text NOT NULL,
    effective_from date NOT NULL,
    vals           jsonb NOT NULL,
    legal_basis    jsonb NOT NULL,
    note           text NOT NULL DEFAULT '',
    published_by   text NOT NULL,
    published_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (rule_table, effective_from)
);
CREATE FUNCTION rule_versions_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'rule versions are never edited or deleted: publish a new version';
END $$;
CREATE TRIGGER rule_versions_immutable BEFORE UPDATE OR DELETE ON rule_versions
    FOR EACH ROW EXECUTE FUNCTION rule_versions_immutable();
""")


def downgrade() -> None:
    raise NotImplementedError("forward-only migrations")
