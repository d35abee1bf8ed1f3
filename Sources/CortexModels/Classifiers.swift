import CortexCore
import CortexNN

/// The seeds' image classifiers, with PyTorch-compatible parameter names.
public enum Classifiers {
    /// 784-128-10 multilayer perceptron for 28x28 images: Flatten, Linear, ReLU, Linear.
    public static func mnistMLP(hidden: Int = 128, classes: Int = 10, generator: RandomGenerator = .default) -> Sequential {
        Sequential(Flatten(), Linear(784, hidden, generator: generator), ReLU(), Linear(hidden, classes, generator: generator))
    }

    /// A multilayer perceptron over flattened images with ReLU between its Linear layers, as
    /// `widths` gives them from input to output: [784, 300, 100, 10] is Han et al.'s
    /// LeNet-300-100, [784, 800, 800, 10] Hinton et al.'s distillation student.
    public static func perceptron(_ widths: [Int], generator: RandomGenerator = .default) -> Sequential {
        var layers: [Module & Layer] = [Flatten()]
        for (index, (inputs, outputs)) in zip(widths, widths.dropFirst()).enumerated() {
            if index > 0 { layers.append(ReLU()) }
            layers.append(Linear(inputs, outputs, generator: generator))
        }
        return Sequential(layers)
    }

    /// Han et al. 2015's LeNet-300-100: 784-300-100-10.
    public static func lenet300100(classes: Int = 10, generator: RandomGenerator = .default) -> Sequential {
        perceptron([784, 300, 100, classes], generator: generator)
    }

    /// conv32-pool-conv64-pool-fc128-fc10 for 1x28x28 images (3x3 convolutions, padding 1).
    public static func mnistCNN(classes: Int = 10, dropout: Float = 0, generator: RandomGenerator = .default) -> Sequential {
        Sequential(
            Conv2d(1, 32, kernelSize: 3, padding: 1, generator: generator), ReLU(), MaxPool2d(2),
            Conv2d(32, 64, kernelSize: 3, padding: 1, generator: generator), ReLU(), MaxPool2d(2),
            Flatten(), Linear(64 * 7 * 7, 128, generator: generator), ReLU(), Dropout(dropout, generator: generator),
            Linear(128, classes, generator: generator))
    }

    /// Opacus's MNIST example network (`SampleConvNet`): conv 16 8x8 stride 2 padding 3, max
    /// pool 2 stride 1, conv 32 4x4 stride 2, max pool 2 stride 1, fc 512-32, fc 32-10; 26,010
    /// parameters. With `tanh` the activations are tanh instead of ReLU, as Papernot et al.
    /// 2020 ("Tempered Sigmoid Activations for Deep Learning with Differential Privacy")
    /// recommend for private training: bounded activations keep gradients, and so clipping, small.
    public static func privateMNIST(classes: Int = 10, tanh: Bool = true, generator: RandomGenerator = .default) -> Sequential {
        func activation() -> Module & Layer { tanh ? Tanh() : ReLU() }
        return Sequential(
            Conv2d(1, 16, kernelSize: 8, stride: 2, padding: 3, generator: generator), activation(), MaxPool2d(2, stride: 1),
            Conv2d(16, 32, kernelSize: 4, stride: 2, generator: generator), activation(), MaxPool2d(2, stride: 1),
            Flatten(), Linear(32 * 4 * 4, 32, generator: generator), activation(), Linear(32, classes, generator: generator))
    }

    /// Three convolution blocks (64, 128, 256 channels) for 3x32x32 images, then fc 1000 and fc 10.
    public static func cifarCNN(classes: Int = 10, generator: RandomGenerator = .default) -> Sequential {
        Sequential(
            Conv2d(3, 64, kernelSize: 3, padding: 1, generator: generator), ReLU(), MaxPool2d(2),
            Conv2d(64, 128, kernelSize: 3, padding: 1, generator: generator), ReLU(), MaxPool2d(2),
            Conv2d(128, 256, kernelSize: 3, padding: 1, generator: generator), ReLU(), MaxPool2d(2),
            Flatten(), Linear(256 * 4 * 4, 1000, generator: generator), ReLU(), Linear(1000, classes, generator: generator))
    }
}
