"""The model pages' verdicts (generator.site.verdict) on hand-made rows: which backend each
engine runs per point, which row stands for it, and the decision drawn from the cells. The
rows are synthetic: made-up latencies, chosen so each rule of the decision is exercised."""

from __future__ import annotations

import pytest

from generator.data.records import BenchRow, Measurement, Status
from generator.site import verdict
from generator.site.verdict import Decision, State

KEY = ("synthetic-model", 1, 4096, 2048)  # N % 64 == 0, K % 128 == 0: DeepGEMM takes it
ODD_KEY = ("synthetic-model", 1, 4000, 2048)  # N % 64 != 0: DeepGEMM refuses it
TUNED = "triton-fp8-block-tuned"
VLLM_FILE = "triton-fp8-block-vllm-0.33.0"
VLLM_DEFAULT = "triton-fp8-block-default"
SGLANG_FILE = "triton-fp8-block-sglang-0.5.23"
SGLANG_DEFAULT = "triton-fp8-block-sglang-default"
DEEPGEMM = "deepgemm-fp8-block"
FLASHINFER = "flashinfer-fp8-block-swapab"
HOPPER = "NVIDIA_H200"


def row(provider: str, m: int, us: float | None, key=KEY, status: Status = Status.OK) -> BenchRow:
    meas = (
        Measurement(status=status, message="synthetic: not measured")
        if us is None
        else Measurement(
            status=status, latency_us=us, p20_us=us * 0.999, p80_us=us * 1.001, rel_error=1e-3
        )
    )
    return BenchRow(
        provider=provider,
        sweep="model",
        model=key[0],
        tp=key[1],
        M=m,
        N=key[2],
        K=key[3],
        measurement=meas,
    )


def points(times: dict[str, float | None], ms=(1, 16, 64, 4096), key=KEY) -> list[BenchRow]:
    """Every provider at every M; ``None`` records the provider as not measured there."""
    out = []
    for m in ms:
        for p, us in times.items():
            status = Status.UNSUPPORTED if us is None else Status.OK
            out.append(row(p, m, us, key, status))
    return out


def vllm(rows, device=HOPPER, arch=None, keys=(KEY,), out_dtype="bfloat16"):
    return verdict.engine_verdict(
        "vllm", device, arch, rows, list(keys), {k: ["layer"] for k in keys}, out_dtype
    )


def sglang(rows, device=HOPPER, arch=None, keys=(KEY,), out_dtype="bfloat16"):
    return verdict.engine_verdict(
        "sglang", device, arch, rows, list(keys), {k: ["layer"] for k in keys}, out_dtype
    )


def test_deepgemm_faster_everywhere_keeps_the_default():
    rows = points({TUNED: 10.0, VLLM_FILE: 11.0, DEEPGEMM: 8.0, FLASHINFER: 7.0})
    v = vllm(rows)
    assert v.arch == "sm_90" and v.decision == Decision.KEEP
    assert v.count(State.SLOWER) == 3 and v.count(State.FASTER) == 0  # decode, mid, prefill
    # M = 1 and 16 run FlashInfer (M < 32), measured here: no stand-in
    decode = v.layers[0].cells[0]
    assert {p.backend.id for p in decode.points} == {"flashinfer-swapab"}
    assert decode.stand_ins == [] and decode.median == pytest.approx(7.0 / 10.0)


def test_triton_faster_everywhere_says_force_and_how():
    v = vllm(points({TUNED: 5.0, VLLM_FILE: 11.0, DEEPGEMM: 8.0, FLASHINFER: 7.0}))
    assert v.decision == Decision.FORCE
    assert any(f.setting == "--linear-backend triton" for f in v.force)
    prefill = v.layers[0].cells[2]
    assert prefill.state == State.FASTER and prefill.median == pytest.approx(8.0 / 5.0)


