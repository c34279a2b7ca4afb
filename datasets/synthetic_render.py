"""Drawing of the synthetic dataset: textured articulated figures with known keypoints.

A figure is a textured torso (ellipse or box, per identity) with a head on a neck and a
two-segment arm (shoulder -> elbow -> hand). A clip moves the torso (translation and tilt)
and bends the arm with smooth sinusoids. Frames are rendered with 2x2 supersampling so edges
are antialiased. All coordinates are pixels of the output frame, pixel centres at integers,
points as (x, y).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

KEYPOINT_NAMES = ("torso", "head", "shoulder", "elbow", "hand")
SUPERSAMPLE = 2


@dataclass(frozen=True)
class Appearance:
    """What makes an identity recognisable: colours, texture, body shape and limb sizes (in units
    of the frame size)."""

    background: tuple[np.ndarray, np.ndarray]
    background_angle: float
    body_colours: tuple[np.ndarray, np.ndarray]
    stripe_frequency: float
    stripe_angle: float
    head_colour: np.ndarray
    arm_colours: tuple[np.ndarray, np.ndarray]
    torso_box: bool
    torso_radii: tuple[float, float]
    head_radius: float
    arm_lengths: tuple[float, float]
    arm_width: float


@dataclass(frozen=True)
class Motion:
    """Sinusoidal motion of one clip: for each degree of freedom (torso x, torso y, torso tilt,
    shoulder angle, elbow angle) a rest value, an amplitude, a frequency (cycles per clip) and
    a phase."""

    rest: np.ndarray
    amplitude: np.ndarray
    frequency: np.ndarray
    phase: np.ndarray


def _colour(rng: np.random.Generator, low: float = 0.0, high: float = 1.0) -> np.ndarray:
    return rng.uniform(low, high, size=3)


def random_appearance(rng: np.random.Generator, index: int) -> Appearance:
    """A distinct look for identity ``index``: hue spread by index, rest drawn from ``rng``;
    even identities have an elliptic torso, odd ones a box."""
    hue = (index * 0.381966 + rng.uniform(0, 0.1)) % 1.0
    body = np.array([0.5 + 0.5 * np.cos(2 * np.pi * (hue + k / 3)) for k in range(3)])
    return Appearance(
        background=(_colour(rng, 0.0, 0.45), _colour(rng, 0.0, 0.45)),
        background_angle=float(rng.uniform(0, np.pi)),
        body_colours=(body, 1.0 - 0.6 * body),
        stripe_frequency=float(rng.uniform(1.5, 4.0)),
        stripe_angle=float(rng.uniform(0, np.pi)),
        head_colour=_colour(rng, 0.55, 1.0),
        arm_colours=(_colour(rng, 0.4, 1.0), _colour(rng, 0.4, 1.0)),
        torso_box=index % 2 == 1,
        torso_radii=(float(rng.uniform(0.11, 0.16)), float(rng.uniform(0.17, 0.23))),
        head_radius=float(rng.uniform(0.07, 0.1)),
        arm_lengths=(float(rng.uniform(0.15, 0.2)), float(rng.uniform(0.13, 0.18))),
        arm_width=float(rng.uniform(0.035, 0.05)),
    )


def random_motion(rng: np.random.Generator) -> Motion:
    """Smooth motion: torso drifts around the centre, tilts a little; the arm swings and bends."""
    return Motion(
        rest=np.array([0.42 + rng.uniform(-0.05, 0.05), 0.55 + rng.uniform(-0.05, 0.05),
                       0.0, rng.uniform(-0.6, 0.6), rng.uniform(0.3, 1.2)]),
        amplitude=np.array([rng.uniform(0.03, 0.08), rng.uniform(0.02, 0.05), rng.uniform(0.05, 0.25),
                            rng.uniform(0.5, 1.1), rng.uniform(0.3, 0.8)]),
        frequency=rng.uniform(0.5, 1.5, size=5),
        phase=rng.uniform(0, 2 * np.pi, size=5),
    )


def _rotation(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s], [s, c]])


def pose(appearance: Appearance, motion: Motion, t: float, size: int) -> tuple[np.ndarray, float]:
    """Keypoints ``K x 2`` (x, y, pixels; see ``KEYPOINT_NAMES``) and torso tilt (radians) at
    clip time ``t`` in [0, 1]."""
    x, y, tilt, shoulder_angle, elbow_angle = motion.rest + motion.amplitude * np.sin(
        2 * np.pi * motion.frequency * t + motion.phase)
    rx, ry = appearance.torso_radii
    torso = np.array([x, y])
    rot = _rotation(tilt)
    head = torso + rot @ np.array([0.0, -(ry + appearance.head_radius * 0.9)])
    shoulder = torso + rot @ np.array([rx * 0.8, -ry * 0.6])
    upper_dir = rot @ _rotation(shoulder_angle) @ np.array([1.0, 0.0])
    elbow = shoulder + appearance.arm_lengths[0] * upper_dir
    hand = elbow + appearance.arm_lengths[1] * (_rotation(elbow_angle) @ upper_dir)
    return np.stack([torso, head, shoulder, elbow, hand]) * size - 0.5, float(tilt)


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Supersampled pixel-centre coordinates in output pixels."""
    coords = ((np.arange(size * SUPERSAMPLE) + 0.5) / SUPERSAMPLE - 0.5).astype(np.float32)
    return np.meshgrid(coords, coords, indexing="xy")


