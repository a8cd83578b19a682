"""`endodepth cache`: where the decoded ground truth is cached, how big it is, and clearing it."""

from __future__ import annotations

import argparse

from endodepth.io.gt_cache import cache_info, clear_cache


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--info", action="store_true", help="print the cache folder, entries and size (the default)")
    p.add_argument("--clear", action="store_true", help="delete every cached ground-truth frame")


def run(args: argparse.Namespace) -> int:
    if args.clear:
        print(f"cleared {clear_cache() / 2**20:.1f} MB of cached ground truth")
    if args.info or not args.clear:
        print(cache_info().describe())
    return 0
