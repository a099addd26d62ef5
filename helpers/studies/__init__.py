"""The computations each notebook calls: code design, CIFAR-10, ImageNet and GeNN studies."""
