"""Synthetic partially-supervised instance segmentation benchmark (COCO format, PNG images).

Design (why it looks like this):
  * 24 categories = 6 shape families x 4 appearance styles. A category is a (family, appearance) pair, so
    neither the silhouette alone (4 categories per family) nor the appearance alone (6 per style) tells
    the class: a class-specific mask head has something to learn, as on COCO.
  * Appearance = a colour distribution plus a texture drawn in the object's own frame (solid with a
    lighting gradient, stripes, checker, dots), with per-instance colour jitter, texture scale and phase.
    Shapes get per-instance size, aspect ratio, rotation and smooth radial vertex noise, so silhouettes
    cannot be memorised.
  * The voc-like seen list (`info.tspsis_voc_categories`, a quarter of the categories) is the Latin-square
    diagonal (family f, appearance f mod 4): it covers all 6 families and all 4 appearances. A prototype
    whose seen set covered 3 of 12 families gave a class-agnostic head that hardly segmented unseen
    objects; spanning shapes and appearances lets a class-agnostic head generalise (the paper's
    baseline), so the remaining gap is the one the paper is about.
  * Backgrounds are low-contrast: a smooth colour field of every hue plus clutter (lines, outlines and faint
    textured patches with the objects' textures), so foreground is not a colour threshold.
  * Overlap (Eq. 1) is controlled by `cluster_prob`: that share of objects is centred on a pixel of an
    already placed object (drawn by visible area, as deep inside it as the new object's size allows) and lies
    on top of it; objects are placed roughly largest first (back) to smallest (front), with jitter. So many
    boxes contain other categories' pixels, the situation the paper targets. Masks are modal (visible pixels
    only) and boxes are tight around them. An object is only placed if afterwards every object keeps
    >= MIN_VISIBLE_PIXELS pixels and >= MIN_VISIBLE_FRACTION of its full shape (and objects drawn from the
    large bucket stay large), so no painted object is ever left unannotated.
  * Full-shape areas are drawn per COCO area bucket (small < 32^2, medium, large > 96^2) with the
    profile's bucket probabilities, so every bucket is populated in `demo` and `full`.
  * Deterministic: each image uses its own RNG seeded by (seed, split, index), so generation can run in
    parallel and yields byte-identical JSON (fixed key order, integer boxes/areas) and PNGs.
Annotations: `segmentation` is COCO compressed RLE of the modal mask (modal masks can have holes),
`area` its pixel count, `bbox` [x, y, w, h] tight around it, `iscrowd` 0.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass

import cv2
import numpy as np


__all__ = [
    "APPEARANCES",
    "CATEGORIES",
    "GENERATOR_VERSION",
    "SHAPE_FAMILIES",
    "SYNTH_PROFILES",
    "SynthProfile",
    "SynthSample",
    "VOC_CATEGORY_NAMES",
    "render_sample",
]

GENERATOR_VERSION = "1"  # bump whenever rendering changes: existing outputs are then regenerated
SHAPE_FAMILIES: tuple[str, ...] = ("ellipse", "rectangle", "triangle", "star", "ring", "cross")
APPEARANCES: tuple[str, ...] = ("solid", "striped", "checkered", "dotted")
SPLITS: tuple[str, ...] = ("train", "val")
MIN_VISIBLE_PIXELS = 20        # every annotated object keeps at least this many visible pixels
MIN_VISIBLE_FRACTION = 0.25    # ... and this share of its full (amodal) shape
MIN_SHAPE_AREA = 80.0          # smallest full-shape area drawn (pixels)
SMALL_MAX, MEDIUM_MAX = 32.0**2, 96.0**2  # COCO area buckets
LARGE_AREA_MIN = 1.15 * MEDIUM_MAX   # smallest large full shape: some room for clipping and occlusion
PLACEMENT_TRIES = 8
DEPTH_JITTER = 0.7             # std of the noise on log(area) when sorting objects back to front

# Hue ranges (degrees) of the primary colour of each appearance; the second colour is derived from it.
_HUE_RANGES = {"solid": (0, 35), "striped": (195, 235), "checkered": (85, 145), "dotted": (275, 325)}


@dataclass(frozen=True)
class SynthProfile:
    """Size and difficulty knobs of one benchmark profile."""

    name: str
    image_size: int                               # square images, pixels
    num_train: int
    num_val: int
    objects_per_image: tuple[int, int]            # objects attempted per image (inclusive range)
    area_bucket_probs: tuple[float, float, float]  # P(small, medium, large) of the full-shape area
    max_area_fraction: float                      # largest full-shape area / image area
    cluster_prob: float                           # share of objects placed on top of an existing one

    def __post_init__(self) -> None:
        if abs(sum(self.area_bucket_probs) - 1) > 1e-9:
            raise ValueError(f"profile {self.name!r}: area_bucket_probs must sum to 1")
        if self.area_bucket_probs[2] > 0 and self.max_area_fraction * self.image_size**2 <= LARGE_AREA_MIN:
            raise ValueError(f"profile {self.name!r}: max_area_fraction leaves no room for large objects")


# Measured with tspsis.core.stats (seed 0): objects per image, share with O >= 0.3, small/medium/large.
SYNTH_PROFILES: dict[str, SynthProfile] = {p.name: p for p in (
    # unit tests, ~0.5 s: 5.1 objects/image, 32% O >= 0.3, 57/43/0% (too small for the large bucket)
    SynthProfile("tiny", 128, 16, 8, (3, 7), (0.5, 0.5, 0.0), 0.4, 0.7),
    # CPU training on 2 cores (small images), ~30 s CPU: 5.9 objects/image, 37% O >= 0.3, 50/39/11%
    SynthProfile("demo", 160, 1500, 200, (4, 11), (0.35, 0.5, 0.15), 0.6, 0.8),
    # GPU training, ~15 CPU-minutes (parallel): 10.5 objects/image, 37% O >= 0.3, 44/44/12%
    SynthProfile("full", 256, 20000, 1000, (6, 16), (0.4, 0.45, 0.15), 0.5, 0.7),
)}

CATEGORIES: tuple[dict, ...] = tuple(
    {"id": 1 + f * len(APPEARANCES) + a, "name": f"{appearance}-{family}", "supercategory": family,
     "shape_family": family, "appearance": appearance}
    for f, family in enumerate(SHAPE_FAMILIES) for a, appearance in enumerate(APPEARANCES))
# Latin-square diagonal: family f with appearance f mod 4 -> all 6 families and all 4 appearances.
VOC_CATEGORY_NAMES: tuple[str, ...] = tuple(
    f"{APPEARANCES[f % len(APPEARANCES)]}-{family}" for f, family in enumerate(SHAPE_FAMILIES))


@dataclass
class SynthSample:
    """One rendered image: image (H, W, 3) uint8 RGB; category_ids (N,) int64; masks (N, H, W) bool, modal."""

    image: np.ndarray
    category_ids: np.ndarray
    masks: np.ndarray


# ----------------------------------------------------------------------------------------------- shapes
def _densify(poly: np.ndarray, points_per_edge: int) -> np.ndarray:
    """(K, 2) closed polygon -> (K * points_per_edge, 2) with points inserted along every edge."""
    t = np.arange(points_per_edge)[:, None] / points_per_edge
    nxt = np.roll(poly, -1, axis=0)
    return (poly[:, None, :] * (1 - t) + nxt[:, None, :] * t).reshape(-1, 2)


def _ellipse(n: int = 64, radius: float = 1.0) -> np.ndarray:
    a = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return radius * np.stack([np.cos(a), np.sin(a)], 1)


def _unit_shape(family: str, rng: np.random.Generator) -> list[tuple[np.ndarray, int]]:
    """Polygons of one shape in the unit frame (about [-1, 1]^2) as (points (K, 2), fill value) pairs."""
    if family == "ellipse":
        return [(_ellipse(), 1)]
    if family == "rectangle":
        r = rng.uniform(0.1, 0.35)  # rounded corners
        corners = np.array([[1 - r, 1 - r], [-(1 - r), 1 - r], [-(1 - r), -(1 - r)], [1 - r, -(1 - r)]])
        arc = np.linspace(0, np.pi / 2, 8)
        pts = [c + r * np.stack([np.cos(arc + k * np.pi / 2), np.sin(arc + k * np.pi / 2)], 1)
               for k, c in enumerate(corners)]
        return [(np.concatenate(pts), 1)]
    if family == "triangle":
        a = np.deg2rad(np.array([90.0, 210.0, 330.0]) + rng.uniform(-12, 12, 3))
        pts = rng.uniform(0.85, 1.0, (3, 1)) * np.stack([np.cos(a), np.sin(a)], 1)
        return [(_densify(pts, 12), 1)]
    if family == "star":
        inner = rng.uniform(0.38, 0.55)
        a = np.pi / 2 + np.arange(10) * np.pi / 5
        r = np.where(np.arange(10) % 2 == 0, 1.0, inner)
        return [(_densify(r[:, None] * np.stack([np.cos(a), np.sin(a)], 1), 4), 1)]
    if family == "ring":
        return [(_ellipse(), 1), (_ellipse(radius=rng.uniform(0.45, 0.65)), 0)]
    if family == "cross":
        w = rng.uniform(0.27, 0.4)  # half width of the arms
        pts = np.array([[w, 1], [-w, 1], [-w, w], [-1, w], [-1, -w], [-w, -w], [-w, -1], [w, -1], [w, -w],
                        [1, -w], [1, w], [w, w]])
        return [(_densify(pts, 4), 1)]
    raise ValueError(f"unknown shape family {family!r}")


def _radial_noise(polys: list[tuple[np.ndarray, int]], rng: np.random.Generator) -> list[tuple[np.ndarray, int]]:
    """Smooth low-frequency radial perturbation (harmonics 2-4), the same for all rings of the shape."""
    amp = rng.uniform(0, 0.05, 3)
    phase = rng.uniform(0, 2 * np.pi, 3)
    out = []
    for pts, fill in polys:
        theta = np.arctan2(pts[:, 1], pts[:, 0])
        scale = 1 + sum(a * np.cos(k * theta + p) for a, k, p in zip(amp, (2, 3, 4), phase))
        out.append((pts * scale[:, None], fill))
    return out


def _polygon_area(polys: list[tuple[np.ndarray, int]]) -> float:
    area = 0.0
    for pts, fill in polys:
        x, y = pts[:, 0], pts[:, 1]
        a = 0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))
        area += a if fill else -a
    return area


@dataclass
class _Shape:
    polys: list[tuple[np.ndarray, int]]  # unit-frame polygons
    scale: np.ndarray                    # (2,) pixels per unit along the shape's own axes
    angle: float                         # radians
    centre: np.ndarray                   # (2,) xy pixels
    area: float                          # full-shape area drawn for it (pixels)

    def frame(self) -> np.ndarray:
        """(2, 2) matrix mapping unit-frame coordinates to image offsets from the centre."""
        c, s = np.cos(self.angle), np.sin(self.angle)
        return np.array([[c, -s], [s, c]]) @ np.diag(self.scale)

    def render(self) -> tuple[int, int, np.ndarray]:
        """Full (amodal, unclipped) mask as (x0, y0, patch (h, w) bool) in image pixel coordinates."""
        m = self.frame()
        pts = [(p @ m.T + self.centre, fill) for p, fill in self.polys]
        allpts = np.concatenate([p for p, _ in pts])
        x0, y0 = np.floor(allpts.min(0)).astype(int)
        x1, y1 = np.ceil(allpts.max(0)).astype(int)
        patch = np.zeros((y1 - y0 + 1, x1 - x0 + 1), dtype=np.uint8)
        # pixel (x, y) has its centre at (x + 0.5, y + 0.5); cv2 puts it at (x, y): shift by -0.5
        for p, fill in pts:
            fixed = np.round((p - [x0 + 0.5, y0 + 0.5]) * 16).astype(np.int32)
            cv2.fillPoly(patch, [fixed], int(fill), lineType=cv2.LINE_8, shift=4)
        return int(x0), int(y0), patch.astype(bool)


def _sample_area(profile: SynthProfile, rng: np.random.Generator) -> float:
    """Full-shape area, log-uniform inside a COCO area bucket drawn with the profile's probabilities."""
    max_area = profile.max_area_fraction * profile.image_size**2
    bounds = [(MIN_SHAPE_AREA, SMALL_MAX), (SMALL_MAX, MEDIUM_MAX), (LARGE_AREA_MIN, max_area)]
    bucket = rng.choice(3, p=profile.area_bucket_probs)
    lo, hi = bounds[bucket]
    hi = max(min(hi, max_area), lo)
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def _sample_shape(family: str, profile: SynthProfile, rng: np.random.Generator) -> _Shape:
    polys = _radial_noise(_unit_shape(family, rng), rng)
    aspect = float(np.exp(rng.uniform(np.log(0.6), np.log(1.6))))
    area = _sample_area(profile, rng)
    s = np.sqrt(area / _polygon_area(polys))
    # the sub-pixel centre phase varies the rasterisation; placement later moves the shape by whole pixels
    return _Shape(polys, np.array([s * np.sqrt(aspect), s / np.sqrt(aspect)]), float(rng.uniform(0, 2 * np.pi)),
                  rng.uniform(0, 1, 2), area)


