"""Decision rules: TOML-configured rules evaluated per area into de-duplicated alerts.

Gathering figures (SQL, `gather`), evaluating them (pure, `evaluate`) and storing/publishing
alerts (`alerts`) are separate steps; `RulesEngine` runs one pass of all three.
"""

from central.rules.alerts import (
    ALERT_SCHEMA,
    AlertEvent,
    AlertStore,
    RulesEngine,
    mqtt_publisher,
    mqtt_sender,
)
from central.rules.evaluate import AlertDecision, evaluate
from central.rules.gather import Bed, Figures, KelurahanFigures, Pharmacy, gather
from central.rules.model import DEFAULT_RULES, Rules, load_rules

__all__ = [
    "ALERT_SCHEMA", "DEFAULT_RULES", "AlertDecision", "AlertEvent", "AlertStore", "Bed",
    "Figures", "KelurahanFigures", "Pharmacy", "Rules", "RulesEngine", "evaluate", "gather",
    "load_rules", "mqtt_publisher", "mqtt_sender",
]  # fmt: skip
