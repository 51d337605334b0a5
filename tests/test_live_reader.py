"""The live reader: a stream read too slowly drops its oldest frames (and counts them); a file waits."""
import socket
import subprocess
import time

import cv2
import numpy as np
import pytest

from maskdet import InputError
from maskdet.live import QUEUE_SIZE, Reader
from maskdet.video import probe

N = QUEUE_SIZE + 16  # more frames than the queue holds


@pytest.fixture
def numbered(tmp_path):
    """An N-frame clip whose frame i is flat grey 2 + 4 i, so that a frame says which one it is."""
    path = tmp_path / "numbered.avi"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (64, 48))
    for i in range(N):
        w.write(np.full((48, 64, 3), 2 + 4 * i, np.uint8))
    w.release()
    assert probe(path)["frames"] == N
    return path


def index(frame):
    return round((float(frame.mean()) - 2) / 4)


def drain(reader):
    """Every frame left in the reader's queue, up to the end mark."""
    got = []
    while (item := reader.frames.get(timeout=10)) is not None:
        got.append(index(item[2]))
    return got


def test_slow_consumer_of_a_stream_gets_the_newest_frames(numbered):
    """The clip served once over loopback HTTP (MPEG-TS, by the packaged ffmpeg): the consumer takes
    one frame, then nothing until the stream has ended; it then finds the newest QUEUE_SIZE frames."""
    import imageio_ffmpeg

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/cam.ts"
    server = subprocess.Popen([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-i", str(numbered), "-c:v",
                               "mpeg2video", "-q:v", "2", "-f", "mpegts", "-listen", "1", url])
    try:
        deadline = time.time() + 20
        while True:                      # until ffmpeg listens (a refused connection is not served)
            try:
                reader = Reader(url, retries=0, stall_s=5)
                break
            except InputError:
                assert time.time() < deadline, "ffmpeg never served the stream"
                time.sleep(0.05)
        reader.start()
        got = [index(reader.frames.get(timeout=10)[2])]
        server.wait(timeout=20)          # everything sent
        while reader.dropped + reader.frames.qsize() < N - len(got):    # until the reader has read it all
            assert time.time() < deadline, f"the reader never caught up: {reader.dropped} dropped"
            time.sleep(0.05)
        got += drain(reader)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert got[-QUEUE_SIZE:] == list(range(N - QUEUE_SIZE, N))      # the newest frames, in order
    assert got == sorted(set(got))                                   # nothing repeated or reordered
    assert reader.dropped == N - len(got) > 0                        # every frame sent is received or counted


def test_slow_consumer_of_a_file_loses_nothing(numbered):
    reader = Reader(str(numbered))
    reader.start()
    time.sleep(0.5)                      # the queue fills; the file waits for the consumer
    assert reader.frames.full()
    assert drain(reader) == list(range(N)) and reader.dropped == 0
