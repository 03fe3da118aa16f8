-- cdr schema, version 7: documents and audits are stored as text.
--
-- The json type validates its input on every insert: PostgreSQL lexed each version's document
-- and audit (and the contribution's audit) again, about 3% of the server's CPU per commit.
-- cdr writes these columns only with JSON it serialised itself, and every reader casts them
-- (`::jsonb`, `::json`, `::text`) as before, so the stored text and every answer are unchanged.

ALTER TABLE object_version
    ALTER COLUMN document TYPE text,
    ALTER COLUMN audit TYPE text,
    ALTER COLUMN attestations TYPE text;
ALTER TABLE contribution ALTER COLUMN audit TYPE text;

DO $$
BEGIN
    ALTER TABLE object_version ALTER COLUMN document SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
    NULL;
END
$$;