def test_deepgemm_stands_in_where_flashinfer_was_not_measured():
    v = vllm(points({TUNED: 10.0, DEEPGEMM: 20.0, FLASHINFER: None}))
    decode = v.layers[0].cells[0]
    assert [p.backend.id for p in decode.points] == ["flashinfer-swapab"] * 2
    assert decode.stand_ins == [DEEPGEMM] and decode.state == State.FASTER
    assert [who for who, _ in v.stand_ins] == [DEEPGEMM]


def test_a_default_with_no_row_gives_no_verdict():
    v = vllm(points({TUNED: 10.0, VLLM_FILE: 11.0}))  # the H200 data before DeepGEMM rows
    assert v.decision == Decision.UNMEASURED
    assert "DeepGEMM" in v.reason and "FlashInfer" in v.reason
    assert all(c.state == State.MISSING for c in v.cells(True))


def test_fp16_output_runs_cutlass_on_vllm_and_triton_on_sglang():
    rows = points({TUNED: 10.0, VLLM_FILE: 11.0, SGLANG_FILE: 12.0, DEEPGEMM: 8.0})
    v = vllm(rows, out_dtype="float16")
    assert {p.backend.id for c in v.cells() for p in c.points} == {"cutlass"}
    assert v.decision == Decision.UNMEASURED and "CUTLASS" in v.reason
    s = sglang(rows, out_dtype="float16")
    assert s.decision == Decision.INSTALL
    assert s.count(State.FASTER, forced=False) == 3  # 10 us against SGLang's file's 12


def test_sglang_falls_back_to_triton_for_a_shape_deepgemm_refuses():
    rows = points({TUNED: 10.0, SGLANG_FILE: 12.0, DEEPGEMM: 8.0}) + points(
        {TUNED: 10.0, SGLANG_FILE: 12.0, DEEPGEMM: 8.0}, key=ODD_KEY
    )
    s = sglang(rows, keys=(KEY, ODD_KEY))
    forced, odd = s.layers
    assert all(c.forced for c in forced.cells) and not any(c.forced for c in odd.cells)
    assert {p.backend.id for c in odd.cells for p in c.points} == {"triton"}
    assert s.decision == Decision.KEEP  # forcing would lose where DeepGEMM runs
    assert s.count(State.FASTER, forced=False) == 3  # installing still gains on the odd shape


def test_a_difference_within_the_points_control_is_a_tie():
    rows = points({TUNED: 10.0, DEEPGEMM: 10.05, FLASHINFER: 10.05})
    assert vllm(rows).decision == Decision.KEEP
    assert {c.state for c in vllm(rows).cells()} == {State.TIE}


def test_some_cells_faster_some_slower_is_mixed():
    rows = [row(p, 1, us) for p, us in ((TUNED, 5.0), (DEEPGEMM, 8.0), (FLASHINFER, 8.0))]
    rows += [row(p, 4096, us) for p, us in ((TUNED, 10.0), (DEEPGEMM, 6.0))]
    v = vllm(rows)
    assert v.decision == Decision.MIXED
    assert v.summary(verdict.BANDS[0]).cells["faster"] == 1
    assert v.summary(verdict.BANDS[2]).cells["slower"] == 1
    assert len(v.cells()) == 2  # the mid band has no point, so no cell


def test_forced_triton_without_our_file_runs_the_engines_own():
    rows = points(
        {TUNED: None, VLLM_FILE: None, VLLM_DEFAULT: 12.0, DEEPGEMM: 8.0, FLASHINFER: 7.0}
    )
    v = vllm(rows)
    assert v.decision == Decision.KEEP
    cell = v.layers[0].cells[2]
    assert cell.without_our_file == 1
    assert cell.points[0].triton_row.provider == VLLM_DEFAULT


def test_the_recorded_architecture_decides_over_the_name():
    rows = points({TUNED: 10.0, VLLM_FILE: 11.0, DEEPGEMM: 8.0})
    assert vllm(rows, arch="gfx942").decision == Decision.INSTALL  # ROCm: Triton
    assert vllm(rows, device="SYNTHETIC_GPU", arch=None).decision == Decision.UNCOVERED
    assert vllm(rows, device="SYNTHETIC_GPU", arch="sm_120").decision == Decision.UNCOVERED


