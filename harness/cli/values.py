"""The CLI's values, checked while the command line is parsed, before anything runs: a bad one is
one line naming the option and the value (`harness: error: argument --seed: ...`), never a
worker that fails minutes later or a record left under `seed-5/`."""
from __future__ import annotations

import argparse
import os
import re

# numpy's and hence MMEngine's seeds are 32-bit unsigned.
MAX_SEED = 2**32 - 1
_KEY = re.compile(r"[A-Za-z_]\w*(\.\w+)*")
_EXAMPLE = "e.g. optim_wrapper.optimizer.lr=0.01 train_cfg.max_iters=100"


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None


def seed(text: str) -> int:
    value = _int(text)
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be between 0 and {MAX_SEED} (got {value})")
    return value


def positive_int(text: str) -> int:
    value = _int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 (got {value})")
    return value


def points(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if not (value >= 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0 (got {text})")
    return value


def _name_max(path: str) -> int:
    """The longest file name the file system under path allows (255 on ext4, xfs, tmpfs)."""
    probe = os.path.abspath(path)
    while probe and not os.path.exists(probe):
        probe = os.path.dirname(probe) if os.path.dirname(probe) != probe else ""
    try:
        return os.pathconf(probe or "/", "PC_NAME_MAX")
    except (OSError, ValueError):
        return 255


def _check_path(text: str) -> str:
    if not text:
        raise argparse.ArgumentTypeError("an empty path")
    limit = _name_max(text)
    for part in text.split("/"):
        if len(part.encode()) > limit:
            raise argparse.ArgumentTypeError(
                f"a folder or file name in it is {len(part.encode())} bytes long "
                f"('{part[:24]}...'); the file system allows {limit}")
    if len(os.path.abspath(text).encode()) >= 4096:
        raise argparse.ArgumentTypeError("the path is longer than the 4096 bytes Linux allows")
    return text


def path(text: str) -> str:
    return _check_path(os.path.expanduser(text))


def file_stem(text: str) -> str:
    """A name the harness writes files under (reports/<name>.md, .pdf, .csv)."""
    if not text or "/" in text or text in (".", ".."):
        raise argparse.ArgumentTypeError(f"'{text}' is not a file name (no '/', not empty)")
    if len(text.encode()) > 200:    # room for the suffixes within the usual 255
        raise argparse.ArgumentTypeError(f"a name of {len(text.encode())} bytes is too long "
                                         "(at most 200)")
    return text


def pretrained(text: str) -> str:
    """[resnet50=|resnet101=]PATH or a URL: the path part must be a path the system can open."""
    value = text.partition("=")[2] if re.match(r"resnet\d+=", text) else text
    if "://" not in value:
        _check_path(os.path.expanduser(value))
    return text


def cfg_option(item: str) -> tuple[str, object]:
    """KEY=VALUE as mmdet's tools/train.py reads it (mmengine's DictAction), checked first."""
    key, sep, value = item.partition("=")
    if not sep:
        raise ValueError(f"'{item}' is not KEY=VALUE ({_EXAMPLE})")
    if not _KEY.fullmatch(key):
        raise ValueError(f"'{item}': '{key}' is not a config key (dotted names, {_EXAMPLE})")
    from mmengine.config import DictAction
    try:
        parsed = DictAction._parse_iterable(value)
    except AssertionError:
        raise ValueError(f"'{item}': the brackets in '{value}' do not balance") from None
    if not _finite(parsed):   # the run's config.py would hold `inf`, which Python cannot read back
        raise ValueError(f"'{item}': inf and nan cannot be written into a config file; use a "
                         "large finite number (e.g. 1e300)")
    return key, parsed


def _finite(value) -> bool:
    if isinstance(value, float):
        return value == value and value not in (float("inf"), float("-inf"))
    if isinstance(value, (list, tuple)):
        return all(map(_finite, value))
    return True


class ConfigOptions(argparse.Action):
    """--cfg-options KEY=VALUE ...: each item checked, the first bad one named."""

    def __call__(self, parser, namespace, values, option_string=None):
        options = dict(getattr(namespace, self.dest, None) or {})
        for item in values:
            try:
                key, value = cfg_option(item)
            except ValueError as exc:
                raise argparse.ArgumentError(self, str(exc)) from None
            options[key] = value
        setattr(namespace, self.dest, options)
