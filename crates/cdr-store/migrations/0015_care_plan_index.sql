-- cdr schema, version 15: care-plan versions by EHR, for the care-plan flags.
--
-- Only versions of the composition archetype cdr's care-plan templates share are in it, so a
-- commit of anything else adds no entry, and the predicate's column never changes on an update
-- (superseding a version stays a HOT update). Flags of other templates (`--flag-template`) read
-- the EHR's versions instead.

CREATE INDEX IF NOT EXISTS object_version_care_plan ON object_version (ehr_id)
    WHERE archetype_id = 'openEHR-EHR-COMPOSITION.cdr_care_plan.v0';
