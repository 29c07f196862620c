"""A default config never stands in for a file the engine ships (D2 of 2026-12-03), on
hand-made rows: the H100's data has no rows of the engines' shipped files, and vLLM 0.33.0 ships
a file for NVIDIA_H100_80GB_HBM3 at N=576, K=7168 (generator/data/reference/vllm-0.33.0) but
none at N=3072, K=1536. The latencies are made up."""

from __future__ import annotations

from generator.data.records import BenchRow, Measurement, Status
from generator.data.shipped import shipped_sets
from generator.site import gains

H100 = "NVIDIA_H100_80GB_HBM3"
SHIPPED = (576, 7168)
UNSHIPPED = (3072, 1536)


def _row(provider: str, nk: tuple[int, int], m: int, us: float) -> BenchRow:
    meas = Measurement(status=Status.OK, latency_us=us, p20_us=us, p80_us=us, rel_error=1e-3)
    return BenchRow(
        provider=provider, sweep="model", model="m", tp=8, M=m, N=nk[0], K=nk[1], measurement=meas
    )


def _rows() -> list[BenchRow]:
    out = []
    for nk in (SHIPPED, UNSHIPPED):
        for m in (1, 64, 4096):
            out += [_row("triton-fp8-block-tuned", nk, m, 10.0)]
            out += [_row("triton-fp8-block-default", nk, m, 25.0 if nk == SHIPPED else 12.0)]
    return out


def test_the_reference_data_is_as_this_test_assumes() -> None:
    vllm = next(s for s in shipped_sets() if s.engine == "vllm")
    assert gains.ships(vllm, H100, *SHIPPED) and not gains.ships(vllm, H100, *UNSHIPPED)


def test_a_shipped_files_row_missing_is_not_measured_never_the_default() -> None:
    keys = [("m", 8, *SHIPPED), ("m", 8, *UNSHIPPED)]
    g = gains.gains(_rows(), None, keys, H100)
    # where vLLM ships no file for the (GPU, shape), its default config is what it runs: that
    # row is vLLM's own comparison there, not a stand-in (review3 item 5, one policy on every
    # GPU); where it ships one, no row of the file: not measured, never the default
    own = g.get("vllm-0.33.0")
    assert own is not None and own.shapes == {UNSHIPPED}
    dflt = g.get("default")
    assert dflt is not None and dflt.shapes == {SHIPPED, UNSHIPPED}  # the default's own row
    t = g.today("vllm")
    assert t.unmeasured == (SHIPPED,) and t.stand_in is None and t.comparison is own
    assert t.comparison.stat(gains.BANDS[0]).median == 12.0 / 10.0  # not 25/10 of the shipped
    # SGLang's own default config has no row here: vLLM's stands in for it, said as such
    s = g.today("sglang")
    assert "stands in" in (s.stand_in or "") and "1 of 2 weight shapes" in (s.stand_in or "")
    assert [x.engine for x in g.missing_today] == ["sglang"]


def test_every_shape_shipped_leaves_nothing_to_stand_in() -> None:
    rows = [r for r in _rows() if (r.N, r.K) == SHIPPED]
    g = gains.gains(rows, None, [("m", 8, *SHIPPED)], H100)
    t = g.today("vllm")
    assert t.comparison is None and t.stand_in is None and t.unmeasured == (SHIPPED,)


def test_an_unknown_device_never_lets_the_default_stand_in() -> None:
    g = gains.gains(_rows(), None, [("m", 8, *SHIPPED), ("m", 8, *UNSHIPPED)])
    t = g.today("vllm")
    assert t.comparison is None and t.stand_in is None
