"""Who sees the image: a user's audience profile plus free features, and their encoding.

The audience is the schema the generators are conditioned on
(:class:`~productstudio.models.conditioning.audience.AudienceProfile`: age band, gender, up to two
interests, region). A shop adds its own *free features* (numbers or strings: ``basket=120``,
``device=mobile``). Segment rules (:mod:`productstudio.personalize.segments`) read both; the
contextual policies read :func:`context_vector`.

Example:
    >>> u = UserContext.parse("user=u7,gender=women,interests=noir+sport,basket=120,device=mobile")
    >>> u.user_id, u.audience.interests, u.features["basket"], u.features["device"]
    ('u7', ('noir', 'sport'), 120.0, 'mobile')
    >>> v = context_vector(u, numeric=("basket",))
    >>> v.shape, float(v[0]), float(v[-1])
    ((20,), 1.0, 120.0)
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from productstudio.errors import InvalidParamsError
from productstudio.models.conditioning.audience import (
    AGE_BANDS,
    AUDIENCE_GENDERS,
    INTERESTS,
    REGIONS,
    AudienceProfile,
)

FeatureValue = float | str
_AUDIENCE_KEYS = ("age_band", "gender", "interests", "region")


def _feature(key: str, value: Any) -> FeatureValue:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        v = float(value)
        if not np.isfinite(v):
            raise InvalidParamsError(f"user feature '{key}' must be finite, got {value!r}")
        return v
    if isinstance(value, str):
        try:
            v = float(value)
        except ValueError:
            return value
        return v if np.isfinite(v) else value
    raise InvalidParamsError(
        f"user feature '{key}' must be a number or a string, got {type(value).__name__}"
    )


@dataclass(frozen=True, slots=True)
class UserContext:
    """One user at decision time.

    Attributes:
        user_id: the shop's (pseudonymous) user id; may be empty.
        audience: age band, gender, interests, region (empty fields = unknown).
        features: free features, numbers or strings (``basket=120``, ``device=mobile``).
    """

    user_id: str = ""
    audience: AudienceProfile = field(default_factory=AudienceProfile)
    features: Mapping[str, FeatureValue] = field(default_factory=dict)

    def __post_init__(self) -> None:
        clean = {str(k): _feature(str(k), v) for k, v in dict(self.features).items()}
        bad = sorted(set(clean) & set(_AUDIENCE_KEYS))
        if bad:
            raise InvalidParamsError(
                f"user features {bad} clash with the audience fields; put them in `audience`"
            )
        object.__setattr__(self, "features", clean)

    @classmethod
    def parse(cls, text: str) -> UserContext:
        """From ``"user=u1,age_band=25-34,gender=women,interests=noir+sport,basket=120"``:
        ``user`` is the id, the audience keys go to the profile, anything else is a feature."""
        aud: list[str] = []
        feats: dict[str, FeatureValue] = {}
        uid = ""
        for part in filter(None, (p.strip() for p in text.split(","))):
            if "=" not in part:
                raise InvalidParamsError(f"user: expected key=value, got '{part}'")
            k, v = (s.strip() for s in part.split("=", 1))
            if k in ("user", "user_id"):
                uid = v
            elif k in _AUDIENCE_KEYS:
                aud.append(f"{k}={v}")
            elif not k:
                raise InvalidParamsError(f"user: empty key in '{part}'")
            else:
                feats[k] = _feature(k, v)
        return cls(uid, AudienceProfile.parse(",".join(aud)), feats)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> UserContext:
        """From ``{"user_id", "age_band", "gender", "interests", "region", "features"}`` (the
        HTTP body and the stored JSON); ``interests`` may be a list or ``"a+b"``."""
        if not isinstance(data, Mapping):
            raise InvalidParamsError("user: expected a JSON object")
        extra = set(data) - {"user_id", "features", *_AUDIENCE_KEYS}
        if extra:
            raise InvalidParamsError(
                f"user: unknown keys {sorted(extra)}; put free features under 'features'"
            )
        ints = data.get("interests") or ()
        if isinstance(ints, str):
            ints = tuple(x for x in ints.split("+") if x)
        aud = AudienceProfile(
            age_band=str(data.get("age_band") or ""),
            gender=str(data.get("gender") or ""),
            interests=tuple(str(i) for i in ints),
            region=str(data.get("region") or ""),
        )
        feats = data.get("features") or {}
        if not isinstance(feats, Mapping):
            raise InvalidParamsError("user.features: expected an object of name → value")
        return cls(str(data.get("user_id") or ""), aud, dict(feats))

    def to_dict(self) -> dict[str, Any]:
        a = self.audience
        return {
            "user_id": self.user_id,
            "age_band": a.age_band,
            "gender": a.gender,
            "interests": list(a.interests),
            "region": a.region,
            "features": dict(self.features),
        }

    def to_json(self) -> str:
        """Canonical JSON (sorted keys): equal contexts give equal strings."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    def value(self, key: str) -> FeatureValue | tuple[str, ...] | None:
        """An audience field (``interests`` is a tuple) or a free feature; ``None`` if unset."""
        if key == "interests":
            return self.audience.interests
        if key in _AUDIENCE_KEYS:
            v = getattr(self.audience, key)
            return v or None
        return self.features.get(key)


def read_text(path: str | Path, what: str) -> str:
    """A UTF-8 config file's text; InvalidParamsError naming ``what`` and the path otherwise."""
    p = Path(path)
    try:
        return p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise InvalidParamsError(f"cannot read {what} {p}: {reason}") from None


def context_names(numeric: Sequence[str] = ()) -> list[str]:
    """Names of the entries of :func:`context_vector` (``bias``, one-hots, numeric features)."""
    return [
        "bias",
        *(f"age_band={v}" for v in AGE_BANDS),
        *(f"gender={v}" for v in AUDIENCE_GENDERS),
        *(f"interest={v}" for v in INTERESTS),
        *(f"region={v}" for v in REGIONS),
        *numeric,
    ]


def context_vector(user: UserContext, numeric: Sequence[str] = ()) -> NDArray[np.float64]:
    """``[1, one-hot age band, one-hot gender, multi-hot interests, one-hot region, numeric…]``.

    Unknown audience fields are all-zero blocks; a missing or non-numeric free feature is 0.
    """
    a = user.audience
    parts: list[float] = [1.0]
    parts += [float(a.age_band == v) for v in AGE_BANDS]
    parts += [float(a.gender == v) for v in AUDIENCE_GENDERS]
    parts += [float(v in a.interests) for v in INTERESTS]
    parts += [float(a.region == v) for v in REGIONS]
    for k in numeric:
        v = user.features.get(k)
        parts.append(float(v) if isinstance(v, float) else 0.0)
    return np.asarray(parts, np.float64)


def joint_features(x: NDArray[np.float64], z: NDArray[np.float64]) -> NDArray[np.float64]:
    """Features of showing variants ``z`` (K, dz) to a user ``x`` (dx,): the (K, dx*dz)
    Kronecker rows ``x ⊗ [1, z_k]`` — main effects of both and every user × variant
    interaction (an audience that prefers dark backgrounds is one coefficient)."""
    zz = np.hstack([np.ones((z.shape[0], 1)), z])
    return np.einsum("i,kj->kij", x, zz).reshape(z.shape[0], -1)


__all__ = ["FeatureValue", "UserContext", "context_names", "context_vector", "joint_features"]
