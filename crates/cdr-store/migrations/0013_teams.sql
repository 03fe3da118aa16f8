-- cdr schema, version 13: grants to teams.
--
-- `ehr_grant.grantee_kind` 2 is a team: the grantee is a team name, and a caller holds the
-- grant when the team is among theirs (`Principal::teams`: a token claim, or the teams of a
-- Basic user). The users of Basic authentication carry their teams. Written to apply again over
-- itself, as migration 12.

ALTER TABLE ehr_grant DROP CONSTRAINT IF EXISTS ehr_grant_grantee_kind_check;
ALTER TABLE ehr_grant ADD CONSTRAINT ehr_grant_grantee_kind_check
    CHECK (grantee_kind IN (1, 2, 3));

ALTER TABLE cdr_user ADD COLUMN IF NOT EXISTS teams text[] NOT NULL DEFAULT '{}';
