#!/usr/bin/env python3
"""Reads reel recordings straight from the blob store, with nothing but zstd
and a JSON parser: every segment of a session's tab, in seq order.

    pip install zstandard
    python3 docs/read_recordings.py ./reel-data/blobs            # list sessions
    python3 docs/read_recordings.py ./reel-data/blobs SESSION_ID  # print events

Key layout: {site_id}/{yyyy-mm-dd}/{session}/{tab}/{first_seq:020}.ndjson.zst
"""
import json
import pathlib
import sys

import zstandard


def segments(root, session=None):
    """(site, date, session, tab, first_seq, path) of every segment."""
    for path in sorted(pathlib.Path(root).glob("*/*/*/*/*.ndjson.zst")):
        site, date, sess, tab, name = path.relative_to(root).parts
        if session is None or sess == session:
            yield site, date, sess, tab, int(name.split(".")[0]), path


def events(root, session):
    """Each tab's rrweb events, in seq order (keys sort by first seq)."""
    tabs = {}
    for _, _, _, tab, _, path in segments(root, session):
        with open(path, "rb") as f, zstandard.ZstdDecompressor().stream_reader(f) as r:
            for line in r.read().decode("utf-8").splitlines():
                tabs.setdefault(tab, []).append(json.loads(line))
    return tabs


if __name__ == "__main__":
    root = sys.argv[1]
    if len(sys.argv) == 2:
        for site, date, sess, tab, seq, _ in segments(root):
            print(site, date, sess, tab, seq)
    else:
        for tab, evs in events(root, sys.argv[2]).items():
            print(f"tab {tab}: {len(evs)} events, types {sorted({e['type'] for e in evs})}")
            for e in evs:
                print(json.dumps(e))
