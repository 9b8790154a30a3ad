"""Numerics: geometry and conventions, Fourier grids, wedges, volume transforms and the
parameterizations of rigid transforms. Imports nothing of subalign but :mod:`subalign.errors`.
"""
