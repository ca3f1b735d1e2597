"""``repkpi.explain`` and ``repkpi explain``: why a number changed, group by group.

The small cases are worked out by hand below from the symmetric split of
api.md ("Why a number changed"): with w a group's share of the denominator
r its value and R the whole's value, in the period compared with (0) and the
period explained (1),

    rate_effect = (r1 - r0) (w0 + w1) / 2
    mix_effect  = (w1 - w0) ((r0 + r1) / 2 - (R0 + R1) / 2)

The mix effect is centred on the whole's value; the uncentred split (mix
(w1 - w0) (r0 + r1) / 2) is worked out beside it where the two disagree in
sign, to show which group the centring stops naming as a driver.

On the shipped sample, every KPI that explain accepts is checked against the
KPI itself computed without ``by``; every other one must be refused.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import repkpi
from repkpi.cli import main
from repkpi.explain import top_drivers

SAMPLE = repkpi.sample_path()
EFFECTS = ["rate_effect", "mix_effect", "contribution"]


def surveys(rows: list[tuple[str, str, int]]) -> repkpi.CrmData:
    """Survey data from ``(region, responded_on, csat)`` rows, one account per region."""
    regions = sorted({region for region, _, _ in rows})
    accounts = pd.DataFrame({"account_id": [f"A-{r}" for r in regions], "region": regions,
                             "customer_since": "2023-01-01"})
    responses = pd.DataFrame({
        "response_id": [f"S{i}" for i in range(len(rows))],
        "account_id": [f"A-{region}" for region, _, _ in rows],
        "responded_at": [day for _, day, _ in rows],
        "csat": [str(score) for _, _, score in rows],
    })
    return repkpi.CrmData(accounts=accounts, surveys=responses)


def responses(region: str, day: str, satisfied: int, total: int) -> list[tuple[str, str, int]]:
    """``total`` responses on ``day``, ``satisfied`` of them a 5 and the others a 2."""
    return [(region, day, 5 if i < satisfied else 2) for i in range(total)]


def effects(result: pd.DataFrame, column: str) -> dict[object, list[float]]:
    """Group label -> [rate_effect, mix_effect, contribution]."""
    return {label: list(values) for label, *values in
            result[[column, *EFFECTS]].itertuples(index=False)}


# -- worked by hand ------------------------------------------------------------------------------
def test_csat_by_region_worked_by_hand():
    # 2024Q1: north 6 satisfied of 8 (r0 = 0.75, w0 = 8/10 = 0.8)
    #         south 2 of 2          (r0 = 1.00, w0 = 2/10 = 0.2)   whole R0 = 8/10 = 0.8
    # 2024Q2: north 4 of 5          (r1 = 0.80, w1 = 0.5)
    #         south 3 of 5          (r1 = 0.60, w1 = 0.5)          whole R1 = 7/10 = 0.7
    # change -0.1; centre (R0 + R1) / 2 = 0.75
    # north: rate (0.80 - 0.75) (0.8 + 0.5) / 2 =  0.05 x 0.65 =  0.0325
    #        mix  (0.5 - 0.8) ((0.75 + 0.80) / 2 - 0.75) = -0.30 x 0.025 = -0.0075
    #        contribution +0.025 (uncentred: mix -0.30 x 0.775 = -0.2325, contribution -0.2)
    # south: rate (0.60 - 1.00) (0.2 + 0.5) / 2 = -0.40 x 0.35 = -0.14
    #        mix  (0.5 - 0.2) ((1.00 + 0.60) / 2 - 0.75) = 0.30 x 0.05 = 0.015
    #        contribution -0.125 (uncentred: mix 0.30 x 0.80 = 0.24, contribution +0.1)
    # Both signs flip: north's value rose and it is the one that lost weight below the whole,
    # south's fell by 40 points; uncentred, north would be the driver of the fall.
    # total: rate 0.0325 - 0.14 = -0.1075, mix -0.0075 + 0.015 = 0.0075, contribution -0.1
    data = surveys(responses("north", "2024-02-01", 6, 8) + responses("south", "2024-02-01", 2, 2)
                   + responses("north", "2024-05-01", 4, 5) + responses("south", "2024-05-01", 3, 5))

    why = repkpi.explain(data, "csat", period="2024Q2", by="region")

    assert list(why.columns) == ["region", "numerator_previous", "denominator_previous",
                                 "value_previous", "numerator_current", "denominator_current",
                                 "value_current", *EFFECTS, "change_low", "change_high",
                                 "significant"]
    assert list(why["region"]) == ["south", "north", "total"]  # by |contribution|, total last
    got = effects(why, "region")
    assert got["north"] == pytest.approx([0.0325, -0.0075, 0.025])
    assert got["south"] == pytest.approx([-0.14, 0.015, -0.125])
    assert got["total"] == pytest.approx([-0.1075, 0.0075, -0.1])
    assert why.iloc[-1][["numerator_previous", "denominator_previous", "value_previous"]].tolist() \
        == pytest.approx([8, 10, 0.8])
    assert why.iloc[-1][["numerator_current", "denominator_current", "value_current"]].tolist() \
        == pytest.approx([7, 10, 0.7])
    assert why.attrs["against"] == pd.Period("2024Q1", "Q-DEC")
    # analysis.md, "Is the change real?": the total row's Newcombe interval of 7/10 - 8/10.
    # z = 1.959964, z^2 / 10 = 0.384146; Wilson centre (p + z^2/20) / 1.384146, half-width
    # 1.416013 x sqrt(p (1 - p) / 10 + z^2 / 400):
    #   7/10: centre 0.644491, half 1.416013 x 0.174939 = 0.247716 -> [0.396775, 0.892207]
    #   8/10: centre 0.716742, half 1.416013 x 0.160012 = 0.226579 -> [0.490163, 0.943321]
    # low  = -0.1 - sqrt((0.7 - 0.396775)^2 + (0.943321 - 0.8)^2) = -0.1 - 0.335389 = -0.435389
    # high = -0.1 + sqrt((0.892207 - 0.7)^2 + (0.8 - 0.490163)^2) = -0.1 + 0.364614 = 0.264614
    # It holds 0: a fall of 10 points on 10 responses is not significant. The groups have NA.
    total = why.iloc[-1]
    assert [total["change_low"], total["change_high"]] == pytest.approx([-0.435389, 0.264614],
                                                                        abs=1e-5)
    assert total["significant"] is not pd.NA
    assert not total["significant"]
    assert why["change_low"].iloc[:-1].isna().all()
    assert why["significant"].iloc[:-1].isna().all()


def test_a_growing_group_whose_value_fell_below_the_whole_is_no_positive_driver():
    # The case of the issue: a region whose value fell, whose weight grew, below the whole.
    # 2024Q1: north 9 of 10 (r0 = 0.9, w0 = 10/20 = 0.5)
    #         south 6 of 10 (r0 = 0.6, w0 = 0.5)        whole R0 = 15/20 = 0.75
    # 2024Q2: north 8 of 10 (r1 = 0.8, w1 = 10/40 = 0.25)
    #         south 15 of 30 (r1 = 0.5, w1 = 0.75)      whole R1 = 23/40 = 0.575
    # change -0.175; centre (0.75 + 0.575) / 2 = 0.6625
    # south: rate (0.5 - 0.6) (0.5 + 0.75) / 2 = -0.1 x 0.625 = -0.0625
    #        mix  (0.75 - 0.5) ((0.6 + 0.5) / 2 - 0.6625) = 0.25 x -0.1125 = -0.028125
    #        contribution -0.090625
    #        uncentred: mix 0.25 x 0.55 = +0.1375, contribution +0.075, the only positive one
    # north: rate (0.8 - 0.9) (0.5 + 0.25) / 2 = -0.1 x 0.375 = -0.0375
    #        mix  (0.25 - 0.5) ((0.9 + 0.8) / 2 - 0.6625) = -0.25 x 0.1875 = -0.046875
    #        contribution -0.084375 (uncentred: mix -0.25 x 0.85 = -0.2125, contribution -0.25)
    # sum -0.090625 - 0.084375 = -0.175, the whole's change.
    data = surveys(responses("north", "2024-02-01", 9, 10) + responses("south", "2024-02-01", 6, 10)
                   + responses("north", "2024-05-01", 8, 10)
                   + responses("south", "2024-05-01", 15, 30))

    why = repkpi.explain(data, "csat", period="2024Q2", by="region")

    got = effects(why, "region")
    assert list(got) == ["south", "north", "total"]
    assert got["south"] == pytest.approx([-0.0625, -0.028125, -0.090625])
    assert got["north"] == pytest.approx([-0.0375, -0.046875, -0.084375])
    assert got["total"] == pytest.approx([-0.1, -0.075, -0.175])
    # The mix effects still add up to the whole mix change, uncentred: 0.1375 - 0.2125.
    assert why["mix_effect"].iloc[:-1].sum() == pytest.approx(0.1375 - 0.2125)


def test_a_group_present_in_one_period_only_is_all_mix():
    # 2024Q1: north 2 of 4 (r0 = 0.5, w0 = 1); east has no response   whole R0 = 0.5
    # 2024Q2: north 1 of 2 (r1 = 0.5, w1 = 0.5), east 2 of 2 (r1 = 1, w1 = 0.5)
    #         whole R1 = 3/4 = 0.75: change +0.25; centre (0.5 + 0.75) / 2 = 0.625
    # north: rate (0.5 - 0.5) x ... = 0; mix (0.5 - 1) ((0.5 + 0.5) / 2 - 0.625) = +0.0625
    #        (uncentred: (0.5 - 1) (0.5 + 0.5) / 2 = -0.25: north, below the whole, lost weight,
    #        which lifts the whole)
    # east:  r0 missing, taken equal to r1 = 1: rate 0; mix (0.5 - 0) (1 - 0.625) = +0.1875
    data = surveys(responses("north", "2024-02-01", 2, 4) + responses("north", "2024-05-01", 1, 2)
                   + responses("east", "2024-05-01", 2, 2))

    why = repkpi.explain(data, "csat", period="2024Q2", by="region")

    got = effects(why, "region")
    assert list(got) == ["east", "north", "total"]
    assert got["east"] == pytest.approx([0.0, 0.1875, 0.1875])
    assert got["north"] == pytest.approx([0.0, 0.0625, 0.0625])
    assert got["total"][2] == pytest.approx(0.25)
    east = why.iloc[0]
    assert (east["numerator_current"], east["denominator_current"]) == (2, 2)
    # east had no response in 2024Q1: no value there
    assert pd.isna(east["value_previous"])


def test_against_an_earlier_period_and_a_count():
    # new_customers, a count: each region's contribution is its own change (rate_effect),
    # mix_effect 0. 2023Q4: north 2, south 1; 2024Q2: north 1, south 3 -> +2 south, -1 north.
    accounts = pd.DataFrame({
        "account_id": ["A1", "A2", "A3", "A4", "A5", "A6", "A7"],
        "region": ["north", "north", "south", "north", "south", "south", "south"],
        "customer_since": ["2023-10-05", "2023-11-20", "2023-12-01",
                           "2024-04-02", "2024-05-09", "2024-06-10", "2024-06-30"],
    })
    data = repkpi.CrmData(accounts=accounts)

    why = repkpi.explain(data, "new_customers", period="2024Q2", against="2023Q4", by="region")

    got = effects(why, "region")
    assert list(got) == ["south", "north", "total"]
    assert got["south"] == [2.0, 0.0, 2.0]
    assert got["north"] == [-1.0, 0.0, -1.0]
    assert got["total"] == [1.0, 0.0, 1.0]
    assert why["value_current"].tolist() == [3, 1, 4]


def test_nps_is_a_ratio_scaled_by_100():
    # 2024Q1: north 1 promoter (10) of 2 responses with a detractor (0): r0 = 100 x 0/2 = 0, w0 = 1
    # 2024Q2: north 2 promoters of 2: r1 = 100, w1 = 0.5;
    #         south 1 detractor of 2 and a passive (8): r1 = 100 x -1/2 = -50, w1 = 0.5
    #         whole 100 x (2 - 1) / 4 = 25: change +25; centre (0 + 25) / 2 = 12.5
    # north: rate (100 - 0) (1 + 0.5) / 2 = 75; mix (0.5 - 1) ((0 + 100) / 2 - 12.5) = -18.75;
    #        contribution 56.25
    # south: rate 0; mix (0.5 - 0) (-50 - 12.5) = -31.25
    rows = [("north", "2024-02-01", "10"), ("north", "2024-02-02", "0"),
            ("north", "2024-05-01", "9"), ("north", "2024-05-02", "10"),
            ("south", "2024-05-01", "0"), ("south", "2024-05-02", "8")]
    data = repkpi.CrmData(
        accounts=pd.DataFrame({"account_id": ["A-north", "A-south"], "region": ["north", "south"],
                               "customer_since": "2023-01-01"}),
        surveys=pd.DataFrame({"response_id": [f"S{i}" for i in range(6)],
                              "account_id": [f"A-{r}" for r, _, _ in rows],
                              "responded_at": [d for _, d, _ in rows],
                              "nps": [n for _, _, n in rows]}))

    got = effects(repkpi.explain(data, "nps", period="2024Q2", by="region"), "region")

    assert got["north"] == pytest.approx([75.0, -18.75, 56.25])
    assert got["south"] == pytest.approx([0.0, -31.25, -31.25])
    assert got["total"][2] == pytest.approx(25.0)


# -- what the report shows first ------------------------------------------------------------------
def test_top_drivers_put_the_changes_sign_first_and_sum_the_rest():
    # A fall of 0.1 over five regions: contributions a +0.08, b -0.12, c -0.03, d -0.05, e +0.02
    # (sum -0.1). Falling with the whole, by size: b, d, c; then rising: a, e. Three shown:
    # b, d, c; the rest a + e = +0.10 in one row "2 more regions": -0.12 - 0.05 - 0.03 + 0.10
    # = -0.10, the total.
    why = pd.DataFrame({"region": ["b", "a", "d", "c", "e", "total"],
                        "numerator_previous": [5.0, 4, 3, 2, 1, 15],
                        "denominator_previous": [10.0, 10, 10, 10, 10, 50],
                        "value_previous": [0.5, 0.4, 0.3, 0.2, 0.1, 0.3],
                        "numerator_current": [4.0, 4, 3, 2, 1, 14],
                        "denominator_current": [10.0, 10, 10, 10, 10, 50],
                        "value_current": [0.4, 0.4, 0.3, 0.2, 0.1, 0.28],
                        "rate_effect": [-0.1, 0.07, -0.05, -0.03, 0.01, -0.1],
                        "mix_effect": [-0.02, 0.01, 0.0, 0.0, 0.01, 0.0],
                        "contribution": [-0.12, 0.08, -0.05, -0.03, 0.02, -0.1]})
    why.attrs["kpi"] = "csat"

    shown = top_drivers(why, shown=3)

    assert shown["region"].tolist() == ["b", "d", "c", "2 more regions", "total"]
    assert shown["contribution"].tolist() == pytest.approx([-0.12, -0.05, -0.03, 0.10, -0.1])
    assert shown["contribution"].iloc[:-1].sum() == pytest.approx(shown["contribution"].iloc[-1])
    rest = shown.iloc[3]
    assert (rest["numerator_previous"], rest["denominator_current"]) == (5, 20)  # a + e
    assert rest[["rate_effect", "mix_effect"]].tolist() == pytest.approx([0.08, 0.02])
    # the value of a + e together: (4 + 1) / (10 + 10) before, and (4 + 1) / 20 now
    assert rest[["value_previous", "value_current"]].tolist() == pytest.approx([0.25, 0.25])
    assert shown.attrs == {"kpi": "csat", "left_out": 2}


@pytest.mark.parametrize(("shown", "labels"), [
    (5, ["b", "d", "c", "a", "e", "total"]),  # nothing left out: no summed row
    (4, ["b", "d", "c", "a", "1 more region", "total"]),
])
def test_top_drivers_with_few_groups_left_out(shown, labels):
    why = pd.DataFrame({"region": ["b", "a", "d", "c", "e", "total"],
                        "contribution": [-0.12, 0.08, -0.05, -0.03, 0.02, -0.1]})
    result = top_drivers(why, shown=shown)
    assert result["region"].tolist() == labels
    assert result.attrs["left_out"] == 5 - min(shown, 5)


def test_top_drivers_of_a_rise_put_the_rising_groups_first(sample):
    why = repkpi.explain(sample, "csat", period="2026Q2", by="team")
    change = why["contribution"].iloc[-1]
    shown = top_drivers(why, shown=2)
    signs = np.sign(shown["contribution"].iloc[:2])
    along = int((np.sign(why["contribution"].iloc[:-1]) == np.sign(change)).sum())
    assert (signs == np.sign(change)).sum() == min(2, along)
    assert shown["contribution"].iloc[:-1].sum() == pytest.approx(change, abs=1e-12)


# -- every KPI on the sample ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def sample():
    return repkpi.load_sample()


SPECS = repkpi.KPIS
REFUSED = {
    "first_response_hours": "a median",
    "resolution_hours": "a median",
    "market_rank": "a rank",
    "market_share_delta": "a difference of two ratios",
    "new_customer_growth": "a growth over the previous period",
}
ACCEPTED = sorted(set(SPECS) - set(REFUSED))


def _by(name: str) -> str:
    """A column the KPI can be grouped by: team (which has an empty group), else its only one."""
    columns = SPECS[name].by_columns
    return columns[0] if columns else "team"


@pytest.mark.parametrize("name", ACCEPTED)
@pytest.mark.parametrize(("period", "against"), [("2026Q2", None), ("2026Q3", "2025Q3")])
def test_contributions_add_up_to_the_whole_change(sample, name, period, against):
    why = repkpi.explain(sample, name, period=period, against=against, by=_by(name))

    start = against or "2026Q1"
    whole = repkpi.KPIS[name](sample, start=start, end=period).set_index("period")["value"]
    change = whole[pd.Period(period, "Q-DEC")] - whole[pd.Period(start, "Q-DEC")]
    groups, total = why.iloc[:-1], why.iloc[-1]
    assert total[_by(name)] == "total"
    assert total["contribution"] == pytest.approx(change, rel=1e-12, abs=1e-12)
    assert groups["contribution"].sum() == pytest.approx(change, rel=1e-9, abs=1e-12)
    assert (groups["rate_effect"] + groups["mix_effect"]).to_numpy() == pytest.approx(
        groups["contribution"].to_numpy(), rel=1e-9, abs=1e-12)
    sizes = groups["contribution"].abs().to_numpy()
    assert (sizes[:-1] >= sizes[1:]).all()


def test_the_empty_group_is_kept(sample):
    why = repkpi.explain(sample, "csat", period="2026Q2", by="team")

    assert why["team"].isna().sum() == 1
    assert why["denominator_current"].iloc[:-1].sum() == why["denominator_current"].iloc[-1]


def test_the_change_of_a_ratio_covers_the_accepted_kinds():
    kinds = {SPECS[name].kind for name in ACCEPTED}
    assert kinds == {"ratio", "count", "sum"}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_kpis_that_do_not_decompose_are_refused(sample, name):
    with pytest.raises(repkpi.OptionError, match=f"explain cannot split {name}: it is "
                                                 f"{REFUSED[name]}"):
        repkpi.explain(sample, name, period="2026Q2", by=_by(name))


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"kpi": "csat_score", "by": "team"}, "Unknown KPI 'csat_score'"),
    ({"kpi": "csat", "by": None}, "explain needs by= for csat"),
    ({"kpi": "csat", "by": []}, "explain needs by= for csat"),
    ({"kpi": "csat", "by": "team", "threshold": 3}, "csat takes no option 'threshold'"),
    ({"kpi": "csat", "by": "team", "ci": 0.9}, "explain takes no ci= for csat"),
    ({"kpi": "csat", "by": "team", "against": "2025"}, "against='2025' is not a period of the "
                                                       "same length"),
    ({"kpi": "csat", "by": "no_such_column"}, "no_such_column"),
])
def test_bad_arguments_are_clear(sample, kwargs, match):
    kpi = kwargs.pop("kpi")
    error = repkpi.ColumnNotFoundError if "no_such" in match else repkpi.OptionError
    with pytest.raises(error, match=match):
        repkpi.explain(sample, kpi, period="2026Q2", **kwargs)


def test_a_period_without_a_value_is_refused(sample):
    # No survey before the sample's history begins: csat has no value there.
    with pytest.raises(repkpi.RepkpiError, match=r"csat has no value in 2015Q1"):
        repkpi.explain(sample, "csat", period="2026Q2", against="2015Q1", by="region")


def test_groups_that_do_not_cover_the_whole_are_refused():
    # market_share by region: our north deal is in no region of the market table, so the
    # regions' revenues fall short of the whole's.
    data = repkpi.CrmData(
        accounts=pd.DataFrame({"account_id": ["A1", "A2"], "region": ["south", "north"],
                               "customer_since": "2023-01-01"}),
        deals=pd.DataFrame({"deal_id": ["D1", "D2", "D3"], "account_id": ["A1", "A2", "A1"],
                            "created_on": "2024-01-01", "closed_on": ["2024-02-01", "2024-02-01",
                                                                      "2024-05-01"],
                            "stage": "won", "amount": "100", "deal_type": "new_business",
                            "channel": "direct"}),
        market=pd.DataFrame({"period": ["2024Q1", "2024Q2"], "region": "south",
                             "company": "Rival", "revenue": "300"}))

    with pytest.raises(repkpi.RepkpiError, match="do not add up to the whole in 2024Q1"):
        repkpi.explain(data, "market_share", period="2024Q2", by="region")


@pytest.mark.dask
def test_dask_data_gives_the_same_table(sample):
    pytest.importorskip("dask.dataframe")
    lazy = repkpi.load(SAMPLE, engine="dask")
    for name, by in (("csat", "team"), ("revenue", "region")):
        pd.testing.assert_frame_equal(repkpi.explain(lazy, name, period="2026Q2", by=by),
                                      repkpi.explain(sample, name, period="2026Q2", by=by))


# -- command line --------------------------------------------------------------------------------
def test_cli_prints_the_table(capsys):
    code = main(["explain", str(SAMPLE), "--kpi", "csat", "--period", "2026Q2", "--by", "team"])

    printed = capsys.readouterr()
    assert code == 0, printed.err
    lines = printed.out.splitlines()
    assert lines[0].startswith("csat by team: ")
    assert " in 2026Q1 -> " in lines[0]
    assert "rate_effect" in printed.out
    assert "contribution" in printed.out
    assert lines[-1].split()[0] == "total"
    assert any(line.startswith("(none)") for line in lines)  # the accounts with no rep


@pytest.mark.parametrize(("options", "clock"), [
    ([], "calendar hours"),
    (["--option", "clock=business", "--option", "calendar=" + str(SAMPLE / "goals.toml")],
     "business hours, Europe/London"),
])
def test_cli_names_the_clock_of_a_service_kpi(capsys, options, clock):
    code = main(["explain", str(SAMPLE), "--kpi", "sla_compliance", "--period", "2026Q2",
                 "--by", "team", *options])

    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert printed.out.startswith(f"sla_compliance ({clock}) by team: ")


def test_cli_prints_values_and_changes_in_the_kpis_unit(sample, capsys):
    # counts as whole numbers, money in dollars with thousands separators, never 1.9e+02
    for kpi, unit in (("new_customers", "{:,.0f}"), ("revenue", "${:,.0f}")):
        assert main(["explain", str(SAMPLE), "--kpi", kpi, "--period", "2026Q2",
                     "--by", "region"]) == 0
        first = capsys.readouterr().out.splitlines()[0]
        total = repkpi.explain(sample, kpi, period="2026Q2", by="region").iloc[-1]
        change = total["contribution"]
        assert first == (f"{kpi} by region: {unit.format(total['value_previous'])} in 2026Q1 -> "
                         f"{unit.format(total['value_current'])} in 2026Q2 (change "
                         f"{'+' if change > 0 else '-'}{unit.format(abs(change))})")


def test_cli_refuses_a_median_with_exit_2(capsys):
    code = main(["explain", str(SAMPLE), "--kpi", "resolution_hours", "--period", "2026Q2",
                 "--by", "team"])

    assert code == 2
    assert "explain cannot split resolution_hours: it is a median" in capsys.readouterr().err


def test_cli_a_missing_table_is_a_data_problem(tmp_path, capsys):
    (tmp_path / "accounts.csv").write_text("account_id,customer_since\nA1,2024-01-05\n",
                                           encoding="utf-8")

    code = main(["explain", str(tmp_path), "--kpi", "csat", "--period", "2024Q1", "--by",
                 "region"])

    assert code == 1
    assert "surveys" in capsys.readouterr().err
