"""Page tests (AppTest)."""


def table_with_column(elements, column):
    """The first AppTest dataframe that has ``column`` (AppTest does not expose dataframe keys)."""
    for element in elements:
        if column in element.value.columns:
            return element.value
    raise KeyError(f"no table with column {column!r}")
