-- cdr schema, version 1.
-- Citus-ready: every EHR-scoped table carries ehr_id, and every primary key, unique constraint
-- and foreign key of such a table includes it. Ids are UUIDs made by the application.

-- Reference data ---------------------------------------------------------------------------

CREATE TABLE template (
    template_id     text PRIMARY KEY,
    concept         text NOT NULL,
    root_archetype  text NOT NULL,
    opt             text NOT NULL,
    created_at      timestamptz NOT NULL
);

-- Dictionaries of archetype ids and archetype-rooted paths. Their ids are 64-bit FNV-1a hashes
-- of the text, computed by the application, so writers never wait for an id.
CREATE TABLE archetype_dict (
    archetype       bigint PRIMARY KEY,
    archetype_id    text NOT NULL
);

CREATE TABLE path_dict (
    path_id         bigint PRIMARY KEY,
    archetype_id    text NOT NULL,
    path            text NOT NULL,
    rm_type         text NOT NULL
);

-- EHRs ---------------------------------------------------------------------------------------

CREATE TABLE ehr (
    ehr_id          uuid PRIMARY KEY,
    system_id       text NOT NULL,
    time_created    timestamptz NOT NULL,
    ehr_status_id   uuid NOT NULL,
    ehr_access_id   uuid NOT NULL,
    is_modifiable   boolean NOT NULL,
    is_queryable    boolean NOT NULL
);

-- Subject lookup, keyed by subject (its own table, not EHR-scoped).
CREATE TABLE ehr_subject (
    subject_id      text NOT NULL,
    namespace       text NOT NULL,
    ehr_id          uuid NOT NULL,
    PRIMARY KEY (subject_id, namespace)
);
CREATE INDEX ehr_subject_by_ehr ON ehr_subject (ehr_id);

CREATE TABLE contribution (
    ehr_id          uuid NOT NULL,
    contribution_id uuid NOT NULL,
    time_committed  timestamptz NOT NULL,
    change_type     smallint NOT NULL,
    audit           json NOT NULL,
    PRIMARY KEY (ehr_id, contribution_id)
);

-- Contributions and versioned objects carry no foreign key to ehr: the writing transaction
-- checks the EHR itself, and a key-share lock on the EHR row per commit would serialise writers
-- of one EHR on multixacts.

-- kind: 1 composition, 2 EHR_STATUS, 3 FOLDER (directory)
CREATE TABLE versioned_object (
    ehr_id          uuid NOT NULL,
    vo_id           uuid NOT NULL,
    kind            smallint NOT NULL,
    head            integer NOT NULL,
    deleted         boolean NOT NULL,
    time_created    timestamptz NOT NULL,
    PRIMARY KEY (ehr_id, vo_id)
);
-- One EHR_STATUS and at most one directory per EHR.
CREATE UNIQUE INDEX versioned_object_one_per_ehr ON versioned_object (ehr_id, kind) WHERE kind <> 1;

-- Every version of every versioned object, with its canonical JSON document (json keeps the
-- canonical key order; NULL for a deletion).
CREATE TABLE object_version (
    ehr_id          uuid NOT NULL,
    vo_id           uuid NOT NULL,
    version         integer NOT NULL,
    system_id       text NOT NULL,
    contribution_id uuid NOT NULL,
    change_type     smallint NOT NULL,
    lifecycle_state smallint NOT NULL,
    committed_at    timestamptz NOT NULL,
    sys_period      tstzrange NOT NULL,
    template_id     text,
    archetype_id    text,
    start_time      timestamptz,
    preceding_uid   text,
    audit           json NOT NULL,
    attestations    json,
    document        json,
    PRIMARY KEY (ehr_id, vo_id, version),
    FOREIGN KEY (ehr_id, vo_id) REFERENCES versioned_object (ehr_id, vo_id),
    FOREIGN KEY (ehr_id, contribution_id) REFERENCES contribution (ehr_id, contribution_id)
);
CREATE INDEX object_version_current ON object_version (ehr_id, template_id, start_time DESC)
    WHERE upper_inf(sys_period);
CREATE INDEX object_version_by_contribution ON object_version (ehr_id, contribution_id);

-- Archetype-rooted LOCATABLEs of the current version of each object, as a nested set:
-- CONTAINS is d.num BETWEEN a.num AND a.num_cap within one (ehr_id, vo_id).
CREATE TABLE node (
    ehr_id          uuid NOT NULL,
    vo_id           uuid NOT NULL,
    num             integer NOT NULL,
    num_cap         integer NOT NULL,
    parent          integer,
    rm_type         text NOT NULL,
    archetype       bigint NOT NULL,
    name            text,
    path            text NOT NULL,
    fragment        json,
    PRIMARY KEY (ehr_id, vo_id, num)
);
CREATE INDEX node_population ON node (archetype, vo_id) INCLUDE (num, num_cap);

-- Typed data values of the current version of each object, for WHERE and ORDER BY.
CREATE TABLE leaf (
    ehr_id          uuid NOT NULL,
    vo_id           uuid NOT NULL,
    num             integer NOT NULL,
    path_id         bigint NOT NULL,
    v_num           double precision,
    v_ts            timestamptz,
    v_code          text,
    v_text          text
);
CREATE INDEX leaf_by_object ON leaf (ehr_id, vo_id);
CREATE INDEX leaf_by_ehr_path ON leaf (ehr_id, path_id);
CREATE INDEX leaf_num ON leaf (path_id, v_num) WHERE v_num IS NOT NULL;
CREATE INDEX leaf_code ON leaf (path_id, v_code) WHERE v_code IS NOT NULL;
CREATE INDEX leaf_ts ON leaf (path_id, v_ts) WHERE v_ts IS NOT NULL;

-- Documents and fragments are compressed with lz4 where the server supports it (much cheaper
-- per commit than the default pglz).
DO $$
BEGIN
    ALTER TABLE object_version ALTER COLUMN document SET COMPRESSION lz4;
    ALTER TABLE node ALTER COLUMN fragment SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
    NULL;
END
$$;
