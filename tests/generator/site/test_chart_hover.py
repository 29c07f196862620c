"""What the model-page charts' hover labels and default legend say (generator.site.charts), on
hand-made rows (made-up latencies, tests.generator.site.test_verdict's helpers): a reason cut
to fit a phone's label without its status said twice, the stand-in's point of the
engine-default view saying that it stands in, and the engine's default config drawn where its
release ships no file for the shape."""

from __future__ import annotations

import re

from generator.data.records import Status
from generator.site import charts, verdict
from tests.generator.site.test_verdict import (
    DEEPGEMM,
    FLASHINFER,
    KEY,
    SGLANG_DEFAULT,
    SGLANG_FILE,
    TUNED,
    VLLM_DEFAULT,
    VLLM_FILE,
    points,
    row,
    vllm,
)

BF16 = "torch-bf16"
NO_FILE = (
    "Unsupported: sglang 0.5.23 ships no file for this device and shape: it runs its default config"
)


def test_a_reason_drops_its_repeated_status_and_fits_a_label():
    assert charts.short_reason("unsupported", NO_FILE).startswith("unsupported: sglang 0.5.23")
    assert "Unsupported" not in charts.short_reason("unsupported", NO_FILE)
    long = "RuntimeError: CUDA error: CUBLAS_STATUS_NOT_SUPPORTED when calling " + "x " * 200
    cut = charts.short_reason("unsupported", long)
    assert len(cut) <= charts.REASON_CHARS and cut.endswith("…")
    assert cut.startswith("unsupported: RuntimeError: CUDA error")
    assert charts.short_reason("error", None) == "error"
    assert charts.short_reason("wrong", "max error 0.3") == "wrong: max error 0.3"


def _rows_without_sglang_file() -> list:
    """More providers than a chart draws at first; SGLang ships no file for the shape (every
    row of its shipped-files provider says so), its default config ran."""
    out = points(
        {
            BF16: 20.0,
            TUNED: 10.0,
            VLLM_FILE: 12.0,
            VLLM_DEFAULT: 16.0,
            SGLANG_DEFAULT: 15.0,
            DEEPGEMM: 8.0,
            FLASHINFER: None,
        }
    )
    for m in (1, 16, 64, 4096):
        r = row(SGLANG_FILE, m, None, status=Status.UNSUPPORTED)
        r.measurement.message = NO_FILE
        out.append(r)
    return out


def test_the_engine_default_config_is_drawn_where_its_release_ships_no_file():
    """N=2112 on the H200: "SGLang 0.5.23's shipped config" was only crosses, and SGLang's
    default config (what SGLang runs there, what the per-layer table divides by) unticked."""
    rows = _rows_without_sglang_file()
    shown = charts.default_visible(rows)
    assert SGLANG_DEFAULT in shown and SGLANG_FILE not in shown
    assert VLLM_FILE in shown  # vLLM ships a file: its line is drawn
    spec = charts.model_chart(rows)
    vis = {s["key"]: s["visible"] for s in spec["series"]}
    assert vis[SGLANG_DEFAULT] and not vis[SGLANG_FILE]
    bad = dict(next(s for s in spec["series"] if s["key"] == SGLANG_FILE)["bad"])
    assert bad and all(t.startswith("unsupported: sglang 0.5.23 ships") for t in bad.values())
    # where the release's file did run, its line is drawn, not the default config's
    rows_ok = [r for r in rows if r.provider != SGLANG_FILE] + points({SGLANG_FILE: 14.0})
    assert SGLANG_FILE in charts.default_visible(rows_ok)


def test_the_stand_in_point_of_the_engine_default_view_says_it_stands_in():
    """vLLM on a Hopper runs FlashInfer swap-AB at M < 32, not measured: DeepGEMM stands in
    there, and its point ("1×") says so; from M = 32 DeepGEMM is what runs, no note."""
    rows = _rows_without_sglang_file()
    d = verdict.default_times(vllm(rows, keys=(KEY,)), KEY)
    spec = charts.model_chart(rows, defaults=[d])
    names = [s["key"] for s in spec["series"]]
    view = next(v for v in spec["views"] if v["id"] == "engine-default-vllm")
    note = "stands in for FlashInfer swap-AB, not measured"
    assert view["notes"] == [[names.index(DEEPGEMM), 0, note], [names.index(DEEPGEMM), 1, note]]
    assert spec["x"][:2] == [1, 16]
    assert view["ys"][names.index(DEEPGEMM)] == [1.0] * 4
    assert all("notes" not in v for v in spec["views"] if v["id"] != "engine-default-vllm")


# Plotly's decoding of a label's entities (plotly.js 4.1.1, src/lib/svg_text_utils.js,
# convertEntities): these names, and any numeric reference; any other entity stays as written
PLOTLY_NAMED = {"mu": "μ", "amp": "&", "lt": "<", "gt": ">", "nbsp": "\xa0", "times": "×"}
PLOTLY_NAMED |= {"plusmn": "±", "deg": "°"}


def _as_plotly_shows(text: str) -> str:
    def one(m: re.Match) -> str:
        ref = m.group(1)
        if ref.startswith("#x"):
            return chr(int(ref[2:], 16))
        if ref.startswith("#"):
            return chr(int(ref[1:]))
        return PLOTLY_NAMED.get(ref, m.group(0))

    return re.sub(r"&(#\d+|#x[\da-fA-F]+|[a-z]+);", one, text)


def test_a_hover_text_with_quotes_and_markup_reads_as_written():
    """A message holding ``"``, ``'``, ``<`` and ``&`` reads as written in a cross's hover
    label once Plotly decodes it (``&quot;`` it leaves as it is), and carries no tag."""
    message = 'bad "tile" <b>x</b> & co\'s'
    rows = points({BF16: 20.0, TUNED: 10.0})
    r = row(DEEPGEMM, 16, None, status=Status.UNSUPPORTED)
    r.measurement.message = message
    spec = charts.model_chart(rows + [r])
    (text,) = [t for s in spec["series"] for _, t in s.get("bad", [])]
    assert "<" not in text and '"' not in text and "'" not in text
    assert _as_plotly_shows(text) == f"unsupported: {message}"
    for name in ('a "quoted" <label> & more', "plain"):
        assert _as_plotly_shows(charts.plotly_text(name)) == name
