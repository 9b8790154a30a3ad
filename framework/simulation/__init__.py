"""Simulation: densities (phantom, atomic models, maps), the imaging chain (tilt series, CTF,
MTF, weighted backprojection), simulated particles and pairs with ground truth, and writing a
simulation to disk.
"""