def test_tally_counts_pages_per_decision():
    keep = vllm(points({TUNED: 10.0, DEEPGEMM: 8.0, FLASHINFER: 7.0}))
    force = vllm(points({TUNED: 5.0, DEEPGEMM: 8.0, FLASHINFER: 7.0}))
    assert verdict.tally([[keep], [force], [keep]]) == [
        ("vLLM 0.33.0", [(Decision.FORCE, 1), (Decision.KEEP, 2)])
    ]


def test_rows_of_different_runs_are_not_compared():
    """The bench re-measures a whole point when a provider joins it; rows left from another
    run are never set against each other."""
    from datetime import datetime, timezone

    from tests.fixtures.make_synthetic import provenance

    first = provenance("NVIDIA_H200", "SYNTHETIC GPU")
    later = first.model_copy(update={"date": datetime(2025, 2, 1, tzinfo=timezone.utc)})
    rows = [
        r.model_copy(update={"provenance": later if r.provider == DEEPGEMM else first})
        for r in points({TUNED: 5.0, DEEPGEMM: 8.0, FLASHINFER: None})
    ]
    v = vllm(rows)
    assert v.decision == Decision.UNMEASURED
    assert all(c.apart == len(c.points) and c.median is None for c in v.cells())
    same = vllm([r.model_copy(update={"provenance": first}) for r in rows])
    assert same.decision == Decision.FORCE


# --- how the pages name the engine's Triton kernel (D1 of 2026-12-03) ---------------------------


def test_the_reference_says_today_only_where_the_rules_give_triton_every_point():
    """On a Hopper the engines run DeepGEMM / FlashInfer for bf16 output: the Triton kernel with
    their files is what runs only if Triton runs, never "today"; on an AMD Instinct (the rules
    give Triton every layer) it is what they run today; with fp16 output SGLang's rules give
    Triton the layer on a Hopper too. The wording follows the rules, not the device's name."""
    rows = points({TUNED: 10.0, VLLM_FILE: 11.0, DEEPGEMM: 8.0, FLASHINFER: 7.0})
    hopper = vllm(rows).reference
    assert hopper.default == verdict.TritonDefault.NONE and not hopper.today
    assert "today" not in hopper.label and "today" not in hopper.short
    assert "only if Triton runs" in hopper.when and "DeepGEMM" in hopper.when
    amd = vllm(rows, device="SOME_GPU", arch="gfx942").reference
    assert amd.default == verdict.TritonDefault.ALL and amd.today
    assert amd.label.startswith("vLLM 0.33.0 today") and "runs today" in amd.when
    fp16 = sglang(points({TUNED: 10.0, SGLANG_FILE: 11.0}), out_dtype="float16").reference
    assert fp16.today  # SGLang runs Triton for a non-bf16 output (its rules)
    odd = vllm(
        points({TUNED: 10.0, VLLM_FILE: 11.0, DEEPGEMM: 8.0}, key=ODD_KEY) + rows,
        keys=(KEY, ODD_KEY),
    ).reference
    assert odd.default in (verdict.TritonDefault.SOME, verdict.TritonDefault.NONE)
    assert not odd.today
    uncovered = vllm(rows, device="SOME_GPU").reference
    assert uncovered.default == verdict.TritonDefault.UNKNOWN and not uncovered.today
    both = verdict.combine([amd, hopper])
    assert both["vllm"].default == verdict.TritonDefault.SOME and not both["vllm"].today
    assert verdict.combine([amd, amd])["vllm"].today


