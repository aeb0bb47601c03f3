"""A playable MP4 written by hand: H.264 Baseline in I_PCM macroblocks inside ISO BMFF boxes.

I_PCM carries raw 8-bit samples, so no transform, quantisation or entropy coder is needed:
each macroblock is `mb_type = 25`, alignment bits and 384 bytes (16x16 luma, two 8x8 chroma).
Every frame is an IDR picture, so every sample is a sync sample and no stss box is needed.
The moov box comes before mdat ("fast start") so a browser can play it while downloading.
"""

from __future__ import annotations

import struct

PROFILE_BASELINE = 66
# constraint_set0 and constraint_set1: the stream also satisfies Constrained Baseline.
PROFILE_CONSTRAINTS = 0xC0
LEVEL_3_0 = 30
MB_TYPE_I_PCM = 25
TIMESCALE = 1000


class BitWriter:
    def __init__(self) -> None:
        self._bits: list[int] = []

    def u(self, bits: int, value: int) -> None:
        for shift in range(bits - 1, -1, -1):
            self._bits.append((value >> shift) & 1)

    def ue(self, value: int) -> None:
        code = value + 1
        length = code.bit_length()
        self.u(length - 1, 0)
        self.u(length, code)

    def se(self, value: int) -> None:
        self.ue(2 * value - 1 if value > 0 else -2 * value)

    def align_zero(self) -> None:
        while len(self._bits) % 8:
            self._bits.append(0)

    def byte(self, value: int) -> None:
        self.u(8, value)

    def trailing(self) -> None:
        self._bits.append(1)
        self.align_zero()

    def to_bytes(self) -> bytes:
        out = bytearray()
        for start in range(0, len(self._bits), 8):
            value = 0
            for bit in self._bits[start : start + 8]:
                value = (value << 1) | bit
            out.append(value)
        return bytes(out)


def _escape(rbsp: bytes) -> bytes:
    """Emulation prevention: no 00 00 0x (x <= 3) may appear inside a NAL unit."""
    out = bytearray()
    zeros = 0
    for value in rbsp:
        if zeros >= 2 and value <= 3:
            out.append(3)
            zeros = 0
        out.append(value)
        zeros = zeros + 1 if value == 0 else 0
    return bytes(out)


def _nal(ref_idc: int, unit_type: int, rbsp: bytes) -> bytes:
    return bytes(((ref_idc << 5) | unit_type,)) + _escape(rbsp)


def _sps(width_mbs: int, height_mbs: int) -> bytes:
    bits = BitWriter()
    bits.byte(PROFILE_BASELINE)
    bits.byte(PROFILE_CONSTRAINTS)
    bits.byte(LEVEL_3_0)
    bits.ue(0)  # seq_parameter_set_id
    bits.ue(0)  # log2_max_frame_num_minus4
    bits.ue(2)  # pic_order_cnt_type 2: output order is decoding order
    bits.ue(1)  # max_num_ref_frames
    bits.u(1, 0)  # gaps_in_frame_num_value_allowed_flag
    bits.ue(width_mbs - 1)
    bits.ue(height_mbs - 1)
    bits.u(1, 1)  # frame_mbs_only_flag
    bits.u(1, 1)  # direct_8x8_inference_flag
    bits.u(1, 0)  # frame_cropping_flag
    bits.u(1, 0)  # vui_parameters_present_flag
    bits.trailing()
    return _nal(3, 7, bits.to_bytes())


def _pps() -> bytes:
    bits = BitWriter()
    bits.ue(0)  # pic_parameter_set_id
    bits.ue(0)  # seq_parameter_set_id
    bits.u(1, 0)  # entropy_coding_mode_flag: CAVLC
    bits.u(1, 0)  # bottom_field_pic_order_in_frame_present_flag
    bits.ue(0)  # num_slice_groups_minus1
    bits.ue(0)  # num_ref_idx_l0_default_active_minus1
    bits.ue(0)  # num_ref_idx_l1_default_active_minus1
    bits.u(1, 0)  # weighted_pred_flag
    bits.u(2, 0)  # weighted_bipred_idc
    bits.se(0)  # pic_init_qp_minus26
    bits.se(0)  # pic_init_qs_minus26
    bits.se(0)  # chroma_qp_index_offset
    bits.u(1, 1)  # deblocking_filter_control_present_flag: lets the slice switch it off
    bits.u(1, 0)  # constrained_intra_pred_flag
    bits.u(1, 0)  # redundant_pic_cnt_present_flag
    bits.trailing()
    return _nal(3, 8, bits.to_bytes())


def _frame_samples(index: int, frames: int, mb_x: int, mb_y: int, width_mbs: int) -> bytes:
    """One macroblock's samples: a bright bar sweeping left to right over a tinted background."""
    bar = index * width_mbs // max(frames, 1)
    luma = 200 if mb_x == bar else 60 + 10 * mb_y
    cb = 90 + 12 * mb_x
    cr = 170 - 12 * mb_y
    # Sample values stay inside 16..235 so no byte is zero (older decoders reject 0 in PCM).
    return bytes((luma,)) * 256 + bytes((cb,)) * 64 + bytes((cr,)) * 64


