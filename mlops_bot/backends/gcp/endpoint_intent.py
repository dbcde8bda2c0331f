"""A promotion's intent (model_types.PromotionIntent) kept as labels of its Vertex AI endpoint.

The deploy identity may update endpoints and nothing else that lasts, and an endpoint's labels
are changed by the same etag-guarded update as its traffic split, so the intent lives there:
`mlops-bot-intent` (deploy or rollback), `mlops-bot-intent-at` (when, as 20261201t061500z),
`mlops-bot-intent-of` (the candidate, as a label value) and one `mlops-bot-restore-<deployed
model id>` per deployed model with its share of the split to put back.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from mlops_bot.backends.gcp.api_errors import label_value
from mlops_bot.backends.model_types import PromotionIntent

__all__ = ["intent_labels", "intent_of"]

_ACTION = "mlops-bot-intent"
_AT = "mlops-bot-intent-at"
_OF = "mlops-bot-intent-of"
_RESTORE = "mlops-bot-restore-"
_STAMP = re.compile(r"(\d{4})(\d{2})(\d{2})t(\d{2})(\d{2})(\d{2})z")


def intent_labels(labels: Mapping[str, str], intent: PromotionIntent | None) -> dict[str, str]:
    """`labels` without any intent, plus `intent`'s when given."""
    kept = {k: v for k, v in labels.items() if not k.startswith((_ACTION, _RESTORE))}
    if intent is None:
        return kept
    stamp = re.sub(r"[-:]", "", intent.started_at).lower().removesuffix("+0000") + "z"
    return {**kept, _ACTION: label_value(intent.action), _AT: label_value(stamp),
            _OF: label_value(intent.candidate),
            **{f"{_RESTORE}{k}": str(v) for k, v in intent.traffic.items()}}


def intent_of(labels: Mapping[str, str]) -> PromotionIntent | None:
    if _ACTION not in labels:
        return None
    at = _STAMP.fullmatch(labels.get(_AT, ""))
    started = (f"{at[1]}-{at[2]}-{at[3]}T{at[4]}:{at[5]}:{at[6]}+00:00" if at else "")
    traffic = {k.removeprefix(_RESTORE): int(v) for k, v in labels.items()
               if k.startswith(_RESTORE) and v.isdigit()}
    return PromotionIntent(labels[_ACTION], traffic, labels.get(_OF, ""), started)
