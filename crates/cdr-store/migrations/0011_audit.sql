-- The audit trail: one row per access, append-only, and the hash chain that seals the rows.
--
-- audit_event: every event, inserted by the writing transaction itself (writes) or by the
-- server's audit writer (reads, queries, refusals). `xid` is the inserting transaction, which
-- orders the chain (see audit_seal) and the listings; `seq` numbers the events and orders those
-- of one transaction.
CREATE SEQUENCE audit_event_seq;

CREATE TABLE audit_event (
    xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
    seq bigint NOT NULL DEFAULT nextval('audit_event_seq'),
    at timestamptz NOT NULL,
    action text NOT NULL CHECK (action IN
        ('read', 'create', 'update', 'delete', 'query', 'export', 'denied', 'login_failure')),
    outcome text NOT NULL CHECK (outcome IN ('success', 'failure')),
    -- The HTTP status, when the event was recorded for a request.
    status smallint,
    subject text NOT NULL,
    name text,
    organisation text,
    roles text[] NOT NULL,
    address text,
    ehr_id uuid,
    -- The version uids written or read (or the object ids a request named).
    versions text[] NOT NULL,
    break_glass text,
    -- `METHOD path?query` of the request.
    resource text,
    query text,
    query_params text,
    -- The order of the chain and of the listings; each index costs every write.
    PRIMARY KEY (xid, seq)
);

CREATE INDEX audit_event_ehr ON audit_event (ehr_id, xid, seq) WHERE ehr_id IS NOT NULL;

-- The chain: position `pos` seals event `seq` (of transaction `xid`) with
-- hash = sha256(previous hash || the event's canonical text), see cdr-store/src/audit_chain.rs.
-- Events are sealed in (xid, seq) order once every transaction that could still insert an
-- event before them has ended, so the sealed events are always a prefix in that order: the
-- last seal says where the next pass starts, and no index on `seq` is needed.
CREATE TABLE audit_seal (
    pos bigint PRIMARY KEY,
    seq bigint NOT NULL,
    xid xid8 NOT NULL,
    hash bytea NOT NULL
);

-- Defence in depth beside the privileges (cdr's runtime role holds SELECT and INSERT only):
-- rows are never changed or removed through ordinary statements.
CREATE FUNCTION cdr_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event
    FOR EACH ROW EXECUTE FUNCTION cdr_audit_append_only();
CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event
    FOR EACH STATEMENT EXECUTE FUNCTION cdr_audit_append_only();
CREATE TRIGGER audit_seal_append_only BEFORE UPDATE OR DELETE ON audit_seal
    FOR EACH ROW EXECUTE FUNCTION cdr_audit_append_only();
CREATE TRIGGER audit_seal_no_truncate BEFORE TRUNCATE ON audit_seal
    FOR EACH STATEMENT EXECUTE FUNCTION cdr_audit_append_only();
