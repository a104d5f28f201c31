"""Compliance with its uncertainty: the sampling interval (`interval`) and the detector-error
correction (`correction`), pure functions of counts that summaries, rules, the report and the
open data share so every figure the city reads is qualified the same way."""
