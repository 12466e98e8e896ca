"""registry: patients confirm a sample of their visits; the confirmations rule table; the registry's consumer

`visit_confirmations` holds each confirmation request: the SHA-256 of its one-time code (the code itself
is never stored: it travels only in the visit-confirmation-requested event), the visit, who recorded it,
until when the code is good, and the patient's answer once given (the denial rate per clinic and
practitioner is read from here). `confirmation_failures` counts a client address's wrong codes, shared by
every registry process. The consumer's offsets and dead letters: the registry now consumes
appeal-resolved (an upheld complaint voids the visit, a rejected one clears a denied visit). The first
version of the confirmations rules.

Revision ID: 0008_confirmations
"""
from services.common.migrations import execute_script

revision = "0008_confirmations"
down_revision = "0007_integrity"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
CREATE TABLE visit_confirmations (
    code_sha256     bytea PRIMARY KEY,
    clinic_id       text NOT NULL,
    visit_id        text NOT NULL,
    practitioner_id text,
    date            date NOT NULL,
    requested_on    date NOT NULL,
    expires_on      date NOT NULL,
    sampled_as      text NOT NULL,   -- which rate drew it: base, flagged_clinic, flagged_practitioner, held
    rules_version   text NOT NULL,
    answer          text CHECK (answer IN ('confirmed', 'denied')),
    answered_at     timestamptz,
    UNIQUE (clinic_id, visit_id),
    FOREIGN KEY (clinic_id, visit_id) REFERENCES visits
);

CREATE TABLE confirmation_failures (
    client        text PRIMARY KEY,
    window_start  timestamptz NOT NULL,
    failures      integer NOT NULL
);
CREATE INDEX confirmation_failures_age ON confirmation_failures (window_start);

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

INSERT INTO rule_versions (rule_table, effective_from, vals, legal_basis, note, published_by) VALUES
('confirmations', '2026-12-01', '{"base_rate": "0.01", "flagged_clinic_rate": "0.05", "flagged_practitioner_rate": "0.2", "held_rate": "1", "flag_window_days": 90, "code_valid_days": 14, "confirmation_clears": ["practitioner_volume", "repeated_visit"], "wrong_codes_allowed": 10, "wrong_codes_window_minutes": 15}', '{"act": "Закон РК «Об обязательном социальном медицинском страховании»", "number": "405-V", "date": "2015-11-16", "url": "https://adilet.zan.kz/rus/docs/Z1500000405"}',
 'this project''s decision after the 2026 audit (padded records): 1 recorded visit in 100 is sent to its patient to confirm, 1 in 20 at a clinic with a visit held or voided in the 90 days before, 1 in 5 of a practitioner with one, and every visit held at intake; a code is good for 14 days. A confirmation clears a visit held only for what the patient can witness (a practitioner''s volume, a repeated record); one held for the kind against sex or age stays for an operator. A client address that tries 10 wrong codes in 15 minutes is refused until they pass. Effective before the first intake under it: it applies only to visits recorded from then on', 'migration 0008_confirmations');
""")


def downgrade() -> None:
    raise NotImplementedError("forward-only migrations")
