"""fs-codes helpers: Few-Spikes (FS) neuron codes, conversion of Keras classifiers to FS
spiking networks, simulation and evaluation. Subpackages follow the pipeline (and the
notebooks); dependencies point one way, from top to bottom::

    helpers/
      report/    style (display names, colours), panels, poster -- reads results files only
      studies/   what each notebook computes: code_design (03), finetune (04), cifar10
                 (05/06), genn (05), imagenet (07), rows (one measured FS conversion)
      snn/       graph (Keras graph, BN folding), network (FS-equivalent model), convert,
                 accounting (fan-out, analog MACs), export (folded Keras model), simulate
                 (event level), rate (rate-coded baseline), energy, mlgenn + mlgenn_models
                 (GeNN backend; the only modules that import pygenn/ml_genn, lazily),
                 finetune (FS neurons in the training loop, surrogate gradients)
      ann/       resnet (+ model cards), schedules, training, metrics, preactivations,
                 efficientnet, pth_reader -- knows no spikes
      fs/        neuron (FSCode, the step loop in NumPy and TF), activations, measure, codes
                 (families), fitting, design, jra (the seed project's floating-point code)
                 -- knows no Keras model
      paths, results (atomic writes), seeding, selection (which row is "best"), data
      (CIFAR-10), imagenet, notebooks (papermill runner) -- leaf utilities

TensorFlow is imported by the modules that need it, not here, so ``import helpers`` stays
cheap.
"""

__version__ = "0.1.0"