def _segment_distance(xs: np.ndarray, ys: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = b - a
    t = np.clip(((xs - a[0]) * d[0] + (ys - a[1]) * d[1]) / max(float(d @ d), 1e-12), 0.0, 1.0)
    return np.hypot(xs - a[0] - t * d[0], ys - a[1] - t * d[1])


def _paint(canvas: np.ndarray, mask: np.ndarray, colour: np.ndarray) -> None:
    canvas[mask] = colour if colour.ndim == 1 else colour[mask]


def render_background(appearance: Appearance, size: int) -> np.ndarray:
    """Static per-identity background: a colour gradient with a faint checker texture."""
    xs, ys = _grid(size)
    ramp = (np.cos(appearance.background_angle) * xs + np.sin(appearance.background_angle) * ys) / size
    ramp = np.clip(ramp * 0.5 + 0.5, 0.0, 1.0)[..., None]
    first, second = appearance.background
    checker = ((np.floor(xs / (size / 8)) + np.floor(ys / (size / 8))) % 2)[..., None] * 0.06
    return (first * (1 - ramp) + second * ramp + checker).astype(np.float32)


def render_frame(appearance: Appearance, keypoints: np.ndarray, tilt: float, background: np.ndarray) -> np.ndarray:
    """One ``size x size x 3`` uint8 frame of the figure posed at ``keypoints``."""
    size = background.shape[0] // SUPERSAMPLE
    xs, ys = _grid(size)
    canvas = background.copy()
    torso, head, shoulder, elbow, hand = keypoints
    cos, sin = np.cos(tilt), np.sin(tilt)
    u = (xs - torso[0]) * cos + (ys - torso[1]) * sin
    v = -(xs - torso[0]) * sin + (ys - torso[1]) * cos
    rx, ry = (r * size for r in appearance.torso_radii)
    torso_mask = (np.abs(u) <= rx) & (np.abs(v) <= ry) if appearance.torso_box else (u / rx) ** 2 + (v / ry) ** 2 <= 1
    stripes = 0.5 + 0.5 * np.sin(2 * np.pi * appearance.stripe_frequency / (2 * rx)
                                 * (u * np.cos(appearance.stripe_angle) + v * np.sin(appearance.stripe_angle)))
    first, second = appearance.body_colours
    texture = first * stripes[..., None] + second * (1 - stripes[..., None])
    head_radius = appearance.head_radius * size
    width = appearance.arm_width * size
    _paint(canvas, _segment_distance(xs, ys, torso, head) <= width * 0.6, appearance.head_colour * 0.7)
    _paint(canvas, torso_mask, texture)
    _paint(canvas, np.hypot(xs - head[0], ys - head[1]) <= head_radius, appearance.head_colour)
    _paint(canvas, _segment_distance(xs, ys, shoulder, elbow) <= width, appearance.arm_colours[0])
    _paint(canvas, _segment_distance(xs, ys, elbow, hand) <= width * 0.85, appearance.arm_colours[1])
    pooled = canvas.reshape(size, SUPERSAMPLE, size, SUPERSAMPLE, 3).mean(axis=(1, 3))
    return np.clip(np.round(pooled * 255.0), 0, 255).astype(np.uint8)

