-- Users of `cdr serve --auth basic`: a login name, an argon2id password hash (PHC string), and
-- what the server needs of them for roles, access and audit. Reference data, like templates.

CREATE TABLE cdr_user (
    username        text PRIMARY KEY CHECK (username ~ '^[A-Za-z0-9._@-]{1,128}$'),
    password_hash   text NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
    full_name       text,
    roles           text[] NOT NULL DEFAULT '{}',
    organisation    text,
    patient_id      text,
    created         timestamptz NOT NULL DEFAULT now(),
    updated         timestamptz NOT NULL DEFAULT now()
);
