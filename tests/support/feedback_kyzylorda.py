"""The Kyzylorda region's 2025 appeals mix (domain.md, "Appeals") and the shares published for it.

2,669 appeals, 736 complaints; of the complaints 415 withdrawn or resolved on the spot, and by
category 294 quality of care, 238 refusal of care, 94 refusal of medicines. The other 110
complaints are spread over the remaining categories (not published; any split gives the same shares).
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

APPEALS = 2669
COMPLAINTS = 736
SPOT_OR_WITHDRAWN = 415
TOP_CATEGORIES = {"quality_of_care": 294, "refusal_of_care": 238, "refusal_of_medicines": 94}
OTHER_CATEGORIES = {"charged_for_free_service": 45, "service_not_provided": 25, "other": 40}

# As published, in percent, one decimal.
PUBLISHED = {"resolved_on_spot_or_withdrawn": Decimal("56.3"), "quality_of_care": Decimal("39.9"),
             "refusal_of_care": Decimal("32.3"), "refusal_of_medicines": Decimal("12.8")}


@dataclass(frozen=True)
class MixAppeal:
    kind: str
    category: str | None
    final_status: str | None  # None: still open (registered)


def mix() -> list[MixAppeal]:
    """The 2,669 appeals: complaints first spread over the categories, 415 of them closed on the spot
    (resolved_on_spot or withdrawn, alternating categories so closure is not tied to one category)."""
    categories = [c for c, n in {**TOP_CATEGORIES, **OTHER_CATEGORIES}.items() for _ in range(n)]
    assert len(categories) == COMPLAINTS
    # Interleave so the closed ones are spread over every category.
    categories = categories[::2] + categories[1::2]
    out = []
    for i, category in enumerate(categories):
        final = None
        if i < SPOT_OR_WITHDRAWN:
            final = "resolved_on_spot" if i % 4 else "withdrawn"
        out.append(MixAppeal("complaint", category, final))
    out += [MixAppeal("consultation", None, None) for _ in range(APPEALS - COMPLAINTS)]
    return out


def agrees_with_published(share: float, published_percent: Decimal) -> bool:
    """A share agrees with a one-decimal published percent when they differ by less than that
    precision: the publication rounds some figures (12.77 -> 12.8) and truncates others (56.39 -> 56.3)."""
    return abs(Decimal(str(share)) * 100 - published_percent) < Decimal("0.1")
