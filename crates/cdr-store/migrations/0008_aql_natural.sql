-- Natural values of DV_ORDERED objects for AQL: what such an object compares, orders and
-- aggregates (MIN/MAX) by. Pure helpers over values, like those of 0003 (OR REPLACE: a store
-- rewound below this version applies it again).

-- An ISO 8601 duration's length in seconds (a month is 30 days, a year 365.25, as PostgreSQL
-- intervals count them); NULL for anything else.
CREATE OR REPLACE FUNCTION cdr_duration_seconds(s text) RETURNS numeric
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
    IF s IS NULL OR s !~ '^-?P' THEN
        RETURN NULL;
    END IF;
    RETURN extract(epoch FROM s::interval);
EXCEPTION WHEN others THEN
    RETURN NULL;
END
$$;

-- A time of day (`hh:mm:ss[.f][zone]`) as seconds after midnight UTC (no zone: UTC); NULL
-- for anything else.
CREATE OR REPLACE FUNCTION cdr_time_seconds(s text) RETURNS numeric
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET timezone = 'UTC' AS $$
BEGIN
    IF s IS NULL OR s !~ '^[0-9]{2}:?[0-9]{2}' THEN
        RETURN NULL;
    END IF;
    RETURN extract(epoch FROM s::timetz);
EXCEPTION WHEN others THEN
    RETURN NULL;
END
$$;

-- What a value compares by: a DV_ORDERED object by its natural value (DV_QUANTITY and
-- DV_COUNT magnitude, DV_ORDINAL and DV_SCALE value, DV_PROPORTION numerator/denominator,
-- DV_DURATION its length in seconds, DV_DATE_TIME, DV_DATE and DV_TIME their value string);
-- anything else as it is.
CREATE OR REPLACE FUNCTION cdr_natural(v jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN jsonb_typeof(v) IS DISTINCT FROM 'object' THEN v ELSE
        CASE v ->> '_type'
            WHEN 'DV_QUANTITY' THEN v -> 'magnitude'
            WHEN 'DV_COUNT' THEN v -> 'magnitude'
            WHEN 'DV_ORDINAL' THEN v -> 'value'
            WHEN 'DV_SCALE' THEN v -> 'value'
            WHEN 'DV_PROPORTION' THEN
                CASE WHEN cdr_num(v -> 'denominator') <> 0 THEN
                    to_jsonb(cdr_num(v -> 'numerator') / cdr_num(v -> 'denominator')) END
            WHEN 'DV_DURATION' THEN to_jsonb(cdr_duration_seconds(v ->> 'value'))
            WHEN 'DV_DATE_TIME' THEN v -> 'value'
            WHEN 'DV_DATE' THEN v -> 'value'
            WHEN 'DV_TIME' THEN v -> 'value'
            ELSE v
        END
    END
$$;

-- What a value orders by (ORDER BY, MIN, MAX): DV_ORDERED objects by their natural value with
-- dates and date-times as instants (seconds since the epoch) and times as seconds after
-- midnight UTC; DV_TEXT and DV_CODED_TEXT objects by their text; anything else as it is.
CREATE OR REPLACE FUNCTION cdr_order_key(v jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN jsonb_typeof(v) IS DISTINCT FROM 'object' THEN v ELSE
        CASE v ->> '_type'
            WHEN 'DV_DATE_TIME' THEN to_jsonb(extract(epoch FROM cdr_instant(v -> 'value')))
            WHEN 'DV_DATE' THEN to_jsonb(extract(epoch FROM cdr_instant(v -> 'value')))
            WHEN 'DV_TIME' THEN to_jsonb(cdr_time_seconds(v ->> 'value'))
            WHEN 'DV_TEXT' THEN v -> 'value'
            WHEN 'DV_CODED_TEXT' THEN v -> 'value'
            ELSE cdr_natural(v)
        END
    END
$$;

-- MIN and MAX over objects by their order key; the object itself is the result.
CREATE OR REPLACE FUNCTION cdr_least_natural(a jsonb, b jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN a IS NULL THEN b WHEN b IS NULL THEN a
                WHEN cdr_cmp(cdr_order_key(b), cdr_order_key(a)) < 0 THEN b ELSE a END
$$;

CREATE OR REPLACE FUNCTION cdr_greatest_natural(a jsonb, b jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN a IS NULL THEN b WHEN b IS NULL THEN a
                WHEN cdr_cmp(cdr_order_key(b), cdr_order_key(a)) > 0 THEN b ELSE a END
$$;

CREATE OR REPLACE AGGREGATE cdr_min_natural(jsonb) (SFUNC = cdr_least_natural, STYPE = jsonb, PARALLEL = SAFE);
CREATE OR REPLACE AGGREGATE cdr_max_natural(jsonb) (SFUNC = cdr_greatest_natural, STYPE = jsonb, PARALLEL = SAFE);

-- jsonb_path_query with a planner estimate of 2 rows instead of 1000. An AQL path reaches few
-- values, and nested paths over row nodes multiply the estimate (10^9 rows for three levels),
-- which made PostgreSQL choose worse joins and JIT-compile short queries for hundreds of
-- milliseconds. The same C function under another name needs superuser rights to declare; a
-- plain SQL wrapper (inlined, so with the default estimate) stands in without them.
DO $$
BEGIN
    CREATE OR REPLACE FUNCTION cdr_path_query(target jsonb, path jsonpath, vars jsonb,
        silent boolean) RETURNS SETOF jsonb
    LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE ROWS 2 AS 'jsonb_path_query';
EXCEPTION WHEN insufficient_privilege THEN
    CREATE OR REPLACE FUNCTION cdr_path_query(target jsonb, path jsonpath, vars jsonb,
        silent boolean) RETURNS SETOF jsonb
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE ROWS 2 AS
    $f$ SELECT jsonb_path_query(target, path, vars, silent) $f$;
END
$$;

-- The rows of a chain of row nodes and a final path from `base` (each path applied to every
-- element the previous one reached; a path that reaches nothing gives one NULL element, as a
-- LEFT JOIN LATERAL would): one call where the SQL form would be a nest of laterals, so that a
-- query that rarely needs it does not initialise them for every execution.
CREATE OR REPLACE FUNCTION cdr_path_rows(base jsonb, paths jsonpath[], vars jsonb[])
RETURNS SETOF jsonb
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE ROWS 2 AS $$
DECLARE
    level jsonb[] := ARRAY[base];
    next jsonb[];
    v jsonb;
    x jsonb;
    reached boolean;
BEGIN
    FOR i IN 1 .. coalesce(array_length(paths, 1), 0) LOOP
        next := '{}';
        FOREACH v IN ARRAY level LOOP
            reached := false;
            IF v IS NOT NULL THEN
                FOR x IN SELECT jsonb_path_query(v, paths[i], vars[i]) LOOP
                    next := array_append(next, x);
                    reached := true;
                END LOOP;
            END IF;
            IF NOT reached THEN
                next := array_append(next, NULL::jsonb);
            END IF;
        END LOOP;
        level := next;
    END LOOP;
    RETURN QUERY SELECT unnest(level);
END
$$;
