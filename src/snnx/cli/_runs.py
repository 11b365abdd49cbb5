"""The run folder of ``snnx train``: never replace a run silently, resume only a matching one.

A fresh run refuses a folder that already holds a run (``--overwrite`` replaces
it, saying so). Every run saves its options in ``config.json``; ``--resume``
compares them with the new ones, names every difference, and refuses unless
only the options in :data:`SAFE_TO_CHANGE` differ.
"""

from __future__ import annotations

import json
import os
import shutil

#: What ``snnx train`` writes into a run folder (``--overwrite`` removes these, nothing else).
OUTPUTS = ("checkpoint", "config.json", "metrics.json", "model.nir", "curves.png", "raster.png")
CONFIG = "config.json"
#: Options a resumed run may change: training longer (the cosine learning-rate schedule is
#: recomputed for the new ``--epochs``), the same files in another folder, another device
#: count. Every other option changes the model, the data or the optimisation.
SAFE_TO_CHANGE = ("epochs", "data_dir", "devices", "stream", "workers", "cache")  # none changes a batch
#: Config entries that locate the run or choose the action; they are not part of the run.
_NOT_SAVED = ("out", "name", "resume", "overwrite")


class RunFolderError(Exception):
    """The run folder does not fit the request (reported as one line, exit status 2)."""


def _option(key: str) -> str:
    return "--" + key.replace("_", "-")


def _show(value) -> str:
    if value is None:
        return "none"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def has_checkpoint(ckpt_dir: str) -> bool:
    """Whether ``ckpt_dir`` holds a complete checkpoint (orbax renames a step to its number when done)."""
    if not os.path.isdir(ckpt_dir):
        return False
    return any(n.isdigit() and os.path.isdir(os.path.join(ckpt_dir, n)) for n in os.listdir(ckpt_dir))


def previous_run(run_dir: str) -> list[str]:
    """The outputs of an earlier run in ``run_dir`` (a lone ``config.json`` does not count)."""
    found = []
    for name in OUTPUTS:
        path = os.path.join(run_dir, name)
        if name == "checkpoint":
            if os.path.isdir(path) and os.listdir(path):
                found.append(name)
        elif os.path.exists(path):
            found.append(name)
    return [] if found == [CONFIG] else found


def check_fresh(run_dir: str, overwrite: bool) -> list[str]:
    """Before a fresh run: the earlier outputs to replace (``--overwrite``); refuse without it."""
    found = previous_run(run_dir)
    if found and not overwrite:
        raise RunFolderError(
            f"{run_dir} already holds a run ({', '.join(found)}); continue it with --resume, "
            "replace it with --overwrite, or choose another --name"
        )
    return found


def replace(run_dir: str, found: list[str]) -> None:
    """Remove the earlier outputs ``found`` (see :func:`check_fresh`) from ``run_dir``."""
    for name in found:
        path = os.path.join(run_dir, name)
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.exists(path):
            os.remove(path)


def saved_options(cfg: dict) -> dict:
    return {k: v for k, v in cfg.items() if k not in _NOT_SAVED}


def write_config(run_dir: str, cfg: dict) -> str:
    path = os.path.join(run_dir, CONFIG)
    with open(path, "w") as f:
        json.dump(saved_options(cfg), f, indent=2)
    return path


def _read_saved(run_dir: str) -> dict | None:
    """The saved options: ``config.json``, else the ``config`` of ``metrics.json`` (older runs)."""
    for name, pick in ((CONFIG, lambda d: d), ("metrics.json", lambda d: d.get("config"))):
        path = os.path.join(run_dir, name)
        if os.path.isfile(path):
            try:
                with open(path) as f:
                    saved = pick(json.load(f))
            except (OSError, ValueError, AttributeError) as err:
                raise RunFolderError(f"--resume: cannot read {path}: {err}") from None
            if isinstance(saved, dict):
                return saved
    return None


def check_resume(run_dir: str, ckpt_dir: str, cfg: dict) -> str | None:
    """Before ``--resume``: refuse when there is nothing to resume or a changed option is unsafe.

    Returns a line for stderr naming what was accepted (or that nothing could be checked), or ``None``.
    """
    leave_out = "leave out --resume to start a new run"
    if not os.path.isdir(run_dir):
        raise RunFolderError(
            f"--resume: {run_dir} does not exist, so there is nothing to resume; {leave_out}"
        )
    if not has_checkpoint(ckpt_dir):
        raise RunFolderError(f"--resume: {run_dir} holds no checkpoint to resume from; {leave_out}")
    saved = _read_saved(run_dir)
    if saved is None:
        return (
            f"snnx train: warning: {run_dir} has no {CONFIG} (an older run); "
            "its options cannot be compared with these"
        )
    now = saved_options(cfg)
    changed = [k for k in now if k in saved and saved[k] != now[k]]
    diffs = "; ".join(f"{_option(k)} {_show(saved[k])} -> {_show(now[k])}" for k in changed)
    if any(k not in SAFE_TO_CHANGE for k in changed):
        safe = ", ".join(_option(k) for k in SAFE_TO_CHANGE)
        raise RunFolderError(
            f"--resume {run_dir}: the options differ from the saved run (saved -> now): {diffs}; "
            f"only {safe} may change when resuming: rerun with the saved values, or start a new run "
            "with --overwrite or another --name"
        )
    if not changed:
        return None
    note = " (the learning-rate schedule is recomputed for the new --epochs)" if "epochs" in changed else ""
    return f"snnx train: resuming {run_dir} with changed options (saved -> now): {diffs}{note}"
