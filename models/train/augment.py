"""Augmentation for CCTV-like scenes: scale jitter towards small faces, mosaic, copy-paste of
face crops, blur, low resolution, JPEG artefacts, brightness and night-like low light.

Every function takes and returns plain numpy values; boxes are xyxy pixels, labels int64.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

Boxes = np.ndarray
Labels = np.ndarray


@dataclass(frozen=True)
class AugmentConfig:
    """Probabilities and ranges of every augmentation step."""

    zoom: tuple[float, float] = (0.55, 1.8)  # relative to the plain resize used at test time
    aspect: tuple[float, float] = (0.8, 1.25)
    mosaic_p: float = 0.25
    paste_p: float = 0.5
    paste_max: int = 4
    paste_width: tuple[float, float] = (8.0, 72.0)  # pixels in the output canvas
    flip_p: float = 0.5
    color_p: float = 0.8
    gray_p: float = 0.08
    night_p: float = 0.15
    blur_p: float = 0.2
    lowres_p: float = 0.15
    jpeg_p: float = 0.3
    min_visible: float = 0.5  # keep a box cut by the view if this share of it stays inside


NO_AUGMENT = AugmentConfig(
    zoom=(1.0, 1.0),
    aspect=(1.0, 1.0),
    mosaic_p=0,
    paste_p=0,
    flip_p=0,
    color_p=0,
    gray_p=0,
    night_p=0,
    blur_p=0,
    lowres_p=0,
    jpeg_p=0,
)


def log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    """A sample whose log is uniform in [log lo, log hi]."""
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def clip_boxes(
    boxes: Boxes, labels: Labels, width: int, height: int, min_visible: float
) -> tuple[Boxes, Labels]:
    """Clip to the canvas; drop boxes mostly outside it or under 1 px."""
    if len(boxes) == 0:
        return boxes.reshape(0, 4).astype(np.float32), labels
    clipped = boxes.copy()
    clipped[:, 0::2] = clipped[:, 0::2].clip(0, width)
    clipped[:, 1::2] = clipped[:, 1::2].clip(0, height)
    wh = clipped[:, 2:] - clipped[:, :2]
    area_before = np.prod(np.maximum(boxes[:, 2:] - boxes[:, :2], 1e-6), axis=1)
    keep = (wh.min(axis=1) >= 1.0) & (np.prod(wh, axis=1) >= min_visible * area_before)
    return clipped[keep].astype(np.float32), labels[keep]


def place(
    image: np.ndarray,
    boxes: Boxes,
    *,
    scale_x: float,
    scale_y: float,
    offset_x: float,
    offset_y: float,
    out_w: int,
    out_h: int,
    fill: np.ndarray,
) -> tuple[np.ndarray, Boxes]:
    """Scale the image, put its top-left at (offset_x, offset_y) of an out_w x out_h canvas."""
    h, w = image.shape[:2]
    new_w, new_h = max(1, round(w * scale_x)), max(1, round(h * scale_y))
    shrink = new_w < w and new_h < h
    resized = cv2.resize(
        image, (new_w, new_h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    )
    canvas = np.empty((out_h, out_w, 3), np.uint8)
    canvas[:] = fill
    ox, oy = round(offset_x), round(offset_y)
    x0, y0 = max(0, ox), max(0, oy)
    x1, y1 = min(out_w, ox + new_w), min(out_h, oy + new_h)
    if x1 > x0 and y1 > y0:
        canvas[y0:y1, x0:x1] = resized[y0 - oy : y1 - oy, x0 - ox : x1 - ox]
    sx, sy = new_w / w, new_h / h
    out = boxes.astype(np.float32) * np.array([sx, sy, sx, sy], np.float32)
    return canvas, out + np.array([ox, oy, ox, oy], np.float32)


def random_view(
    rng: np.random.Generator,
    image: np.ndarray,
    boxes: Boxes,
    labels: Labels,
    *,
    out_w: int,
    out_h: int,
    cfg: AugmentConfig,
) -> tuple[np.ndarray, Boxes, Labels]:
    """Zoom in or out around the test-time plain resize, with aspect jitter and a random shift."""
    h, w = image.shape[:2]
    zoom = log_uniform(rng, *cfg.zoom)
    aspect = log_uniform(rng, *cfg.aspect)
    sx, sy = out_w / w * zoom * np.sqrt(aspect), out_h / h * zoom / np.sqrt(aspect)
    ox = rng.uniform(min(0.0, out_w - w * sx), max(0.0, out_w - w * sx))
    oy = rng.uniform(min(0.0, out_h - h * sy), max(0.0, out_h - h * sy))
    fill = rng.integers(0, 256, 3).astype(np.uint8) if rng.random() < 0.5 else np.full(3, 114)
    canvas, moved = place(
        image,
        boxes,
        scale_x=sx,
        scale_y=sy,
        offset_x=ox,
        offset_y=oy,
        out_w=out_w,
        out_h=out_h,
        fill=fill,
    )
    kept_boxes, kept_labels = clip_boxes(moved, labels, out_w, out_h, cfg.min_visible)
    return canvas, kept_boxes, kept_labels


def mosaic(
    rng: np.random.Generator,
    scenes: list[tuple[np.ndarray, Boxes, Labels]],
    *,
    out_w: int,
    out_h: int,
    cfg: AugmentConfig,
) -> tuple[np.ndarray, Boxes, Labels]:
    """Four scenes, one per quadrant around a random centre: many smaller faces per image."""
    cx = round(rng.uniform(0.3, 0.7) * out_w)
    cy = round(rng.uniform(0.3, 0.7) * out_h)
    canvas = np.full((out_h, out_w, 3), 114, np.uint8)
    all_boxes, all_labels = [], []
    cells = ((0, 0, cx, cy), (cx, 0, out_w, cy), (0, cy, cx, out_h), (cx, cy, out_w, out_h))
    for (x0, y0, x1, y1), (img, b, lab) in zip(cells, scenes, strict=True):
        if x1 - x0 < 8 or y1 - y0 < 8:
            continue
        tile, tb, tl = random_view(rng, img, b, lab, out_w=x1 - x0, out_h=y1 - y0, cfg=cfg)
        canvas[y0:y1, x0:x1] = tile
        all_boxes.append(tb + np.array([x0, y0, x0, y0], np.float32))
        all_labels.append(tl)
    return canvas, np.concatenate(all_boxes).reshape(-1, 4), np.concatenate(all_labels)


def free_spot(
    rng: np.random.Generator, boxes: Boxes, w: int, h: int, out_w: int, out_h: int
) -> tuple[int, int] | None:
    """Top-left of a w x h rectangle that overlaps no box, or None after a few tries."""
    if w >= out_w or h >= out_h:
        return None
    for _ in range(10):
        x, y = int(rng.integers(0, out_w - w)), int(rng.integers(0, out_h - h))
        if len(boxes) == 0:
            return x, y
        overlap = (
            (boxes[:, 0] < x + w) & (boxes[:, 2] > x) & (boxes[:, 1] < y + h) & (boxes[:, 3] > y)
        )
        if not overlap.any():
            return x, y
    return None


def paste_crops(
    rng: np.random.Generator,
    canvas: np.ndarray,
    boxes: Boxes,
    labels: Labels,
    crops: list[tuple[np.ndarray, int, np.ndarray]],
    cfg: AugmentConfig,
) -> tuple[np.ndarray, Boxes, Labels]:
    """Paste face crops (image, label, face box in the crop) where no face is, scaled so that
    the face is `paste_width` pixels wide; each pasted face becomes a box."""
    out_h, out_w = canvas.shape[:2]
    new_boxes, new_labels = [boxes.reshape(-1, 4)], [labels]
    for crop, label, face in crops:
        scale = log_uniform(rng, *cfg.paste_width) / max(1.0, float(face[2] - face[0]))
        w, h = round(crop.shape[1] * scale), round(crop.shape[0] * scale)
        if min(w, h) < 4:
            continue
        spot = free_spot(rng, np.concatenate(new_boxes), w, h, out_w, out_h)
        if spot is None:
            continue
        x, y = spot
        canvas[y : y + h, x : x + w] = cv2.resize(crop, (w, h), interpolation=cv2.INTER_AREA)
        sx, sy = w / crop.shape[1], h / crop.shape[0]
        placed = np.asarray(face, np.float32) * np.array([sx, sy, sx, sy], np.float32)
        new_boxes.append((placed + np.array([x, y, x, y], np.float32))[None])
        new_labels.append(np.array([label], np.int64))
    return canvas, np.concatenate(new_boxes).astype(np.float32), np.concatenate(new_labels)


def flip(image: np.ndarray, boxes: Boxes) -> tuple[np.ndarray, Boxes]:
    """Horizontal mirror of image and boxes."""
    w = image.shape[1]
    out = boxes.copy()
    out[:, 0], out[:, 2] = w - boxes[:, 2], w - boxes[:, 0]
    return np.ascontiguousarray(image[:, ::-1]), out


def color_jitter(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """Contrast, brightness and saturation jitter (lookup tables and cv2 blends: fast)."""
    alpha, beta = rng.uniform(0.6, 1.4), rng.uniform(-35, 35)
    lut = np.clip(np.arange(256) * alpha + beta, 0, 255).astype(np.uint8)
    img = cv2.LUT(image, lut)
    gray = cv2.cvtColor(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    sat = rng.uniform(0.5, 1.5)
    return cv2.addWeighted(img, sat, gray, 1.0 - sat, 0.0)


def sensor_noise(rng: np.random.Generator, image: np.ndarray, sigma: float) -> np.ndarray:
    """Additive Gaussian noise in 2x2 grains (drawn at half size: a quarter of the cost)."""
    h, w = image.shape[:2]
    small = np.empty(((h + 1) // 2, (w + 1) // 2, image.shape[2]), np.int16)
    cv2.setRNGSeed(int(rng.integers(0, 2**31 - 1)))
    cv2.randn(small, 0, sigma)  # type: ignore[call-overload]  # scalars are valid here
    noise = cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)
    return cv2.add(image.astype(np.int16), noise).clip(0, 255).astype(np.uint8)


def night(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """Low light: darkening gamma, a colour cast and sensor noise."""
    gamma, gain = rng.uniform(1.5, 3.0), rng.uniform(0.6, 1.0)
    channels = []
    for c, cast in zip(cv2.split(image), rng.uniform(0.85, 1.15, size=3), strict=True):
        lut = np.clip(np.linspace(0, 1, 256) ** gamma * 255 * gain * cast, 0, 255)
        channels.append(cv2.LUT(c, lut.astype(np.uint8)))
    return sensor_noise(rng, cv2.merge(channels), rng.uniform(2, 10))


def blur(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """Gaussian (defocus) or linear (motion) blur."""
    if rng.random() < 0.5:
        return cv2.GaussianBlur(image, (0, 0), rng.uniform(0.5, 1.5))
    k = int(rng.integers(3, 8))
    line = np.zeros((k, k), np.float32)
    line[k // 2] = 1.0 / k
    rot = cv2.getRotationMatrix2D((k / 2 - 0.5, k / 2 - 0.5), rng.uniform(0, 180), 1.0)
    kernel = np.asarray(cv2.warpAffine(line, rot, (k, k)), np.float32)
    return cv2.filter2D(image, -1, kernel / max(float(kernel.sum()), 1e-6))


def low_resolution(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """Down- then up-sample: the look of a cheap camera or a heavy stream downscale."""
    h, w = image.shape[:2]
    f = rng.uniform(0.35, 0.75)
    size = (max(1, int(w * f)), max(1, int(h * f)))
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def jpeg(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """Re-encode at low JPEG quality (stream compression artefacts)."""
    quality = int(rng.integers(15, 60))
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR) if ok else None
    return image if decoded is None else np.asarray(decoded)


def photometric(rng: np.random.Generator, image: np.ndarray, cfg: AugmentConfig) -> np.ndarray:
    """Apply the pixel-level steps, each with its own probability."""
    if rng.random() < cfg.color_p:
        image = color_jitter(rng, image)
    if rng.random() < cfg.gray_p:
        image = cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    if rng.random() < cfg.night_p:
        image = night(rng, image)
    if rng.random() < cfg.blur_p:
        image = blur(rng, image)
    if rng.random() < cfg.lowres_p:
        image = low_resolution(rng, image)
    if rng.random() < cfg.jpeg_p:
        image = jpeg(rng, image)
    return image
