"""Implementation flows run on the generated core: gate-level area (:mod:`.area`)."""
