-- cdr schema, version 6: a node row points into its version's document instead of holding a
-- copy of its subtree.
--
-- The copies cost a JSON parse, a compression and their WAL on every commit, and nested
-- archetypes were stored once per level. AQL now reads a node's subtree as
-- `document #> pointer` from the current version. The pointers of rows written before this
-- version are filled in by cdr right after this script, in the same transaction
-- (store.rs, `backfill_node_pointers`).

ALTER TABLE node ADD COLUMN pointer text[];
ALTER TABLE node DROP COLUMN fragment;
