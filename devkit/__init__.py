"""Development kit: what the product's tests, benchmarks and demo use, and production never runs.

bench/    numbers printed by `storelens bench ...` (speed, memory, accuracy)
demo/     `storelens demo`: simulated stores, seeded history, the whole chain on loopback
servers/  throwaway Redis, Mosquitto and PostgreSQL servers on loopback in temp dirs
installs.py  `./dev lock` (constraints.txt) and `./dev sizes` (install size per extra), standard library only
"""
