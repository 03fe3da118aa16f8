//! Archetype checks.