def _idr_slice(index: int, frames: int, width_mbs: int, height_mbs: int) -> bytes:
    bits = BitWriter()
    bits.ue(0)  # first_mb_in_slice
    bits.ue(7)  # slice_type: I, and every slice of the picture is I
    bits.ue(0)  # pic_parameter_set_id
    bits.u(4, 0)  # frame_num (log2_max_frame_num = 4); 0 in an IDR picture
    bits.ue(index % 2)  # idr_pic_id: consecutive IDR pictures must differ
    bits.u(1, 0)  # no_output_of_prior_pics_flag
    bits.u(1, 0)  # long_term_reference_flag
    bits.se(0)  # slice_qp_delta
    bits.ue(1)  # disable_deblocking_filter_idc: PCM needs no filtering
    for mb_y in range(height_mbs):
        for mb_x in range(width_mbs):
            bits.ue(MB_TYPE_I_PCM)
            bits.align_zero()  # pcm_alignment_zero_bit
            for value in _frame_samples(index, frames, mb_x, mb_y, width_mbs):
                bits.byte(value)
    bits.trailing()
    return _nal(3, 5, bits.to_bytes())


def _box(kind: bytes, *parts: bytes) -> bytes:
    payload = b"".join(parts)
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def _full_box(kind: bytes, version: int, flags: int, *parts: bytes) -> bytes:
    return _box(kind, struct.pack(">I", (version << 24) | flags), *parts)


_MATRIX = struct.pack(">9I", 0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000)


def _avcc(sps: bytes, pps: bytes) -> bytes:
    return _box(
        b"avcC",
        bytes((1, sps[1], sps[2], sps[3], 0xFF, 0xE1)),  # 4-byte NAL lengths, one SPS
        struct.pack(">H", len(sps)),
        sps,
        bytes((1,)),
        struct.pack(">H", len(pps)),
        pps,
    )


def _stbl(width: int, height: int, sps: bytes, pps: bytes, sizes: list[int], delta: int) -> bytes:
    avc1 = _box(
        b"avc1",
        bytes(6),
        struct.pack(">H", 1),  # data_reference_index
        bytes(16),
        struct.pack(">HH", width, height),
        struct.pack(">II", 0x00480000, 0x00480000),  # 72 dpi
        bytes(4),
        struct.pack(">H", 1),  # frame_count
        bytes(32),  # compressorname
        struct.pack(">Hh", 0x0018, -1),
        _avcc(sps, pps),
    )
    return _box(
        b"stbl",
        _full_box(b"stsd", 0, 0, struct.pack(">I", 1), avc1),
        _full_box(b"stts", 0, 0, struct.pack(">III", 1, len(sizes), delta)),
        _full_box(b"stsc", 0, 0, struct.pack(">IIII", 1, 1, len(sizes), 1)),
        _full_box(
            b"stsz", 0, 0, struct.pack(">II", 0, len(sizes)), *(struct.pack(">I", s) for s in sizes)
        ),
        _full_box(b"stco", 0, 0, struct.pack(">II", 1, 0)),
    )


def _moov(width: int, height: int, sps: bytes, pps: bytes, sizes: list[int], fps: int) -> bytes:
    delta = TIMESCALE // fps
    duration = delta * len(sizes)
    mvhd = _full_box(
        b"mvhd",
        0,
        0,
        struct.pack(">IIII", 0, 0, TIMESCALE, duration),
        struct.pack(">IH", 0x00010000, 0x0100),
        bytes(10),
        _MATRIX,
        bytes(24),
        struct.pack(">I", 2),  # next_track_ID
    )
    tkhd = _full_box(
        b"tkhd",
        0,
        3,  # enabled, in movie
        struct.pack(">IIII", 0, 0, 1, 0),
        struct.pack(">I", duration),
        bytes(8),
        struct.pack(">hhhH", 0, 0, 0, 0),
        _MATRIX,
        struct.pack(">II", width << 16, height << 16),
    )
    mdhd = _full_box(
        b"mdhd",
        0,
        0,
        struct.pack(">IIII", 0, 0, TIMESCALE, duration),
        struct.pack(">HH", 0x55C4, 0),
    )
    hdlr = _full_box(b"hdlr", 0, 0, bytes(4), b"vide", bytes(12), b"VideoHandler\x00")
    minf = _box(
        b"minf",
        _full_box(b"vmhd", 0, 1, bytes(8)),
        _box(b"dinf", _full_box(b"dref", 0, 0, struct.pack(">I", 1), _full_box(b"url ", 0, 1))),
        _stbl(width, height, sps, pps, sizes, delta),
    )
    trak = _box(b"trak", tkhd, _box(b"mdia", mdhd, hdlr, minf))
    return _box(b"moov", mvhd, trak)


def build_mp4(width: int, height: int, fps: int, frames: int) -> bytes:
    if width % 16 or height % 16:
        raise ValueError("width and height must be multiples of 16 (whole macroblocks)")
    width_mbs, height_mbs = width // 16, height // 16
    sps, pps = _sps(width_mbs, height_mbs), _pps()
    samples = [
        struct.pack(">I", len(nal)) + nal
        for nal in (_idr_slice(i, frames, width_mbs, height_mbs) for i in range(frames))
    ]
    ftyp = _box(b"ftyp", b"isom", struct.pack(">I", 512), b"isomiso2avc1mp41")
    moov = _moov(width, height, sps, pps, [len(s) for s in samples], fps)
    # stco is moov's last 4 bytes: mdat's payload starts after ftyp, moov and mdat's header.
    chunk_offset = len(ftyp) + len(moov) + 8
    moov = moov[:-4] + struct.pack(">I", chunk_offset)
    return ftyp + moov + _box(b"mdat", *samples)
