"""How the model lab shows numbers: three significant digits, scientific for tiny and huge values."""

import pandas as pd
import streamlit as st

NUMBER_FORMAT = "%.3g"  # 3 significant digits: 3e-22, not 0.0000000000000000000003 (downloads keep full precision)


def number_columns(table: pd.DataFrame) -> dict:
    """``column_config`` showing every numeric column of ``table`` with :data:`NUMBER_FORMAT`."""
    return {str(c): st.column_config.NumberColumn(str(c), format=NUMBER_FORMAT)
            for c in table.columns if pd.api.types.is_numeric_dtype(table[c]) and not pd.api.types.is_bool_dtype(table[c])}
