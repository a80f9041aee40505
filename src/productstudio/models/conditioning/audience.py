"""Audience / user-profile schema and the palette rule used to label training photos.

An audience is ``(age_band, gender, interests, region)``; each field is categorical with index 0
meaning "unknown". Interests carry a palette preference (``dark``, ``light``, ``vivid``): the
training metadata gives every photo an audience whose preferred palette matches the photo's
colour (:func:`audience_for`), so a generator can learn what each audience tends to be shown and
:mod:`productstudio.personalize.audience` can measure whether changing only the audience moves
the samples' colours the intended way.

Example:
    >>> palette_of("Navy Blue"), palette_of("Off White"), palette_of("Red")
    (<Palette.DARK: 'dark'>, <Palette.LIGHT: 'light'>, <Palette.VIVID: 'vivid'>)
    >>> a = audience_for("myntra_1", colour="Black", gender="Men")
    >>> a.interests[0], a.gender
    ('noir', 'men')
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum

from productstudio.errors import InvalidParamsError


class Palette(StrEnum):
    DARK = "dark"
    LIGHT = "light"
    VIVID = "vivid"
    NEUTRAL = "neutral"


AGE_BANDS: tuple[str, ...] = ("18-24", "25-34", "35-49", "50+")
AUDIENCE_GENDERS: tuple[str, ...] = ("women", "men", "kids", "any")
#: interest → preferred palette (the first three drive the audience effect).
INTERESTS: dict[str, Palette] = {
    "noir": Palette.DARK,
    "pastel": Palette.LIGHT,
    "vivid": Palette.VIVID,
    "sport": Palette.NEUTRAL,
    "classic": Palette.NEUTRAL,
    "outdoor": Palette.NEUTRAL,
}
REGIONS: tuple[str, ...] = ("north", "south", "east", "west")
MAX_INTERESTS = 2
AUDIENCE_FIELDS: tuple[str, ...] = (
    "age_band",
    "gender",
    *(f"interest{i}" for i in range(MAX_INTERESTS)),
    "region",
)

_DARK = {
    "black",
    "navy blue",
    "charcoal",
    "brown",
    "coffee brown",
    "maroon",
    "burgundy",
    "steel",
    "grey melange",
    "olive",
    "taupe",
    "bronze",
}
_LIGHT = {
    "white",
    "off white",
    "cream",
    "beige",
    "silver",
    "skin",
    "nude",
    "peach",
    "lavender",
    "grey",
    "metallic",
    "mushroom brown",
}
_VIVID = {
    "red",
    "pink",
    "yellow",
    "orange",
    "green",
    "blue",
    "purple",
    "magenta",
    "turquoise blue",
    "teal",
    "lime green",
    "fluorescent green",
    "gold",
    "mustard",
    "rust",
    "sea green",
    "rose",
    "tan",
}


def palette_of(colour: str) -> Palette:
    """The palette family of a Myntra base colour name (case-insensitive)."""
    c = colour.strip().lower()
    if c in _DARK:
        return Palette.DARK
    if c in _LIGHT:
        return Palette.LIGHT
    if c in _VIVID:
        return Palette.VIVID
    return Palette.NEUTRAL


@dataclass(frozen=True, slots=True)
class AudienceProfile:
    """Who the image is shown to. Empty fields mean unknown."""

    age_band: str = ""
    gender: str = ""
    interests: tuple[str, ...] = ()
    region: str = ""

    def __post_init__(self) -> None:
        checks = (
            ("age_band", self.age_band, AGE_BANDS),
            ("gender", self.gender, AUDIENCE_GENDERS),
            ("region", self.region, REGIONS),
        )
        for name, v, allowed in checks:
            if v and v not in allowed:
                raise InvalidParamsError(
                    f"AudienceProfile.{name} must be one of {allowed}, got '{v}'"
                )
        if len(self.interests) > MAX_INTERESTS:
            raise InvalidParamsError(
                f"AudienceProfile.interests: at most {MAX_INTERESTS}, got {len(self.interests)}"
            )
        for i in self.interests:
            if i not in INTERESTS:
                raise InvalidParamsError(
                    f"AudienceProfile.interests: unknown '{i}'. Known: {', '.join(INTERESTS)}"
                )

    @classmethod
    def parse(cls, text: str) -> AudienceProfile:
        """From ``"age_band=25-34,gender=women,interests=noir+sport,region=north"``."""
        kw: dict[str, object] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            if "=" not in part:
                raise InvalidParamsError(f"audience: expected key=value, got '{part}'")
            k, v = (s.strip() for s in part.split("=", 1))
            if k == "interests":
                kw[k] = tuple(x for x in v.split("+") if x)
            elif k in ("age_band", "gender", "region"):
                kw[k] = v
            else:
                raise InvalidParamsError(
                    f"audience: unknown key '{k}'. Keys: age_band, gender, interests, region"
                )
        return cls(**kw)  # type: ignore[arg-type]

    @classmethod
    def preferring(cls, palette: Palette) -> AudienceProfile:
        """A profile whose only interest prefers ``palette``."""
        for name, p in INTERESTS.items():
            if p == palette:
                return cls(interests=(name,))
        raise InvalidParamsError(f"no interest prefers palette '{palette}'")

    def indices(self) -> list[int]:
        """Categorical indices in :data:`AUDIENCE_FIELDS` order (0 = unknown)."""
        names = list(INTERESTS)
        ints = [names.index(i) + 1 for i in self.interests] + [0] * (
            MAX_INTERESTS - len(self.interests)
        )
        return [
            AGE_BANDS.index(self.age_band) + 1 if self.age_band else 0,
            AUDIENCE_GENDERS.index(self.gender) + 1 if self.gender else 0,
            *ints,
            REGIONS.index(self.region) + 1 if self.region else 0,
        ]


def audience_sizes() -> tuple[int, ...]:
    """Embedding table sizes for :data:`AUDIENCE_FIELDS` (index 0 = unknown)."""
    return (
        len(AGE_BANDS) + 1,
        len(AUDIENCE_GENDERS) + 1,
        *([len(INTERESTS) + 1] * MAX_INTERESTS),
        len(REGIONS) + 1,
    )


def audience_for(product_id: str, *, colour: str, gender: str = "") -> AudienceProfile:
    """The deterministic audience a training photo is labelled with.

    Primary interest = the interest whose palette matches the photo's colour (a neutral-palette
    interest chosen by hash otherwise); age band, region and a second neutral interest by hash;
    gender follows the product's gender.
    """
    h = hashlib.sha1(product_id.encode()).digest()
    pal = palette_of(colour)
    neutral = [n for n, p in INTERESTS.items() if p == Palette.NEUTRAL]
    primary = next(
        (n for n, p in INTERESTS.items() if p == pal and pal != Palette.NEUTRAL),
        neutral[h[0] % len(neutral)],
    )
    second = neutral[h[1] % len(neutral)]
    interests = (primary,) if second == primary or h[2] % 2 else (primary, second)
    g = gender.strip().lower()
    ag = {"women": "women", "girls": "kids", "boys": "kids", "men": "men"}.get(g, "any")
    return AudienceProfile(
        age_band=AGE_BANDS[h[3] % len(AGE_BANDS)],
        gender=ag,
        interests=interests,
        region=REGIONS[h[4] % len(REGIONS)],
    )
