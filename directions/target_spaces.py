"""A target text encoder reads several embedding spaces (its tokens, the pooled vector, SD3's CLIP-L||G and
T5 segments): one alignment per space, and the native baseline direction in each. The encoder is any
with `spaces` ({name: width}, primary first), `space_names`, `primary`, `family`, `describe()` and
`embed_layers` (space i as layer i), such as the nodes' ComfyUI CLIP encoder."""
from __future__ import annotations

from . import transport
from .pipeline import TARGET_POOLING, alignment_summary, calibrate_direction, extract_direction
from .space import Standardizer


def fit_target_spaces(target, target_emb: dict, source_emb, source_info: dict, method: str,
                      seed: int) -> tuple[dict, str]:
    """(ALIGNMENT, report): one map from the source embeddings of the anchors to each target space."""
    index, pooling, spaces = source_info["layer"], source_info["pooling"], target.space_names
    fits, skipped = {}, []
    for i, space in enumerate(spaces):
        if float(target_emb[i].std(dim=0).max()) <= 1e-8:  # e.g. a pooled vector the encoder leaves constant
            skipped.append(space)
            continue
        fits[space] = transport.fit_alignment(source_emb, target_emb[i], method=method, seed=seed)
        fits[space].source_side = {"layer": index, "pooling": pooling}
    if not fits:
        raise ValueError(f"the {target.family} text encoder gave the same embedding for every anchor prompt: it "
                         "is not a working text encoder (all-zero weights?); load the model's real encoder")
    primary = next(iter(fits))
    alignment = {"fit": fits[primary], "fits": fits, "primary": primary, "source": source_info,
                 "target": target.describe()}
    widths = ", ".join(f"{n} {target.spaces[n]}" for n in fits)
    lines = [f"{method} map {source_info['model']} layer {index} -> {target.family} ({widths} wide)"]
    for space, fit in fits.items():
        s = alignment_summary(fit)
        lines.append(f"  {space}: {s['n_fit']} fit / {s['n_heldout']} held-out anchors, held-out R2 "
                     f"{s['heldout_r2']:.3f}, retrieval top-1 {s['retrieval_top1']:.3f} "
                     f"(chance {s['retrieval_chance']:.3f})")
    if skipped:
        lines.append(f"  not fitted (the same for every prompt): {', '.join(skipped)}")
    return alignment, "\n".join(lines)


def extract_native(encoder, pairs, anchors, method: str, per_category: bool, progress):
    """The native baseline: a direction estimated on the target's own encoder in each space its model reads
    (the primary space, plus e.g. the pooled vector), ready to steer without an alignment. Standardized and
    calibrated on benign anchors exactly as a transported direction is (pipeline.calibrate_direction), so
    the same strength means the same push for both."""
    parts = {}
    spaces = encoder.space_names
    anchor_emb = encoder.embed_layers(anchors, range(len(spaces)), TARGET_POOLING,
                                      progress=lambda d, t: progress("anchors", d, t))
    for i, space in enumerate(spaces):
        standardizer = Standardizer.fit(anchor_emb[i])
        part = extract_direction(encoder, pairs, layer=i, pooling=TARGET_POOLING, method=method,
                                 per_category=per_category, standardizer=standardizer, progress=progress)
        part.meta.update(space="target", target={**encoder.describe(), "space": space, "width": encoder.spaces[space]})
        parts[space] = calibrate_direction(part, standardizer.z(anchor_emb[i]))
    direction = parts.pop(encoder.primary)
    direction.spaces = {name: part for name, part in parts.items() if list(part.vectors) == list(direction.vectors)}
    return direction.validate()
