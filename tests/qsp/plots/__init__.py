"""Tests of qsp.plots."""
