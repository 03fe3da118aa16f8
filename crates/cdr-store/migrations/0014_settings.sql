-- cdr schema, version 14: what the server records about itself.
--
-- `cdr_setting` holds one text value per name. `default_models` says that the care-plan models
-- cdr ships were installed (the value lists their template ids), so later starts leave the
-- templates alone.

CREATE TABLE IF NOT EXISTS cdr_setting (
    name   text PRIMARY KEY,
    value  text NOT NULL,
    set_at timestamptz NOT NULL DEFAULT now()
);
