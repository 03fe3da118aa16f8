-- cdr schema, version 9: the lists of a node row's own part of its document that repeat a node
-- id (see index.rs, `NodeRow::repeats`; empty when none). AQL reads a selected ELEMENT value
-- from leaf rows alone when the path passes through none of them. Rows written before are
-- filled in from their documents when the migration runs (`backfill_node_repeats`); a row still
-- without them (NULL) reads its document.
ALTER TABLE node ADD COLUMN repeats text[];