# ------------------------------------------------------------------------------------------- appearance
def _hsv(h_deg: float, s: float, v: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb((h_deg % 360) / 360, s, v)) * 255


def _texture(kind: str, u: np.ndarray, v: np.ndarray, size: float, rng: np.random.Generator) -> np.ndarray:
    """Binary/continuous pattern in [0, 1] at object-frame coordinates u, v (pixels); size ~ object size."""
    if kind == "solid":  # lighting gradient along a random direction
        a = rng.uniform(0, 2 * np.pi)
        return np.clip(0.5 + 0.5 * (u * np.cos(a) + v * np.sin(a)) / max(size, 1), 0, 1)
    if kind == "striped":
        period = max(3.0, size * rng.uniform(0.18, 0.3))
        a = rng.uniform(0, np.pi)
        return (np.floor((u * np.cos(a) + v * np.sin(a)) / period + rng.uniform()) % 2).astype(float)
    if kind == "checkered":
        cell = max(2.5, size * rng.uniform(0.12, 0.2))
        p = rng.uniform(size=2)
        return ((np.floor(u / cell + p[0]) + np.floor(v / cell + p[1])) % 2).astype(float)
    if kind == "dotted":
        spacing = max(4.0, size * rng.uniform(0.2, 0.3))
        p = rng.uniform(size=2) * spacing
        du = (u + p[0]) % spacing - spacing / 2
        dv = (v + p[1]) % spacing - spacing / 2
        return (du**2 + dv**2 < (0.3 * spacing) ** 2).astype(float)
    raise ValueError(f"unknown appearance {kind!r}")


