-- Functions the AQL compiler's SQL calls. All are pure helpers over values; none reads a table.

-- The instant of a JSON string holding an ISO 8601 date-time or date (a date is its midnight UTC;
-- a date-time without zone is UTC); NULL for anything else.
CREATE FUNCTION cdr_instant(v jsonb) RETURNS timestamptz
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET timezone = 'UTC' AS $$
DECLARE
    s text;
BEGIN
    IF v IS NULL OR jsonb_typeof(v) <> 'string' THEN
        RETURN NULL;
    END IF;
    s := v #>> '{}';
    IF s !~ '^[0-9]{4}(-?[0-9]{2}(-?[0-9]{2})?)?([T ][0-9]{2}(:?[0-9]{2}(:?[0-9]{2}([.,][0-9]+)?)?)?(Z|[+-][0-9]{2}(:?[0-9]{2})?)?)?$' THEN
        RETURN NULL;
    END IF;
    IF s ~ '^[0-9]{4}$' THEN
        s := s || '-01-01';
    ELSIF s ~ '^[0-9]{4}-[0-9]{2}$' THEN
        s := s || '-01';
    END IF;
    RETURN replace(s, ',', '.')::timestamptz;
EXCEPTION WHEN others THEN
    RETURN NULL;
END
$$;

-- Three-way comparison of two JSON values typed by the left one: numbers numerically, booleans,
-- date-time strings as instants, other strings bytewise; NULL when the types do not agree.
CREATE FUNCTION cdr_cmp(a jsonb, b jsonb) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN jsonb_typeof(a) = 'number' AND jsonb_typeof(b) = 'number' THEN
            sign(a::numeric - b::numeric)::integer
        WHEN jsonb_typeof(a) = 'boolean' AND jsonb_typeof(b) = 'boolean' THEN
            CASE WHEN a::boolean = b::boolean THEN 0 WHEN a::boolean THEN 1 ELSE -1 END
        WHEN jsonb_typeof(a) = 'string' AND jsonb_typeof(b) = 'string' THEN
            CASE
                WHEN cdr_instant(a) IS NOT NULL AND cdr_instant(b) IS NOT NULL THEN
                    CASE WHEN cdr_instant(a) < cdr_instant(b) THEN -1
                         WHEN cdr_instant(a) > cdr_instant(b) THEN 1 ELSE 0 END
                WHEN (a #>> '{}') COLLATE "C" < (b #>> '{}') COLLATE "C" THEN -1
                WHEN (a #>> '{}') COLLATE "C" > (b #>> '{}') COLLATE "C" THEN 1
                ELSE 0
            END
    END
$$;

-- MIN and MAX over JSON values: numbers numerically, strings bytewise.
CREATE FUNCTION cdr_least(a jsonb, b jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN a IS NULL THEN b WHEN b IS NULL THEN a
                WHEN cdr_cmp(b, a) < 0 THEN b ELSE a END
$$;

CREATE FUNCTION cdr_greatest(a jsonb, b jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN a IS NULL THEN b WHEN b IS NULL THEN a
                WHEN cdr_cmp(b, a) > 0 THEN b ELSE a END
$$;

CREATE AGGREGATE cdr_min(jsonb) (SFUNC = cdr_least, STYPE = jsonb, PARALLEL = SAFE);
CREATE AGGREGATE cdr_max(jsonb) (SFUNC = cdr_greatest, STYPE = jsonb, PARALLEL = SAFE);

-- A JSON number as numeric; NULL for anything else (SUM and AVG skip it).
CREATE FUNCTION cdr_num(v jsonb) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN jsonb_typeof(v) = 'number' THEN v::numeric END
$$;

-- A JSON string as text; NULL for anything else.
CREATE FUNCTION cdr_str(v jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN jsonb_typeof(v) = 'string' THEN v #>> '{}' END
$$;

-- Timestamps the way cdr prints them (RFC 3339, microseconds, Z).
CREATE FUNCTION cdr_time_text(t timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
$$;