def test_a_verdict_with_nothing_measured_has_no_measured_cells():
    """The default backend has no row: every cell "not measured"; the page shows one line
    instead of a table of zeros (D3), and the band table's denominators are layers."""
    v = vllm(points({TUNED: 10.0, VLLM_FILE: 11.0}))
    assert v.decision == Decision.UNMEASURED and v.cells(True) and v.measured_cells == 0
    measured = vllm(points({TUNED: 10.0, VLLM_FILE: 11.0, DEEPGEMM: 8.0}))
    assert measured.measured_cells == len(measured.cells(True))
    for band in verdict.BANDS:
        assert measured.band_cells(band) == 1  # one layer
    decode, mid, prefill = (measured.band_backends(b) for b in verdict.BANDS)
    # no FlashInfer row: DeepGEMM's stands in at M < 32, and the heading says so (review3 4)
    assert (decode, mid, prefill) == (
        ["FlashInfer swap-AB (DeepGEMM stands in)"],
        ["DeepGEMM"],
        ["DeepGEMM"],
    )


# --- the decision when no cell is faster (2026-12-03) -------------------------------------------


def _cells(decode: tuple[float, float], mid: float, prefill: float) -> list[BenchRow]:
    """One layer with Triton (ours) at 10 us everywhere against the default: FlashInfer at
    M = 1 and 16 (``decode``), DeepGEMM at M = 64 (``mid``) and 4096 (``prefill``)."""
    rows = []
    for m, us in ((1, decode[0]), (16, decode[1])):
        rows += [row(TUNED, m, 10.0), row(VLLM_FILE, m, 11.0), row(FLASHINFER, m, us)]
    for m, us in ((64, mid), (4096, prefill)):
        rows += [row(TUNED, m, 10.0), row(VLLM_FILE, m, 11.0), row(DEEPGEMM, m, us)]
    return rows


@pytest.mark.parametrize(
    ("decode", "mid", "prefill", "states", "decision"),
    [
        # all slower: keep
        ((8.0, 8.0), 8.0, 8.0, {State.SLOWER}, Decision.KEEP),
        # slower and within the noise: keep
        ((10.0, 10.0), 10.02, 8.0, {State.SLOWER, State.TIE}, Decision.KEEP),
        # slower, and one cell faster at one of its batch sizes only (mixed): still no cell
        # where Triton gains at every point, so keep, not "unless your batches are where..."
        ((12.0, 8.0), 8.0, 8.0, {State.SLOWER, State.MIXED}, Decision.KEEP),
        # one cell faster at every point, the others slower: the hedged advice
        ((12.0, 12.0), 8.0, 8.0, {State.FASTER, State.SLOWER}, Decision.MIXED),
        # one cell faster, one mixed, one tied: still hedged (the mixed cell loses somewhere)
        ((12.0, 8.0), 12.0, 10.02, {State.FASTER, State.MIXED, State.TIE}, Decision.MIXED),
        # faster or tied everywhere: force
        ((12.0, 12.0), 12.0, 10.02, {State.FASTER, State.TIE}, Decision.FORCE),
    ],
)
def test_with_no_faster_cell_the_decision_is_to_keep_the_default(
    decode, mid, prefill, states, decision
):
    """Forcing Triton is global: a page advises keeping the default, without a hedge, when no
    layer x band cell is faster at every point; "keep the default unless your batches are where
    Triton gains" only where some cell is faster."""
    v = vllm(_cells(decode, mid, prefill))
    assert {c.state for c in v.cells(True)} == states
    assert v.decision == decision
    if decision == Decision.KEEP:
        assert v.decision.short == "keep the default"
    if decision == Decision.MIXED:
        assert v.count(State.FASTER) >= 1 and "unless" in v.decision.short


