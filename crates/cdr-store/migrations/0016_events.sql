-- cdr schema, version 16: change events for subscribers.
--
-- Every commit writes one `event_outbox` row in its own transaction (the versions it wrote),
-- after taking a transaction lock on its EHR, so that the rows of one EHR get their `seq` in
-- the order their transactions commit. One dispatcher at a time (it holds an advisory lock)
-- moves committed outbox rows, in `seq` order, into `change_event`, one row per version,
-- numbered by `position` without gaps; subscribers and event streams read `change_event` by
-- position.

CREATE TABLE IF NOT EXISTS event_outbox (
    seq             bigserial PRIMARY KEY,
    ehr_id          uuid NOT NULL,
    contribution_id uuid NOT NULL,
    vo_ids          uuid[] NOT NULL,
    versions        integer[] NOT NULL
);
-- The publisher's check that no earlier row of the same EHR is still in the queue.
CREATE INDEX IF NOT EXISTS event_outbox_ehr ON event_outbox (ehr_id, seq);
-- A queue: every row is deleted soon after it is written, so vacuum it by the number of dead
-- rows, not by the table's (tiny) size.
ALTER TABLE event_outbox SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 10000,
    autovacuum_vacuum_cost_delay = 0);

CREATE TABLE IF NOT EXISTS change_event (
    position          bigint PRIMARY KEY,
    published_at      timestamptz NOT NULL DEFAULT now(),
    committed_at      timestamptz NOT NULL,
    ehr_id            uuid NOT NULL,
    contribution_id   uuid NOT NULL,
    vo_id             uuid NOT NULL,
    version           integer NOT NULL,
    system_id         text NOT NULL,
    kind              smallint NOT NULL,
    change_type       smallint NOT NULL,
    lifecycle_state   smallint NOT NULL,
    deleted           boolean NOT NULL,
    template_id       text,
    archetype_id      text,
    subject_id        text,
    subject_namespace text
);
CREATE INDEX IF NOT EXISTS change_event_published ON change_event (published_at);

-- A webhook subscription: where to POST, the key its requests are signed with, what it wants
-- (NULL: any), and how far delivery has come (every event up to `delivered` has been answered
-- with a 2xx or did not match).
CREATE TABLE IF NOT EXISTS subscription (
    subscription_id    uuid PRIMARY KEY,
    target_url         text NOT NULL,
    secret             text NOT NULL,
    template_ids       text[],
    ehr_ids            uuid[],
    subject_ids        text[],
    subject_namespaces text[],
    created_at         timestamptz NOT NULL,
    created_by         text NOT NULL,
    delivered          bigint NOT NULL,
    attempts           integer NOT NULL DEFAULT 0,
    next_attempt_at    timestamptz,
    last_error         text,
    last_delivered_at  timestamptz
);
