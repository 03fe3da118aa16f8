-- cdr schema, version 5: a cheaper write path.
--
-- A commit is now one round trip: a contribution that only creates objects is one statement,
-- any other is BEGIN, every statement and COMMIT sent together. So every check a commit makes
-- must fail inside the database and abort the transaction (the COMMIT of an aborted
-- transaction rolls back). Unique keys report taken ids; cdr_fail raises the other refusals
-- with cdr's own SQLSTATEs (class CD):
--   CD001  the EHR does not exist          CD002  the EHR is not modifiable
--   CD003  the preceding version is stale  CD004  the root archetype would change

CREATE FUNCTION cdr_fail(code text, message text) RETURNS integer
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = code, MESSAGE = message;
END
$$;

-- The foreign keys of object_version cost two trigger queries and two row locks per version;
-- the writer inserts the versioned object and the contribution in the same transaction as the
-- version (the durability test checks every version has both after crashes), so they go.
ALTER TABLE object_version DROP CONSTRAINT object_version_ehr_id_vo_id_fkey;
ALTER TABLE object_version DROP CONSTRAINT object_version_ehr_id_contribution_id_fkey;

-- One index serves both per-object leaf access (delete on update, AQL probes from a node) and
-- EHR-bound probes by path (an index condition on path_id, no heap visit); the two it replaces
-- cost a third of a commit's index insertions.
DROP INDEX leaf_by_ehr_path;
DROP INDEX leaf_by_object;
CREATE INDEX leaf_by_object ON leaf (ehr_id, vo_id, path_id);

-- A version row with its compressed document stays in the heap page (the default target of
-- ~2 KB moved most documents out of line: a second heap insert and index insert per commit).
ALTER TABLE object_version SET (toast_tuple_target = 4080);
ALTER TABLE node SET (toast_tuple_target = 4080);

-- No query reads versions by template and start time through this index (AQL reaches versions
-- through versioned_object.head); it only cost an insertion per version.
DROP INDEX object_version_current;