def test_where_triton_runs_anyway_is_the_rules():
    """A "keep the default" page says where our files still matter, from the rules: nowhere
    by default for vLLM on a Hopper (CUTLASS takes fp16 output and odd shapes: the sentence
    said "fp16 output"), the layers DeepGEMM refuses or another output for SGLang there,
    every layer on an AMD Instinct."""
    rows = points({TUNED: 10.0, VLLM_FILE: 11.0, DEEPGEMM: 8.0, FLASHINFER: 7.0})
    assert vllm(rows).decision == Decision.KEEP and vllm(rows).triton_here is None
    s = sglang(points({TUNED: 10.0, SGLANG_FILE: 11.0, DEEPGEMM: 8.0}))
    assert s.decision == Decision.KEEP
    assert s.triton_here == (
        "for a layer with an output other than bfloat16 or N not a multiple of 64 or K not a "
        "multiple of 128"
    )
    assert vllm(rows, device="SOME_GPU", arch="gfx942").triton_here == "for every layer"
    assert vllm(rows, device="SOME_GPU").triton_here is None  # not covered


# --- the charts' "x <engine>'s default" view --------------------------------------------------


def test_default_times_name_each_backend_and_its_stand_in():
    """vLLM on a Hopper: FlashInfer at M < 32 (not measured: DeepGEMM stands in), DeepGEMM
    from 32; the view's rows are the verdict's default rows, by M."""
    rows = points({TUNED: 10.0, DEEPGEMM: 8.0, FLASHINFER: None}, ms=(1, 16, 64, 4096))
    d = verdict.default_times(vllm(rows), KEY)
    assert d is not None and d.name == "vLLM 0.33.0"
    assert d.backends == [("FlashInfer swap-AB", 1, 16), ("DeepGEMM", 64, 4096)]
    assert d.stand_ins == [("FlashInfer swap-AB", DEEPGEMM)]
    assert sorted(d.rows) == [1, 16, 64, 4096]
    assert all(r.provider == DEEPGEMM for r in d.rows.values())


def test_no_default_view_where_the_engine_runs_triton_everywhere():
    """fp16 output on SGLang runs its Triton kernel at every point: the view of its Triton
    kernel with its own files already is its default, no second one."""
    rows = points({TUNED: 10.0, SGLANG_FILE: 11.0, DEEPGEMM: 8.0})
    assert verdict.default_times(sglang(rows, out_dtype="float16"), KEY) is None
    assert verdict.default_times(sglang(rows), KEY) is not None  # bf16: DeepGEMM
    assert verdict.default_times(sglang(rows), ODD_KEY) is None  # not a layer of the page


def test_the_chart_divides_only_rows_of_one_run():
    """The engine-default view is the default's time over each provider's, at every M; a
    provider measured by another run than the default gets a gap there, never a ratio (the
    bf16 view alike)."""
    from datetime import datetime, timezone

    from generator.site import charts
    from tests.fixtures.make_synthetic import provenance

    first = provenance("NVIDIA_H200", "SYNTHETIC GPU")
    later = first.model_copy(update={"date": datetime(2025, 2, 1, tzinfo=timezone.utc)})
    rows = [
        r.model_copy(update={"provenance": later if r.provider == VLLM_DEFAULT else first})
        for r in points({TUNED: 10.0, DEEPGEMM: 8.0, "torch-bf16": 20.0, VLLM_DEFAULT: 16.0})
    ]
    d = verdict.default_times(vllm(rows), KEY)
    spec = charts.model_chart(rows, defaults=[d])
    names = [s["key"] for s in spec["series"]]
    views = {v["id"]: v for v in spec["views"]}
    view = views["engine-default-vllm"]
    assert view["label"] == "× vLLM 0.33.0 default"
    assert view["ys"][names.index(TUNED)] == [0.8] * 4
    assert view["ys"][names.index(DEEPGEMM)] == [1.0] * 4
    assert view["ys"][names.index(VLLM_DEFAULT)] == [None] * 4  # another run: no ratio
    assert views["bf16"]["ys"][names.index(TUNED)] == [2.0] * 4
    assert views["bf16"]["ys"][names.index(VLLM_DEFAULT)] == [None] * 4
    assert "DeepGEMM at M = 64-4096" in view["help"]
    assert all(v["help"].endswith(charts.SAME_RUN_HELP) for v in spec["views"] if v["ref"] == 1.0)
