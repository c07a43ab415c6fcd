"""Procedural indoor scenes -> (RGB, metric z-depth) pairs, by a vectorised numpy ray caster.

Why a ray caster: no model hub or dataset is reachable, the machine has no GPU, and CPU
rasterisers on PyPI need an OpenGL context.  Analytic rays against a handful of boxes and
cylinders are exact (depth is the true z-depth along the optical axis, like a Kinect), fully
deterministic by seed and fast enough in numpy (~0.2 s per 240x320 frame).

What is in a scene and why: a box room (floor, walls, ceiling: the strongest monocular depth
cues are the floor/wall/ceiling planes and their perspective), furniture assembled from boxes
and cylinders (tables, chairs, shelves with books, beds, sofas, cabinets, lamps, bins),
wall decals (doors, windows, posters, skirting), clutter, procedural textures (wood, tiles,
carpet, plaster, fabric), point lights with Lambert + Blinn-Phong shading, hard shadows from
the main light and a corner-darkening ambient term.  The camera is a Kinect-class pinhole
(NYU Depth v2 intrinsics at 480x640) flown at small-drone heights and pitches.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..geometry import PinholeIntrinsics

RENDERER_VERSION = 1
MIN_DEPTH_M = 0.25  # closer than a Kinect sees: marked invalid (0)
MAX_DEPTH_M = 10.0  # NYU's range


Intrinsics = PinholeIntrinsics  # the renderer's camera (geometry owns the type)

#: NYU Depth v2 Kinect RGB intrinsics (official toolbox values) at 480x640.
KINECT = Intrinsics(518.8579, 519.4696, 325.5824, 253.7362, 640, 480)


@dataclass
class Frame:
    """One rendered view: RGB uint8 HxWx3 and z-depth in metres (0 = invalid)."""

    rgb: np.ndarray
    depth_m: np.ndarray
    seed: int
    intrinsics: Intrinsics
    camera_height_m: float = 0.0
    camera_pitch_deg: float = 0.0


# --------------------------------------------------------------------------- materials
TEXTURES = ("plaster", "wood", "tiles", "carpet", "fabric", "plain", "poster", "window")


@dataclass
class Material:
    """Procedural surface: texture kind, two colours, a scale in metres, shininess."""

    kind: str
    color_a: np.ndarray
    color_b: np.ndarray
    scale_m: float = 0.3
    shininess: float = 0.0
    emissive: bool = False
    seed: int = 0


def _rand_color(rng: np.random.Generator, lo: float = 0.1, hi: float = 0.9) -> np.ndarray:
    return rng.uniform(lo, hi, 3)


def _palette(rng: np.random.Generator, kind: str) -> Material:
    """A random material of ``kind`` with plausible indoor colours."""
    if kind == "wood":
        base = np.array([0.55, 0.36, 0.2]) * rng.uniform(0.5, 1.5)
        return Material(
            kind,
            np.clip(base, 0, 1),
            np.clip(base * 0.6, 0, 1),
            rng.uniform(0.08, 0.25),
            rng.uniform(0, 0.4),
            seed=int(rng.integers(1 << 30)),
        )
    if kind == "tiles":
        a = _rand_color(rng, 0.4, 0.95)
        b = a * rng.uniform(0.4, 0.9) if rng.random() < 0.7 else _rand_color(rng)
        return Material(
            kind, a, b, rng.uniform(0.15, 0.6), rng.uniform(0.2, 0.8), seed=int(rng.integers(1 << 30))
        )
    if kind == "plaster":
        a = np.clip(rng.uniform(0.6, 0.95) + rng.normal(0, 0.06, 3), 0, 1)
        if rng.random() < 0.3:
            a = _rand_color(rng, 0.3, 0.9)
        return Material(kind, a, a * 0.85, rng.uniform(0.5, 2.0), seed=int(rng.integers(1 << 30)))
    if kind in ("carpet", "fabric"):
        a = _rand_color(rng, 0.1, 0.8)
        return Material(
            kind, a, _rand_color(rng, 0.1, 0.8), rng.uniform(0.05, 0.5), seed=int(rng.integers(1 << 30))
        )
    if kind == "window":
        sky = np.array([0.75, 0.85, 1.0]) * rng.uniform(0.8, 1.2)
        return Material(
            kind, sky, np.array([0.35, 0.45, 0.3]), 1.0, emissive=True, seed=int(rng.integers(1 << 30))
        )
    if kind == "poster":
        return Material(
            kind, _rand_color(rng), _rand_color(rng), rng.uniform(0.05, 0.3), seed=int(rng.integers(1 << 30))
        )
    a = _rand_color(rng, 0.05, 0.95)
    return Material("plain", a, a, 1.0, rng.uniform(0, 0.9), seed=int(rng.integers(1 << 30)))


class Noise:
    """Periodic 2-D value noise (bilinear lattice), cheap enough for every pixel."""

    def __init__(self, rng: np.random.Generator, size: int = 64) -> None:
        self.size = size
        self.grid = rng.uniform(-1.0, 1.0, (size, size)).astype(np.float32)

    def __call__(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        n = self.size
        iu, iv = np.floor(u), np.floor(v)
        fu, fv = u - iu, v - iv
        fu, fv = fu * fu * (3 - 2 * fu), fv * fv * (3 - 2 * fv)
        i0, j0 = iu.astype(np.int64) % n, iv.astype(np.int64) % n
        i1, j1 = (i0 + 1) % n, (j0 + 1) % n
        g = self.grid
        top = g[i0, j0] * (1 - fu) + g[i1, j0] * fu
        bot = g[i0, j1] * (1 - fu) + g[i1, j1] * fu
        return top * (1 - fv) + bot * fv

    def fbm(self, u: np.ndarray, v: np.ndarray, octaves: int = 3) -> np.ndarray:
        out, amp = np.zeros_like(u), 0.5
        for o in range(octaves):
            out += amp * self(u * 2**o + 17.3 * o, v * 2**o + 5.1 * o)
            amp *= 0.5
        return out


def _hash2(i: np.ndarray, j: np.ndarray, seed: int) -> np.ndarray:
    """Deterministic per-cell random number in [0, 1) (tiles, planks, books)."""
    h = (i.astype(np.int64) * 73856093) ^ (j.astype(np.int64) * 19349663) ^ (seed * 83492791)
    h = (h ^ (h >> 13)) * 1274126177
    return ((h ^ (h >> 16)) & 0xFFFF).astype(np.float32) / 65536.0


def shade_texture(mat: Material, u: np.ndarray, v: np.ndarray, noise: Noise) -> np.ndarray:
    """Albedo (N, 3) of ``mat`` at surface coordinates (u, v) in metres."""
    s = mat.scale_m
    a, b = mat.color_a[None, :], mat.color_b[None, :]
    if mat.kind == "plaster":
        t = 0.5 + 0.5 * noise.fbm(u / s, v / s)
        col = a * (1 - 0.25 * t[:, None]) + 0.03 * noise(u * 40, v * 40)[:, None]
    elif mat.kind == "wood":
        plank = np.floor(v / s)
        r = _hash2(plank, np.zeros_like(plank), mat.seed)
        grain = np.sin((u * 6 + 3 * noise(u * 1.5, v * 8 + plank * 7) + r * 10) * (3 + 4 * r))
        t = 0.5 + 0.5 * grain
        col = a * (1 - t[:, None]) + b * t[:, None]
        col *= (0.85 + 0.3 * r)[:, None]
        seam = np.abs(v / s - np.round(v / s)) < 0.02
        col[seam] *= 0.45
    elif mat.kind == "tiles":
        fu, fv = u / s, v / s
        iu, iv = np.floor(fu), np.floor(fv)
        r = _hash2(iu, iv, mat.seed)
        checker = ((iu + iv) % 2 == 0)[:, None] if mat.seed % 3 == 0 else np.zeros((len(u), 1), bool)
        col = np.where(checker, b, a) * (0.9 + 0.2 * r)[:, None]
        grout = (np.abs(fu - np.round(fu)) < 0.04) | (np.abs(fv - np.round(fv)) < 0.04)
        col[grout] = col[grout] * 0.4 + 0.35
    elif mat.kind in ("carpet", "fabric"):
        t = noise(u * 60, v * 60) * 0.12 + noise.fbm(u / s, v / s) * 0.15
        col = a * (1 + t[:, None])
        if mat.kind == "fabric" and mat.seed % 2 == 0:
            stripes = (np.floor(u / (s * 0.3)) % 2 == 0)[:, None]
            col = np.where(stripes, col, b * (1 + t[:, None]))
    elif mat.kind == "poster":
        kind = mat.seed % 3
        if kind == 0:  # blobs
            t = 0.5 + 0.5 * np.sign(noise.fbm(u / s + 3, v / s))
        elif kind == 1:  # stripes
            t = (np.floor((u + v) / s) % 2).astype(np.float32)
        else:  # photo-like smooth gradient
            t = 0.5 + 0.5 * noise.fbm(u / (3 * s), v / (3 * s), 4)
        col = a * (1 - t[:, None]) + b * t[:, None]
    elif mat.kind == "window":
        # sky above a noisy horizon of trees/buildings, frames drawn as mullions
        horizon = 0.35 + 0.15 * noise(u * 3, 0 * u)
        t = (v > horizon).astype(np.float32)[:, None]
        col = a * t + b * (1 - t) * (0.7 + 0.3 * noise(u * 20, v * 20))[:, None]
    else:
        col = np.repeat(a, len(u), axis=0) * (1 + 0.04 * noise(u * 30, v * 30))[:, None]
    return np.clip(col, 0.0, 1.0)


# --------------------------------------------------------------------------- geometry
@dataclass
class Box:
    """Box of half-extents ``half`` centred at ``center``, rotated by ``yaw`` about z."""

    center: np.ndarray
    half: np.ndarray
    yaw: float
    material: int
    group: int = 0


@dataclass
class Cylinder:
    """Vertical cylinder: axis at (x, y), radius, z from ``z0`` to ``z1``."""

    x: float
    y: float
    radius: float
    z0: float
    z1: float
    material: int
    group: int = 0


@dataclass
class Decal:
    """A textured rectangle on a room surface (door, window, poster, skirting, rug).

    ``surface`` is the room face index (0: x=0, 1: x=W, 2: y=0, 3: y=L, 4: floor,
    5: ceiling); (u0, u1, v0, v1) are face coordinates in metres."""

    surface: int
    u0: float
    u1: float
    v0: float
    v1: float
    material: int


@dataclass
class Light:
    position: np.ndarray
    intensity: float
    color: np.ndarray


@dataclass
class Scene:
    """A room of ``size`` (W, L, H) metres and its contents."""

    size: np.ndarray
    materials: list[Material]
    room_materials: list[int]  # per face, indices into materials
    boxes: list[Box] = field(default_factory=list)
    cylinders: list[Cylinder] = field(default_factory=list)
    decals: list[Decal] = field(default_factory=list)
    lights: list[Light] = field(default_factory=list)
    ambient: float = 0.3


def _add_material(scene: Scene, mat: Material) -> int:
    scene.materials.append(mat)
    return len(scene.materials) - 1


def _wall_frame(face: int, size: np.ndarray) -> tuple[np.ndarray, float]:
    """Horizontal in-wall direction and length of wall ``face`` (0..3)."""
    return (np.array([0.0, 1.0, 0.0]), size[1]) if face < 2 else (np.array([1.0, 0.0, 0.0]), size[0])


def _against_wall(
    rng: np.random.Generator, size: np.ndarray, depth_m: float, width_m: float
) -> tuple[np.ndarray, float]:
    """Centre (x, y) and yaw of a footprint pushed against a random wall."""
    face = int(rng.integers(4))
    W, L = size[0], size[1]
    if face < 2:
        y = rng.uniform(width_m / 2, max(width_m / 2 + 1e-3, L - width_m / 2))
        x = depth_m / 2 + 0.02 if face == 0 else W - depth_m / 2 - 0.02
        return np.array([x, y]), np.pi / 2
    x = rng.uniform(width_m / 2, max(width_m / 2 + 1e-3, W - width_m / 2))
    y = depth_m / 2 + 0.02 if face == 2 else L - depth_m / 2 - 0.02
    return np.array([x, y]), 0.0


def _local(yaw: float, dx: float, dy: float) -> np.ndarray:
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([c * dx - s * dy, s * dx + c * dy])


def _furnish(scene: Scene, rng: np.random.Generator) -> None:
    """Drop a random set of furniture-like composites into the room."""
    size = scene.size
    W, L = size[0], size[1]
    n_items = int(rng.integers(2, 4 + int(W * L / 6)))
    for item in range(n_items):
        first_box, first_cyl = len(scene.boxes), len(scene.cylinders)
        _furnish_one(scene, rng, size)
        for prim in [*scene.boxes[first_box:], *scene.cylinders[first_cyl:]]:
            prim.group = item + 1


def _furnish_one(scene: Scene, rng: np.random.Generator, size: np.ndarray) -> None:
    """One furniture composite (its primitives share a culling group)."""
    W, L = size[0], size[1]
    if True:
        kind = rng.choice(
            ["table", "chair", "shelf", "bed", "sofa", "cabinet", "lamp", "bin", "boxes", "pillar"],
            p=[0.14, 0.14, 0.14, 0.07, 0.08, 0.14, 0.07, 0.07, 0.1, 0.05],
        )
        mat = _add_material(scene, _palette(rng, rng.choice(["wood", "plain", "fabric", "wood"])))
        if kind in ("table", "chair", "bed", "sofa", "boxes") or rng.random() < 0.3:
            xy = np.array([rng.uniform(0.3, W - 0.3), rng.uniform(0.3, L - 0.3)])
            yaw = rng.choice([0.0, np.pi / 2]) + rng.normal(0, 0.15)
        else:
            xy, yaw = None, 0.0
        if kind == "table":
            w, d, h = rng.uniform(0.6, 1.8), rng.uniform(0.5, 1.0), rng.uniform(0.45, 0.8)
            scene.boxes.append(Box(np.array([*xy, h - 0.02]), np.array([w / 2, d / 2, 0.02]), yaw, mat))
            for sx in (-1, 1):
                for sy in (-1, 1):
                    p = xy + _local(yaw, sx * (w / 2 - 0.05), sy * (d / 2 - 0.05))
                    scene.boxes.append(
                        Box(np.array([*p, h / 2 - 0.02]), np.array([0.025, 0.025, h / 2 - 0.02]), yaw, mat)
                    )
            _clutter(scene, rng, xy, yaw, w, d, h)
        elif kind == "chair":
            s, h = rng.uniform(0.4, 0.5), rng.uniform(0.42, 0.5)
            scene.boxes.append(Box(np.array([*xy, h]), np.array([s / 2, s / 2, 0.03]), yaw, mat))
            back = xy + _local(yaw, 0, -s / 2 + 0.02)
            scene.boxes.append(Box(np.array([*back, h + 0.25]), np.array([s / 2, 0.02, 0.22]), yaw, mat))
            for sx in (-1, 1):
                for sy in (-1, 1):
                    p = xy + _local(yaw, sx * (s / 2 - 0.03), sy * (s / 2 - 0.03))
                    scene.boxes.append(Box(np.array([*p, h / 2]), np.array([0.02, 0.02, h / 2]), yaw, mat))
        elif kind in ("shelf", "cabinet"):
            w = rng.uniform(0.5, 1.6)
            d = rng.uniform(0.3, 0.5)
            h = rng.uniform(1.2, 2.2) if kind == "shelf" else rng.uniform(0.5, 1.0)
            if xy is None:
                xy, yaw = _against_wall(rng, size, d, w)
            scene.boxes.append(Box(np.array([*xy, h / 2]), np.array([w / 2, d / 2, h / 2]), yaw, mat))
            if kind == "shelf":
                # books protrude from the front face in rows: a strong texture + depth cue
                front = _local(yaw, 0, 1)
                n_rows = int(h / 0.35)
                for r in range(n_rows):
                    x = -w / 2 + 0.03
                    while x < w / 2 - 0.05:
                        bw = rng.uniform(0.02, 0.06)
                        bh = rng.uniform(0.15, 0.3)
                        if rng.random() < 0.8:
                            bm = _add_material(scene, _palette(rng, "plain"))
                            p = xy + _local(yaw, x + bw / 2, 0) + front * (d / 2 + 0.02)
                            scene.boxes.append(
                                Box(
                                    np.array([*p, 0.1 + r * 0.35 + bh / 2]),
                                    np.array([bw / 2, 0.03, bh / 2]),
                                    yaw,
                                    bm,
                                )
                            )
                        x += bw + 0.005
            else:
                _clutter(scene, rng, xy, yaw, w, d, h)
        elif kind == "bed":
            w, d = rng.uniform(0.9, 1.8), rng.uniform(1.9, 2.1)
            scene.boxes.append(Box(np.array([*xy, 0.2]), np.array([w / 2, d / 2, 0.2]), yaw, mat))
            sheet = _add_material(scene, _palette(rng, "fabric"))
            scene.boxes.append(
                Box(np.array([*xy, 0.48]), np.array([w / 2 - 0.02, d / 2 - 0.02, 0.08]), yaw, sheet)
            )
            head = xy + _local(yaw, 0, -d / 2)
            scene.boxes.append(Box(np.array([*head, 0.5]), np.array([w / 2, 0.04, 0.5]), yaw, mat))
        elif kind == "sofa":
            w, d = rng.uniform(1.4, 2.4), rng.uniform(0.8, 1.0)
            fab = _add_material(scene, _palette(rng, "fabric"))
            scene.boxes.append(Box(np.array([*xy, 0.22]), np.array([w / 2, d / 2, 0.22]), yaw, fab))
            back = xy + _local(yaw, 0, -d / 2 + 0.1)
            scene.boxes.append(Box(np.array([*back, 0.6]), np.array([w / 2, 0.1, 0.2]), yaw, fab))
            for sx in (-1, 1):
                arm = xy + _local(yaw, sx * (w / 2 - 0.1), 0)
                scene.boxes.append(Box(np.array([*arm, 0.5]), np.array([0.1, d / 2, 0.12]), yaw, fab))
        elif kind == "lamp":
            x, y = rng.uniform(0.3, W - 0.3), rng.uniform(0.3, L - 0.3)
            h = rng.uniform(1.2, 1.8)
            scene.cylinders.append(Cylinder(x, y, 0.15, 0.0, 0.03, mat))
            scene.cylinders.append(Cylinder(x, y, 0.02, 0.03, h, mat))
            shade = _add_material(scene, _palette(rng, "plain"))
            scene.cylinders.append(Cylinder(x, y, rng.uniform(0.15, 0.25), h, h + 0.25, shade))
        elif kind == "bin":
            x, y = rng.uniform(0.2, W - 0.2), rng.uniform(0.2, L - 0.2)
            scene.cylinders.append(Cylinder(x, y, rng.uniform(0.1, 0.3), 0.0, rng.uniform(0.25, 0.8), mat))
        elif kind == "pillar":
            x, y = rng.uniform(0.3, W - 0.3), rng.uniform(0.3, L - 0.3)
            scene.cylinders.append(
                Cylinder(x, y, rng.uniform(0.1, 0.3), 0.0, size[2], scene.room_materials[0])
            )
        else:  # boxes: floor clutter, cartons
            for _ in range(int(rng.integers(1, 5))):
                p = xy + rng.normal(0, 0.4, 2)
                hs = rng.uniform(0.08, 0.35, 3)
                m = _add_material(scene, _palette(rng, rng.choice(["plain", "wood"])))
                scene.boxes.append(Box(np.array([*p, hs[2]]), hs, yaw + rng.normal(0, 0.5), m))


def _clutter(
    scene: Scene, rng: np.random.Generator, xy, yaw: float, w: float, d: float, top_m: float
) -> None:
    """Small objects on a surface at height ``top_m``."""
    for _ in range(int(rng.integers(0, 5))):
        p = xy + _local(yaw, rng.uniform(-w / 2 + 0.1, w / 2 - 0.1), rng.uniform(-d / 2 + 0.1, d / 2 - 0.1))
        m = _add_material(scene, _palette(rng, "plain"))
        if rng.random() < 0.5:
            hs = rng.uniform(0.03, 0.15, 3)
            scene.boxes.append(Box(np.array([*p, top_m + hs[2]]), hs, rng.uniform(0, np.pi), m))
        else:
            r, h = rng.uniform(0.03, 0.08), rng.uniform(0.05, 0.3)
            scene.cylinders.append(Cylinder(p[0], p[1], r, top_m, top_m + h, m))


def _decorate(scene: Scene, rng: np.random.Generator) -> None:
    """Doors, windows, posters and skirting boards on the walls; a rug on the floor."""
    size = scene.size
    H = size[2]
    for face in range(4):
        _, length = _wall_frame(face, size)
        if rng.random() < 0.35:  # door
            u = rng.uniform(0.1, max(0.11, length - 1.0))
            m = _add_material(scene, _palette(rng, rng.choice(["wood", "plain"])))
            scene.decals.append(Decal(face, u, u + rng.uniform(0.8, 0.95), 0.0, rng.uniform(2.0, 2.15), m))
        if rng.random() < 0.4:  # window
            u = rng.uniform(0.1, max(0.11, length - 1.6))
            v0 = rng.uniform(0.8, 1.1)
            m = _add_material(scene, _palette(rng, "window"))
            scene.decals.append(
                Decal(face, u, u + rng.uniform(0.6, 1.5), v0, min(H - 0.2, v0 + rng.uniform(0.8, 1.4)), m)
            )
        for _ in range(int(rng.integers(0, 3))):  # posters / pictures
            u, v = rng.uniform(0.1, max(0.2, length - 1.0)), rng.uniform(1.2, max(1.3, H - 0.9))
            m = _add_material(scene, _palette(rng, "poster"))
            scene.decals.append(Decal(face, u, u + rng.uniform(0.3, 1.0), v, v + rng.uniform(0.3, 0.8), m))
    if rng.random() < 0.7:  # skirting on all walls, drawn after doors so it stays under them
        m = _add_material(scene, _palette(rng, rng.choice(["plain", "wood"])))
        h = rng.uniform(0.05, 0.12)
        for face in range(4):
            scene.decals.insert(0, Decal(face, -1.0, 100.0, 0.0, h, m))
    if rng.random() < 0.4:  # rug
        m = _add_material(scene, _palette(rng, rng.choice(["carpet", "fabric"])))
        x, y = rng.uniform(0, size[0] - 1.0), rng.uniform(0, size[1] - 1.0)
        scene.decals.append(Decal(4, x, x + rng.uniform(1.0, 3.0), y, y + rng.uniform(1.0, 2.5), m))


def make_scene(rng: np.random.Generator) -> Scene:
    """A random furnished, lit room."""
    size = np.array([rng.uniform(2.5, 8.0), rng.uniform(3.0, 10.0), rng.uniform(2.4, 3.4)])
    scene = Scene(size=size, materials=[], room_materials=[])
    wall = _add_material(scene, _palette(rng, rng.choice(["plaster", "plaster", "tiles", "wood"])))
    floor = _add_material(scene, _palette(rng, rng.choice(["wood", "tiles", "carpet", "plain"])))
    ceiling = _add_material(scene, _palette(rng, "plaster"))
    accent = wall
    if rng.random() < 0.3:
        accent = _add_material(scene, _palette(rng, rng.choice(["plaster", "wood", "tiles"])))
    scene.room_materials = [wall, wall, accent, wall, floor, ceiling]
    _furnish(scene, rng)
    _decorate(scene, rng)
    for _ in range(int(rng.integers(1, 4))):
        pos = np.array(
            [
                rng.uniform(0.3, size[0] - 0.3),
                rng.uniform(0.3, size[1] - 0.3),
                size[2] - rng.uniform(0.05, 0.6),
            ]
        )
        warm = rng.uniform(0.0, 0.25)
        scene.lights.append(Light(pos, rng.uniform(2.0, 6.0), np.array([1.0, 1.0 - warm / 2, 1.0 - warm])))
        scene.cylinders.append(
            Cylinder(
                pos[0],
                pos[1],
                0.15,
                size[2] - 0.05,
                size[2],
                _add_material(scene, Material("plain", np.ones(3), np.ones(3), emissive=True)),
            )
        )
    scene.ambient = rng.uniform(0.15, 0.45)
    return scene


# --------------------------------------------------------------------------- ray casting
@dataclass
class Hits:
    """Nearest hit per ray: distance along the (z-normalised) ray, normal, material, uv."""

    t: np.ndarray
    normal: np.ndarray
    material: np.ndarray
    uv: np.ndarray


def _hit_room(scene: Scene, o: np.ndarray, d: np.ndarray) -> tuple[Hits, np.ndarray]:
    """Rays from inside the room hit its inner faces; returns hits and the face index."""
    size = scene.size
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = np.where(d > 0, size[None, :], 0.0)
        t_axes = (bound - o[None, :]) / d
    t_axes = np.where(np.isfinite(t_axes) & (t_axes > 0), t_axes, np.inf)
    axis = np.argmin(t_axes, axis=1)
    t = t_axes[np.arange(len(d)), axis]
    positive = d[np.arange(len(d)), axis] > 0
    face = np.where(
        axis == 0,
        np.where(positive, 1, 0),
        np.where(axis == 1, np.where(positive, 3, 2), np.where(positive, 5, 4)),
    )
    normal = np.zeros_like(d)
    normal[np.arange(len(d)), axis] = np.where(positive, -1.0, 1.0)
    p = o[None, :] + t[:, None] * d
    # face coordinates: horizontal along the wall, vertical = height
    u = np.where(axis == 0, p[:, 1], p[:, 0])
    v = np.where(axis == 2, p[:, 1], p[:, 2])
    mats = np.asarray(scene.room_materials)[face]
    for dec in scene.decals:
        inside = (face == dec.surface) & (u >= dec.u0) & (u <= dec.u1) & (v >= dec.v0) & (v <= dec.v1)
        mats = np.where(inside, dec.material, mats)
        # decal texture coordinates relative to its own corner (posters, windows)
        if scene.materials[dec.material].kind in ("poster", "window"):
            span = max(dec.v1 - dec.v0, 1e-3)
            u = np.where(inside, (u - dec.u0) / span, u)
            v = np.where(inside, (v - dec.v0) / span, v)
    return Hits(t, normal, mats, np.stack([u, v], 1)), face


def _hit_box(box: Box, o: np.ndarray, d: np.ndarray, idx: np.ndarray, hits: Hits) -> None:
    """Slab test in the box frame; updates ``hits`` where the box is nearer."""
    c, s = np.cos(-box.yaw), np.sin(-box.yaw)
    rel = o - box.center
    ol = np.array([c * rel[0] - s * rel[1], s * rel[0] + c * rel[1], rel[2]])
    dd = d[idx]
    dl = np.stack([c * dd[:, 0] - s * dd[:, 1], s * dd[:, 0] + c * dd[:, 1], dd[:, 2]], 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = 1.0 / dl
        t1 = (-box.half[None, :] - ol[None, :]) * inv
        t2 = (box.half[None, :] - ol[None, :]) * inv
    tn, tf = np.minimum(t1, t2), np.maximum(t1, t2)
    tn = np.nan_to_num(tn, nan=-np.inf)
    tf = np.nan_to_num(tf, nan=np.inf)
    axis = np.argmax(tn, axis=1)
    t_near = tn.max(axis=1)
    t_far = tf.min(axis=1)
    ok = (t_near <= t_far) & (t_near > 1e-4) & (t_near < hits.t[idx])
    if not ok.any():
        return
    sel = idx[ok]
    ax = axis[ok]
    tt = t_near[ok]
    sign = -np.sign(dl[ok, ax])
    nl = np.zeros((len(sel), 3))
    nl[np.arange(len(sel)), ax] = sign
    cw, sw = np.cos(box.yaw), np.sin(box.yaw)
    normal = np.stack([cw * nl[:, 0] - sw * nl[:, 1], sw * nl[:, 0] + cw * nl[:, 1], nl[:, 2]], 1)
    pl = ol[None, :] + tt[:, None] * dl[ok]
    u = np.where(ax == 0, pl[:, 1], pl[:, 0])
    v = np.where(ax == 2, pl[:, 1], pl[:, 2])
    hits.t[sel] = tt
    hits.normal[sel] = normal
    hits.material[sel] = box.material
    hits.uv[sel] = np.stack([u, v], 1)


def _hit_cylinder(cyl: Cylinder, o: np.ndarray, d: np.ndarray, idx: np.ndarray, hits: Hits) -> None:
    """Side (quadratic) and cap intersections of a vertical cylinder."""
    dd = d[idx]
    ox, oy = o[0] - cyl.x, o[1] - cyl.y
    a = dd[:, 0] ** 2 + dd[:, 1] ** 2
    b = 2 * (ox * dd[:, 0] + oy * dd[:, 1])
    cc = ox * ox + oy * oy - cyl.radius**2
    disc = b * b - 4 * a * cc
    best = np.full(len(idx), np.inf)
    is_cap = np.zeros(len(idx), bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        sq = np.sqrt(np.maximum(disc, 0))
        t_side = (-b - sq) / (2 * a)
        z = o[2] + t_side * dd[:, 2]
        side_ok = (disc > 0) & (t_side > 1e-4) & (z >= cyl.z0) & (z <= cyl.z1)
        best = np.where(side_ok, t_side, best)
        for zc in (cyl.z0, cyl.z1):
            tc = (zc - o[2]) / dd[:, 2]
            px, py = ox + tc * dd[:, 0], oy + tc * dd[:, 1]
            cap_ok = (tc > 1e-4) & (px * px + py * py <= cyl.radius**2) & (tc < best)
            best = np.where(cap_ok, tc, best)
            is_cap |= cap_ok
    ok = np.isfinite(best) & (best < hits.t[idx])
    if not ok.any():
        return
    sel, tt = idx[ok], best[ok]
    p = o[None, :] + tt[:, None] * dd[ok]
    cap = is_cap[ok] & (np.abs(p[:, 2] - cyl.z0) < 1e-6) | (np.abs(p[:, 2] - cyl.z1) < 1e-6)
    nx, ny = (p[:, 0] - cyl.x) / cyl.radius, (p[:, 1] - cyl.y) / cyl.radius
    normal = np.stack([nx, ny, np.zeros_like(nx)], 1)
    normal[cap] = [0.0, 0.0, 1.0]
    normal[cap & (np.abs(p[:, 2] - cyl.z0) < 1e-6)] = [0.0, 0.0, -1.0]
    ang = np.arctan2(ny, nx) * cyl.radius
    hits.t[sel] = tt
    hits.normal[sel] = normal
    hits.material[sel] = cyl.material
    hits.uv[sel] = np.stack([np.where(cap, p[:, 0], ang), np.where(cap, p[:, 1], p[:, 2])], 1)


def _aabb_mask(lo: np.ndarray, hi: np.ndarray, o: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Rays that can hit the axis-aligned box [lo, hi] (cheap culling before exact tests)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t1 = (lo[None, :] - o[None, :]) / d
        t2 = (hi[None, :] - o[None, :]) / d
    tn = np.nan_to_num(np.minimum(t1, t2), nan=-np.inf).max(axis=1)
    tf = np.nan_to_num(np.maximum(t1, t2), nan=np.inf).min(axis=1)
    return tf >= np.maximum(tn, 0)


def _bounds(prim: Box | Cylinder) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(prim, Box):
        r = np.abs(np.cos(prim.yaw)) * prim.half[0] + np.abs(np.sin(prim.yaw)) * prim.half[1]
        r2 = np.abs(np.sin(prim.yaw)) * prim.half[0] + np.abs(np.cos(prim.yaw)) * prim.half[1]
        ext = np.array([r, r2, prim.half[2]])
        return prim.center - ext, prim.center + ext
    return (
        np.array([prim.x - prim.radius, prim.y - prim.radius, prim.z0]),
        np.array([prim.x + prim.radius, prim.y + prim.radius, prim.z1]),
    )


def cast(scene: Scene, o: np.ndarray, d: np.ndarray, objects_only: bool = False) -> tuple[Hits, np.ndarray]:
    """Nearest surface for each ray ``o + t d`` (room faces unless ``objects_only``)."""
    n = len(d)
    if objects_only:
        hits = Hits(np.full(n, np.inf), np.zeros((n, 3)), np.full(n, -1), np.zeros((n, 2)))
        face = np.full(n, -1)
    else:
        hits, face = _hit_room(scene, o, d)
    for prims, (glo, ghi) in _groups(scene):
        gidx = np.nonzero(_aabb_mask(glo, ghi, o, d))[0]
        if len(gidx) == 0:
            continue
        gd = d[gidx]
        for prim in prims:
            lo, hi = _bounds(prim)
            idx = gidx[_aabb_mask(lo, hi, o, gd)] if len(prims) > 1 else gidx
            if len(idx) == 0:
                continue
            if isinstance(prim, Box):
                _hit_box(prim, o, d, idx, hits)
            else:
                _hit_cylinder(prim, o, d, idx, hits)
    return hits, face


def _groups(scene: Scene) -> list[tuple[list, tuple[np.ndarray, np.ndarray]]]:
    """Objects bucketed by culling group, with each group's axis-aligned bounds."""
    buckets: dict[int, list] = {}
    for prim in [*scene.boxes, *scene.cylinders]:
        buckets.setdefault(prim.group, []).append(prim)
    out = []
    for prims in buckets.values():
        bounds = [_bounds(p) for p in prims]
        lo = np.min([b[0] for b in bounds], axis=0)
        hi = np.max([b[1] for b in bounds], axis=0)
        out.append((prims, (lo, hi)))
    return out


