"""Not a page of its own: the grid and price picker that Explore (sidebar) and Recommend (an expander) lay out.
Every choice is kept in the address. The settings are asr_app.hour_view's; the defaults are cited rows of
precomputed/prices.csv and CodeCarbon's grid data."""
import streamlit as st

from asr_app import hour_view, present, share, state
from asr_core.hourly import CostSettings
from asr_core.prices import INSTANCE, ELECTRICITY, PriceTableError, names

BIND = "query-params"
GRID_HELP = ("The grid whose average CO2e intensity (CodeCarbon's yearly figure) turns watt-hours into grams of "
             "CO2e. It starts at France, as the README's examples do: choose where the machine runs.")
PRICE_HELP = ("Cited and dated prices from precomputed/prices.csv (Eurostat's EU averages); or type your own "
              "price per kWh in euros below.")
MACHINE_HELP = ("A cloud instance's on-demand price per hour (cited in precomputed/prices.csv), or your own: a "
                "price per hour, or PRICE/HOURS for a machine you own (its purchase price over its lifetime in "
                "hours, e.g. 1200/20000). A cloud price already pays for its electricity.")
LIVE_HELP = ("Live: the audio arrives in real time, so the machine is held for the whole hour however fast it is. "
             "Batch: recorded audio is worked through as fast as the machine goes.")


def show() -> CostSettings:
    """The picker's widgets, and the settings they make (a price that cannot be used: one sentence, defaults kept)."""
    try:
        table = state.price_table()
    except PriceTableError as exc:
        st.error(present.plain(str(exc)))
        return CostSettings()
    countries = hour_view.grid_options()
    grid = [""] + list(countries)
    country = st.selectbox("Grid (for CO2e)", grid, index=grid.index(hour_view.GRID_DEFAULT) if hour_view.GRID_DEFAULT
                           in grid else 0, key=share.GRID, bind=BIND, help=GRID_HELP,
                           format_func=lambda c: countries.get(c, "none (no CO2e)"))
    electricity = st.selectbox("Electricity price", names(table, ELECTRICITY), key=share.ELECTRICITY, bind=BIND,
                               help=PRICE_HELP)
    price_kwh = st.text_input("Or your price per kWh (€)", key=share.PRICE_KWH, bind=BIND, placeholder="e.g. 0.25")
    instances = [hour_view.NO_MACHINE, *names(table, INSTANCE)]
    instance = st.selectbox("Machine price per hour", instances, key=share.INSTANCE, bind=BIND, help=MACHINE_HELP,
                            format_func=lambda n: n or "none (electricity only)")
    price_hour = st.text_input("Or your price per hour (€, or PRICE/HOURS)", key=share.PRICE_HOUR, bind=BIND,
                               placeholder="e.g. 0.5 or 1200/20000")
    live = st.toggle("Live audio (the machine is held the whole hour)", key=share.LIVE, bind=BIND, help=LIVE_HELP)
    costs, problem = hour_view.settings(hour_view.Picked(country, electricity, price_kwh, instance, price_hour, live),
                                        table)
    if problem:
        st.warning(present.plain(problem))
    return costs
