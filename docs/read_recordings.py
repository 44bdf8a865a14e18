#!/usr/bin/env python3
"""Reads reel recordings straight from the blob store, with nothing but zstd
and a JSON parser: every segment of a session's tab, in seq order, each
batch once.

    pip install zstandard
    python3 docs/read_recordings.py ./reel-data/blobs            # list sessions
    python3 docs/read_recordings.py ./reel-data/blobs SESSION_ID  # print events
    python3 docs/read_recordings.py ./reel-data/blobs SESSION_ID ./reel-data/index.db

Key layout: {site_id}/{yyyy-mm-dd}/{session}/{tab}/{first_seq:020}-{last_seq:020}-{node}.ndjson.zst
(segments stored by older nodes: {first_seq:020}.ndjson.zst).

After a failover two nodes may both have stored some batches of a tab, so
a tab's segments can overlap. Segments wholly inside what was read are
skipped. To cut a partly read segment at the right batch, the reader needs
each batch's end, which the index keeps (`segments.batch_ends`; also in
`GET /api/v1/sessions/{id}/segments`): pass the SQLite index to use them.
Without it, a partly read segment is read whole, and its overlap repeats.
"""
import json
import pathlib
import sqlite3
import sys

import zstandard


def segments(root, session=None):
    """(site, date, session, tab, first_seq, last_seq, path) of every segment,
    each tab's in seq order, the longest first of those from one first seq
    (the others are then wholly read). `last_seq` is None for keys of older
    nodes."""
    found = []
    for path in pathlib.Path(root).glob("*/*/*/*/*.ndjson.zst"):
        site, date, sess, tab, name = path.relative_to(root).parts
        if session is None or sess == session:
            seqs = name.split(".")[0].split("-")
            last = int(seqs[1]) if len(seqs) > 2 else None
            found.append((site, date, sess, tab, int(seqs[0]), last, path))
    found.sort(key=lambda s: (s[:5], 1 if s[5] is None else -s[5]))
    return found


def index_rows(index, session):
    """{blob key: (last_seq, [batch ends])} from a SQLite index."""
    if index is None:
        return {}
    db = sqlite3.connect(f"file:{index}?mode=ro", uri=True)
    rows = db.execute(
        "SELECT blob_key, last_seq, batch_ends FROM segments WHERE session_id = ?", (session,)
    )
    return {k: (last, [int(n) for n in ends.split(",")] if ends else []) for k, last, ends in rows}


def events(root, session, index=None):
    """Each tab's rrweb events, in seq order, each batch once (see above)."""
    rows = index_rows(index, session)
    tabs, read_through = {}, {}
    for _, _, _, tab, first, last, path in segments(root, session):
        key = path.relative_to(root).as_posix()
        last, ends = rows.get(key, (last, []))
        read = read_through.get(tab)
        if read is not None and last is not None and last <= read:
            continue  # every batch of it was read already
        # Objects are several zstd frames (one per batch in a hot segment,
        # several per compacted tab): read across frames, not just the first.
        with open(path, "rb") as f, zstandard.ZstdDecompressor().stream_reader(f, read_across_frames=True) as r:
            data = r.read()
        start = 0
        if read is not None and first <= read and len(ends) == last - first + 1:
            start = ends[read - first]  # where batch `read` ends
        if last is not None:
            read_through[tab] = last if read is None else max(read, last)
        for line in data[start:].decode("utf-8").splitlines():
            tabs.setdefault(tab, []).append(json.loads(line))
    return tabs


if __name__ == "__main__":
    root = sys.argv[1]
    if len(sys.argv) == 2:
        for site, date, sess, tab, first, last, _ in segments(root):
            print(site, date, sess, tab, first, last)
    else:
        index = sys.argv[3] if len(sys.argv) > 3 else None
        for tab, evs in events(root, sys.argv[2], index).items():
            print(f"tab {tab}: {len(evs)} events, types {sorted({e['type'] for e in evs})}")
            for e in evs:
                print(json.dumps(e))
