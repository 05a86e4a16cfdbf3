"""Records of how something was made (a color cache, stage-1 weights, a checkpoint), compared
with what is asked now: one wording for every "made with other settings" message."""

from __future__ import annotations


def config_difference(recorded: dict, asked: dict, ignore: tuple[str, ...] = ()) -> str:
    """One line naming the settings that differ between a recorded and an asked config ('' if none);
    keys in ``ignore`` are not compared, lists longer than 4 are shown by their length."""
    keys = sorted((set(recorded) | set(asked)) - set(ignore))

    def shown(value) -> str:
        return f"{len(value)} items" if isinstance(value, (list, tuple)) and len(value) > 4 else repr(value)

    return ", ".join(f"{k} {shown(recorded.get(k))} → {shown(asked.get(k))}" for k in keys
                     if recorded.get(k) != asked.get(k))