def _object_colours(appearance: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(primary, secondary) RGB colours of one instance; pattern value 0 -> primary, 1 -> secondary."""
    hue = rng.uniform(*_HUE_RANGES[appearance])
    primary = _hsv(hue, rng.uniform(0.55, 0.95), rng.uniform(0.55, 0.95))
    if appearance == "solid":
        secondary = primary * rng.uniform(0.55, 0.75)                       # shaded side
    elif appearance == "striped":
        secondary = _hsv(hue + rng.uniform(-10, 10), rng.uniform(0.05, 0.25), rng.uniform(0.85, 1.0))
    elif appearance == "checkered":
        secondary = _hsv(hue + rng.uniform(-15, 15), rng.uniform(0.5, 0.9), rng.uniform(0.15, 0.35))
    else:
        secondary = _hsv(rng.uniform(45, 65), rng.uniform(0.6, 0.9), rng.uniform(0.85, 1.0))  # yellow dots
    return primary, secondary


def _clip_to_image(x0: int, y0: int, patch: np.ndarray, size: int) -> tuple[int, int, np.ndarray]:
    """Part of a mask patch at (x0, y0) inside a size x size image: (cx0, cy0, sub-patch (h', w'))."""
    cx0, cy0 = min(max(x0, 0), size), min(max(y0, 0), size)
    cx1, cy1 = max(min(x0 + patch.shape[1], size), cx0), max(min(y0 + patch.shape[0], size), cy0)
    return cx0, cy0, patch[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0]


def _paint_object(image: np.ndarray, shape: _Shape, cx0: int, cy0: int, sub: np.ndarray, appearance: str,
                  rng: np.random.Generator) -> None:
    """Paint the object's in-image mask `sub` (at cx0, cy0) onto image (H, W, 3) float32 with its texture."""
    ys, xs = np.nonzero(sub)
    # object-frame coordinates (pixels along the shape's own rotated axes), so textures turn with it
    offsets = np.stack([xs + cx0 + 0.5, ys + cy0 + 0.5], 1) - shape.centre
    c, s = np.cos(shape.angle), np.sin(shape.angle)
    u, v = (offsets @ np.array([[c, -s], [s, c]])).T  # rows: R^T applied to each offset
    pattern = _texture(appearance, u, v, float(np.sqrt(shape.scale.prod())), rng)
    primary, secondary = _object_colours(appearance, rng)
    colours = primary * (1 - pattern[:, None]) + secondary * pattern[:, None]
    image[ys + cy0, xs + cx0] = colours


# ------------------------------------------------------------------------------------------- background
def _background(size: int, rng: np.random.Generator) -> np.ndarray:
    """(size, size, 3) float32 low-contrast cluttered background of every hue."""
    grid = rng.integers(3, 6)
    field = np.stack([_hsv(rng.uniform(0, 360), rng.uniform(0.1, 0.5), rng.uniform(0.35, 0.75))
                      for _ in range(grid * grid)]).reshape(grid, grid, 3).astype(np.float32)
    image = cv2.resize(field, (size, size), interpolation=cv2.INTER_CUBIC)
    fine = rng.normal(0, 12, (size // 8, size // 8, 1)).astype(np.float32)
    image += cv2.resize(fine, (size, size), interpolation=cv2.INTER_LINEAR)[..., None]
    for _ in range(rng.integers(4, 11)):
        colour = _hsv(rng.uniform(0, 360), rng.uniform(0.2, 0.7), rng.uniform(0.3, 0.9))
        layer = np.zeros((size, size), np.uint8)
        kind = rng.integers(3)
        if kind == 0:  # line
            p, q = rng.integers(0, size, (2, 2))
            cv2.line(layer, tuple(map(int, p)), tuple(map(int, q)), 1, int(rng.integers(1, 3)))
        elif kind == 1:  # ellipse outline
            centre = tuple(map(int, rng.integers(0, size, 2)))
            axes = tuple(map(int, rng.integers(4, size // 3, 2)))
            cv2.ellipse(layer, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1, int(rng.integers(1, 3)))
        else:  # faint textured blob with one of the objects' textures
            centre = rng.uniform(0, size, 2)
            pts = centre + _ellipse(12, 1.0) * rng.uniform(5, size / 4) * rng.uniform(0.5, 1.5, (12, 1))
            cv2.fillPoly(layer, [np.round(pts).astype(np.int32)], 1)
        ys, xs = np.nonzero(layer)
        if kind == 2:
            pattern = _texture(APPEARANCES[rng.integers(len(APPEARANCES))], xs.astype(float), ys.astype(float),
                               size / 6, rng)[:, None]
            colour = colour * pattern + image[ys, xs] * (1 - pattern)
        alpha = rng.uniform(0.2, 0.45)
        image[ys, xs] = (1 - alpha) * image[ys, xs] + alpha * colour
    return image


# --------------------------------------------------------------------------------------------- sampling
def _image_rng(seed: int, split: str, index: int) -> np.random.Generator:
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    return np.random.default_rng(np.random.SeedSequence([seed, SPLITS.index(split), index]))


def _centre_on_host(top: np.ndarray, visible: list[int], radius: float, depth_cache: dict[int, np.ndarray],
                    rng: np.random.Generator) -> np.ndarray:
    """A centre (2,) xy on an existing object: the host is drawn with probability ~ its visible area, the
    pixel among those at least `radius` from the host's border (the deepest ones if none), so the new object
    lies inside the host where it can and covers part of it (overlap, Eq. 1).

    depth_cache: host index -> distance transform of its visible mask; the caller clears it when `top` changes.
    """
    host = int(rng.choice(len(visible), p=np.asarray(visible) / sum(visible)))
    if host not in depth_cache:
        depth_cache[host] = cv2.distanceTransform((top == host).astype(np.uint8), cv2.DIST_L2, 3)
    depth = depth_cache[host]
    pixels = np.flatnonzero(depth >= min(radius, depth.max()))
    y, x = np.divmod(pixels[rng.integers(pixels.size)], top.shape[1])
    return np.array([x + 0.5, y + 0.5])


def render_sample(profile: str | SynthProfile, seed: int, split: str, index: int) -> SynthSample:
    """Render image `index` of `split` deterministically from (seed, split, index).

    Objects are placed back to front (roughly largest first); an object is kept only if afterwards every
    object (itself included) keeps >= MIN_VISIBLE_PIXELS visible pixels, >= MIN_VISIBLE_FRACTION of its full
    shape and, if drawn from the large bucket, >= 96^2 pixels. Needs no disk access (used by the tests).
    """
    prof = _get_profile(profile)
    rng = _image_rng(seed, split, index)
    size = prof.image_size
    image = _background(size, rng)
    top = np.full((size, size), -1, dtype=np.int32)  # index of the top-most object at each pixel
    visible: list[int] = []
    needed: list[float] = []      # visible pixels each object must keep
    category_ids: list[int] = []
    depth_cache: dict[int, np.ndarray] = {}
    count = rng.integers(prof.objects_per_image[0], prof.objects_per_image[1] + 1)
    categories = [CATEGORIES[k] for k in rng.integers(len(CATEGORIES), size=count)]
    shapes = [_sample_shape(category["shape_family"], prof, rng) for category in categories]
    # larger objects tend to lie further back (as in a scene); the jitter lets small ones be occluded too
    depth_key = np.log([shape.area for shape in shapes]) + rng.normal(0, DEPTH_JITTER, count)
    for k in np.argsort(-depth_key, kind="stable"):
        category, shape = categories[k], shapes[k]
        bx0, by0, patch = shape.render()
        h, w = patch.shape
        need = max(MIN_VISIBLE_PIXELS, MIN_VISIBLE_FRACTION * int(patch.sum()))
        if shape.area > MEDIUM_MAX:  # drawn from the large bucket: occlusion must not empty that bucket
            need = max(need, MEDIUM_MAX)
        # patch centres that keep at least ~80% of the patch's width and height inside the image
        lo = np.minimum([0.3 * w, 0.3 * h], size / 2)
        hi = np.maximum([size - 0.3 * w, size - 0.3 * h], size / 2)
        for _try in range(PLACEMENT_TRIES):
            if category_ids and rng.random() < prof.cluster_prob:
                centre = np.clip(_centre_on_host(top, visible, min(w, h) / 2, depth_cache, rng), lo, hi)
            else:
                centre = rng.uniform(lo, hi)
            dx, dy = np.round(centre - [bx0 + w / 2, by0 + h / 2]).astype(int)
            x0, y0 = bx0 + dx, by0 + dy
            cx0, cy0, sub = _clip_to_image(x0, y0, patch, size)
            if sub.sum() < need:
                continue
            window = top[cy0:cy0 + sub.shape[0], cx0:cx0 + sub.shape[1]]
            covered = window[sub]
            lost = np.bincount(covered[covered >= 0], minlength=len(visible))
            if any(vis - l < nd for vis, l, nd in zip(visible, lost, needed)):
                continue
            visible = [vis - l for vis, l in zip(visible, lost)] + [int(sub.sum())]
            needed.append(need)
            window[sub] = len(category_ids)
            depth_cache.clear()
            category_ids.append(category["id"])
            shape.centre = shape.centre + [dx, dy]
            _paint_object(image, shape, cx0, cy0, sub, category["appearance"], rng)
            break
    image = cv2.GaussianBlur(image, (3, 3), 0.6)
    image += rng.normal(0, 4, image.shape).astype(np.float32)
    masks = top[None] == np.arange(len(category_ids))[:, None, None]
    return SynthSample(np.clip(np.round(image), 0, 255).astype(np.uint8),
                       np.asarray(category_ids, dtype=np.int64), masks)


def _get_profile(profile: str | SynthProfile) -> SynthProfile:
    if isinstance(profile, SynthProfile):
        return profile
    if profile not in SYNTH_PROFILES:
        raise ValueError(f"unknown synthetic profile {profile!r}; choose one of {', '.join(SYNTH_PROFILES)}")
    return SYNTH_PROFILES[profile]
