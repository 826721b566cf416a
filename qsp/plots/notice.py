"""The research-use notice every page and every downloaded summary carries (plain text, imports nothing)."""

RESEARCH_NOTICE = (
    "Research use only. This is a research tool, not a medical device: it must not be used to "
    "diagnose, treat or make decisions about any patient."
)
