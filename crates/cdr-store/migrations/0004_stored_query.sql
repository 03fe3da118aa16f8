-- Stored queries (ITS-REST DEFINITION): reference data, like templates. `name` is the qualified
-- name `[namespace::]query-name`; `version` is MAJOR.MINOR.PATCH without leading zeros (so equal
-- versions are equal texts) and at most nine digits a part (so each part fits an integer).

CREATE TABLE stored_query (
    name            text NOT NULL,
    version         text NOT NULL
        CHECK (version ~ '^(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,8})$'),
    query_type      text NOT NULL,
    q               text NOT NULL,
    saved           timestamptz NOT NULL,
    PRIMARY KEY (name, version)
);
