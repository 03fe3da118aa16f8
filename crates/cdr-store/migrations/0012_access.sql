-- cdr schema, version 12: per-record access policy.
--
-- Small tables beside the EHR, read by the access predicate every non-admin statement carries
-- (`src/access.rs`). An EHR without a consent row is shared for direct care and secondary use
-- (the opt-out model); the predicate looks only for rows that take that away, so the common
-- case probes an empty index range. Written to apply again over itself (a store rewound to an
-- older schema version migrates forward again).

-- The patient's sharing consent: state 1 given, 2 withheld, 3 withdrawn.
CREATE TABLE IF NOT EXISTS ehr_consent (
    ehr_id          uuid PRIMARY KEY,
    state           smallint NOT NULL CHECK (state IN (1, 2, 3)),
    secondary_use   boolean NOT NULL,
    recorded_by     text NOT NULL,
    recorded_by_name text,
    recorded_at     timestamptz NOT NULL,
    note            text
);
-- The records whose consent hides them from direct care, or refuses secondary use.
CREATE INDEX IF NOT EXISTS ehr_consent_not_shared ON ehr_consent (ehr_id) WHERE state <> 1;
CREATE INDEX IF NOT EXISTS ehr_consent_no_secondary ON ehr_consent (ehr_id) WHERE NOT secondary_use;

-- Grants of one EHR to an organisation (grantee_kind 1) or a user (3, their subject):
-- access 1 read, 2 read and write, valid from `valid_from` until `valid_until` (open when NULL).
CREATE TABLE IF NOT EXISTS ehr_grant (
    ehr_id          uuid NOT NULL,
    grant_id        uuid NOT NULL,
    grantee_kind    smallint NOT NULL CHECK (grantee_kind IN (1, 3)),
    grantee         text NOT NULL,
    access          smallint NOT NULL CHECK (access IN (1, 2)),
    valid_from      timestamptz NOT NULL,
    valid_until     timestamptz,
    granted_by      text NOT NULL,
    granted_at      timestamptz NOT NULL,
    PRIMARY KEY (ehr_id, grant_id)
);
CREATE INDEX IF NOT EXISTS ehr_grant_by_grantee ON ehr_grant (grantee, ehr_id);

-- Each use of break-glass: who read which EHR, why, and until when the access lasts.
CREATE TABLE IF NOT EXISTS break_glass (
    ehr_id          uuid NOT NULL,
    id              uuid NOT NULL,
    subject         text NOT NULL,
    name            text,
    organisation    text,
    roles           text[] NOT NULL,
    reason          text NOT NULL,
    valid_from      timestamptz NOT NULL,
    valid_until     timestamptz NOT NULL,
    PRIMARY KEY (ehr_id, id)
);
CREATE INDEX IF NOT EXISTS break_glass_by_subject ON break_glass (subject, valid_until);
CREATE INDEX IF NOT EXISTS break_glass_by_time ON break_glass (valid_from);

-- EHRs left out of population queries (EHR_STATUS.is_queryable false): few, so the analyst's
-- predicate probes a small index.
CREATE INDEX IF NOT EXISTS ehr_not_queryable ON ehr (ehr_id) WHERE NOT is_queryable;