def _segment_mask(lo: np.ndarray, hi: np.ndarray, points: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Segments ``points + t d`` (0 < t < 1) that can touch the box [lo, hi]."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t1 = (lo[None, :] - points) / d
        t2 = (hi[None, :] - points) / d
    tn = np.nan_to_num(np.minimum(t1, t2), nan=-np.inf).max(axis=1)
    tf = np.nan_to_num(np.maximum(t1, t2), nan=np.inf).min(axis=1)
    return (tf >= np.maximum(tn, 1e-3)) & (tn < 1.0)


def _shadowed(scene: Scene, points: np.ndarray, light: np.ndarray) -> np.ndarray:
    """Whether the segment from each point to the light is blocked by an object."""
    n = len(points)
    blocked = np.zeros(n, bool)
    d = light[None, :] - points
    for prims, (glo, ghi) in _groups(scene):
        gidx = np.nonzero(_segment_mask(glo, ghi, points, d) & ~blocked)[0]
        for prim in prims:
            if len(gidx) == 0:
                break
            lo, hi = _bounds(prim)
            idx = gidx[_segment_mask(lo, hi, points[gidx], d[gidx])]
            if len(idx):
                hit = _segment_hits(prim, points[idx], d[idx])
                blocked[idx[hit]] = True
                gidx = gidx[~blocked[gidx]]
    return blocked


def _segment_hits(prim: Box | Cylinder, origins: np.ndarray, dirs: np.ndarray) -> np.ndarray:
    """Exact test of segments ``origin + t dir``, 0 < t < 1, against one object (shadows)."""
    if isinstance(prim, Box):
        c, s = np.cos(-prim.yaw), np.sin(-prim.yaw)
        rel = origins - prim.center[None, :]
        ol = np.stack([c * rel[:, 0] - s * rel[:, 1], s * rel[:, 0] + c * rel[:, 1], rel[:, 2]], 1)
        dl = np.stack([c * dirs[:, 0] - s * dirs[:, 1], s * dirs[:, 0] + c * dirs[:, 1], dirs[:, 2]], 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            t1 = (-prim.half[None, :] - ol) / dl
            t2 = (prim.half[None, :] - ol) / dl
        tn = np.nan_to_num(np.minimum(t1, t2), nan=-np.inf).max(axis=1)
        tf = np.nan_to_num(np.maximum(t1, t2), nan=np.inf).min(axis=1)
        hit = (tn <= tf) & (tn > 1e-3) & (tn < 1.0)
    else:
        ox, oy = origins[:, 0] - prim.x, origins[:, 1] - prim.y
        a = dirs[:, 0] ** 2 + dirs[:, 1] ** 2
        b = 2 * (ox * dirs[:, 0] + oy * dirs[:, 1])
        cc = ox * ox + oy * oy - prim.radius**2
        disc = b * b - 4 * a * cc
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (-b - np.sqrt(np.maximum(disc, 0))) / (2 * a)
        z = origins[:, 2] + t * dirs[:, 2]
        hit = (disc > 0) & (t > 1e-3) & (t < 1.0) & (z >= prim.z0) & (z <= prim.z1)
    return hit


# --------------------------------------------------------------------------- camera
def _camera(rng: np.random.Generator, scene: Scene) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Position and world-from-camera rotation of a small indoor drone's camera.

    Camera axes: x right, y down, z forward (OpenCV).  Heights 0.3-2.0 m, pitch -35..+10 deg,
    roll within +-8 deg, yaw biased towards the room's interior so most views look across
    the room rather than into a wall."""
    size = scene.size
    for _ in range(100):
        pos = np.array(
            [rng.uniform(0.4, size[0] - 0.4), rng.uniform(0.4, size[1] - 0.4), rng.uniform(0.3, 2.0)]
        )
        if not any(_inside(p, pos, margin=0.25) for p in [*scene.boxes, *scene.cylinders]):
            break
    centre = size[:2] / 2
    to_centre = np.arctan2(centre[1] - pos[1], centre[0] - pos[0])
    yaw = to_centre + rng.normal(0, 0.9)
    pitch = np.deg2rad(rng.uniform(-35, 10))
    roll = np.deg2rad(rng.normal(0, 4))
    fwd = np.array([np.cos(yaw) * np.cos(pitch), np.sin(yaw) * np.cos(pitch), np.sin(pitch)])
    right = np.array([np.sin(yaw), -np.cos(yaw), 0.0])
    down = np.cross(fwd, right)
    cr, sr = np.cos(roll), np.sin(roll)
    right, down = cr * right + sr * down, -sr * right + cr * down
    rot = np.stack([right, down, fwd], 1)  # columns: camera axes in world
    return pos, rot, float(pos[2]), float(np.rad2deg(pitch))


def _inside(prim: Box | Cylinder, p: np.ndarray, margin: float) -> bool:
    lo, hi = _bounds(prim)
    return bool(np.all(p >= lo - margin) and np.all(p <= hi + margin))


# --------------------------------------------------------------------------- shading
def _shade(
    scene: Scene, o: np.ndarray, d: np.ndarray, hits: Hits, face: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    n = len(d)
    p = o[None, :] + hits.t[:, None] * d
    noise = Noise(rng)
    albedo = np.zeros((n, 3))
    shininess = np.zeros(n)
    emissive = np.zeros(n, bool)
    for mi in np.unique(hits.material):
        sel = hits.material == mi
        mat = scene.materials[mi]
        albedo[sel] = shade_texture(mat, hits.uv[sel, 0], hits.uv[sel, 1], noise)
        shininess[sel] = mat.shininess
        emissive[sel] = mat.emissive
    # ambient with corner darkening on room faces
    size = scene.size
    dist = np.stack([p[:, 0], size[0] - p[:, 0], p[:, 1], size[1] - p[:, 1], p[:, 2], size[2] - p[:, 2]], 1)
    dist[np.arange(n), np.maximum(face, 0)] = np.where(
        face >= 0, np.inf, dist[np.arange(n), np.maximum(face, 0)]
    )
    ao = 1.0 - 0.4 * np.exp(-np.clip(dist.min(axis=1), 0, None) / 0.3)
    light_rgb = np.full((n, 3), scene.ambient) * ao[:, None]
    view = -d / np.linalg.norm(d, axis=1, keepdims=True)
    for li, light in enumerate(scene.lights):
        to_l = light.position[None, :] - p
        dist_l = np.linalg.norm(to_l, axis=1, keepdims=True)
        ldir = to_l / np.maximum(dist_l, 1e-6)
        lam = np.clip((hits.normal * ldir).sum(1), 0, None)
        fall = light.intensity / (1.0 + 0.35 * dist_l[:, 0] ** 2)
        vis = np.ones(n)
        if li == 0:
            vis = np.where(_shadowed(scene, p + hits.normal * 1e-3, light.position), 0.15, 1.0)
        half = ldir + view
        half /= np.maximum(np.linalg.norm(half, axis=1, keepdims=True), 1e-6)
        spec = shininess * np.clip((hits.normal * half).sum(1), 0, None) ** 40 * 0.6
        light_rgb += (vis * fall * lam)[:, None] * light.color[None, :] * 0.35
        albedo_spec = (vis * fall * spec)[:, None] * light.color[None, :] * 0.35
        light_rgb += albedo_spec / np.maximum(albedo, 0.05)
    rgb = albedo * light_rgb
    rgb[emissive] = albedo[emissive] * 1.2
    return rgb


def _postprocess(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Camera response: exposure, white balance, tone curve, light blur, sensor noise."""
    rgb = rgb * rng.uniform(0.7, 1.5) * rng.uniform(0.9, 1.1, 3)[None, None, :]
    rgb = 1.0 - np.exp(-1.6 * rgb)  # soft highlight roll-off
    rgb = rgb ** (1 / rng.uniform(1.0, 1.4))
    blur = (rgb + np.roll(rgb, 1, 0) + np.roll(rgb, 1, 1) + np.roll(rgb, (1, 1), (0, 1))) / 4
    rgb = 0.5 * rgb + 0.5 * blur
    rgb = rgb + rng.normal(0, rng.uniform(0.0, 0.02), rgb.shape)
    return (np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8)


def render(seed: int, scale: float = 0.5, intrinsics: Intrinsics = KINECT) -> Frame:
    """Render scene ``seed`` as seen by ``intrinsics`` sampled at ``scale`` (0.5: 240x320).

    Same seed -> bit-identical output.  Depth is z-depth in metres; pixels nearer than
    ``MIN_DEPTH_M`` or farther than ``MAX_DEPTH_M`` are 0 (invalid), like a Kinect."""
    rng = np.random.default_rng(seed)
    scene = make_scene(rng)
    pos, rot, height_m, pitch_deg = _camera(rng, scene)
    k = intrinsics.scaled(scale)
    v, u = np.mgrid[0 : k.height, 0 : k.width].astype(np.float64)
    cam = np.stack([(u - k.cx) / k.fx, (v - k.cy) / k.fy, np.ones_like(u)], -1).reshape(-1, 3)
    d = cam @ rot.T  # camera z component 1 => t is z-depth
    hits, face = cast(scene, pos, d)
    rgb = _shade(scene, pos, d, hits, face, rng).reshape(k.height, k.width, 3)
    depth = hits.t.reshape(k.height, k.width).astype(np.float32)
    depth[(depth < MIN_DEPTH_M) | (depth > MAX_DEPTH_M) | ~np.isfinite(depth)] = 0.0
    return Frame(_postprocess(rgb, rng), depth, seed, k, height_m, pitch_deg)
