"""The Few-Spikes neuron and its codes: the neuron (NumPy + TF), reference activations, code
families, measuring codes, gradient fitting and code design on samples. Knows no Keras model."""
