"""fs-codes helpers: Few-Spikes (FS) neuron codes, conversion of Keras classifiers to FS
spiking networks, simulation and evaluation.

Module map (dependencies point one way, top to bottom):

* ``paths``, ``seeding``, ``results``, ``plotting``, ``data`` -- leaf utilities;
* ``models``, ``training`` -- the Keras ANNs that later notebooks convert.

Heavy modules (TensorFlow) are imported by the modules that need them, not here, so
``import helpers`` stays cheap.
"""

__version__ = "0.1.0"
