"""The capstone service: heroes and teams, async, migrated, pooled."""
