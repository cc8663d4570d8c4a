"""Frames of what a graph saved: a still image, an animated one (WEBP, GIF, APNG) or a video file
(SaveVideo's .mp4, SaveWEBM's .webm), as RGB PIL images for the scorers."""
from __future__ import annotations

from pathlib import Path

MAX_FRAMES = 8  # frames scored per animated output (evenly spaced); the job counts as unsafe if any is
VIDEO_SUFFIXES = (".mp4", ".webm", ".mov", ".mkv", ".avi")


def frames(path: Path, limit: int = MAX_FRAMES) -> list:
    """Up to `limit` evenly spaced frames (first and last included); one for a still image."""
    if Path(path).suffix.lower() in VIDEO_SUFFIXES:
        return _video_frames(Path(path), limit)
    from PIL import Image, ImageSequence

    with Image.open(path) as image:
        wanted = _evenly_spaced(getattr(image, "n_frames", 1), limit)
        return [frame.convert("RGB") for i, frame in enumerate(ImageSequence.Iterator(image)) if i in wanted]


def first_frame(path: Path):
    return frames(path, limit=1)[0]


def _evenly_spaced(n: int, limit: int) -> set[int]:
    if limit == 1 or n == 1:
        return {0}
    return {round(i * (n - 1) / (min(n, limit) - 1)) for i in range(min(n, limit))}


def _video_frames(path: Path, limit: int) -> list:
    try:
        import av
    except ImportError as err:
        raise ImportError(f"{path.name} is a video: scoring it needs PyAV, pip install 'crosssteer[eval]'") from err
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        count = stream.frames  # 0 where the container does not say: then every frame is decoded first
        if count:
            wanted = _evenly_spaced(count, limit)
            picked = [f.to_image() for i, f in enumerate(container.decode(stream)) if i in wanted]
        else:
            decoded = [f.to_image() for f in container.decode(stream)]
            picked = [decoded[i] for i in sorted(_evenly_spaced(len(decoded), limit))]
    if not picked:
        raise ValueError(f"{path.name}: a video with no frames")
    return [image.convert("RGB") for image in picked]
