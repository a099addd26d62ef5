"""fs-codes helpers: Few-Spikes (FS) neuron codes, conversion of Keras classifiers to FS
spiking networks, simulation and evaluation.

Module map (dependencies point one way, top to bottom):

* ``fs_neuron`` (the neuron, NumPy + TF, and the ``FSCode`` value object), ``activations``;
* ``codes`` (code families, measuring codes), ``fitting`` (gradient fitting of codes),
  ``code_design`` (comparisons on real pre-activations);
* ``models``, ``training``, ``preactivations``, ``efficientnet`` + ``pth_reader`` -- the ANNs;
* ``convert`` (Keras model + codes -> FS network), ``simulate`` (event-level simulation),
  ``rate`` (rate-coded baseline), ``energy``, ``evaluation``;
* leaf utilities: ``paths``, ``seeding``, ``results``, ``data``, ``imagenet``, ``plotting``,
  ``poster``, ``notebooks`` (papermill runner).

Heavy modules (TensorFlow) are imported by the modules that need them, not here, so
``import helpers`` stays cheap.
"""

__version__ = "0.1.0"
