// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "Cortex",
    products: [
        .library(name: "Cortex", targets: ["Cortex"]),
        .library(name: "CortexCore", targets: ["CortexCore"]),
        .library(name: "CortexNN", targets: ["CortexNN"]),
        .library(name: "CortexData", targets: ["CortexData"]),
        .library(name: "CortexTrain", targets: ["CortexTrain"]),
        .library(name: "CortexText", targets: ["CortexText"]),
        .library(name: "CortexCUDA", targets: ["CortexCUDA"]),
        .library(name: "CortexDistributed", targets: ["CortexDistributed"]),
        .library(name: "CortexExplain", targets: ["CortexExplain"]),
        .library(name: "CortexPrivacy", targets: ["CortexPrivacy"]),
        .executable(name: "cortex", targets: ["cortex"]),
        .executable(name: "cortex-bench", targets: ["cortex-bench"]),
        .executable(name: "cortex-fuzz", targets: ["cortex-fuzz"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.30.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
    ],
    targets: [
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS"),
        .target(name: "CCortexKernels"),
        .target(name: "CortexCore", dependencies: ["CBLAS", "CCortexKernels"]),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib"),
        .target(name: "CortexNN", dependencies: ["CortexCore", "CCortexKernels"]),
        // PNG and JPEG decoding through Debian's libpng-dev and libjpeg62-turbo-dev.
        .target(name: "CCortexImage", linkerSettings: [.linkedLibrary("png16"), .linkedLibrary("jpeg")]),
        .target(name: "CortexData", dependencies: ["CortexCore", "CZlib", "CCortexImage"]),
        // Open MPI from Debian: built against its mpi.h (libopenmpi-dev), libmpi loaded with
        // dlopen when a process group is made, so binaries run without it in one process.
        .target(name: "CMPI", linkerSettings: [.linkedLibrary("dl")]),
        .target(name: "CortexDistributed", dependencies: ["CortexCore", "CortexNN", "CMPI"]),
        .target(name: "CortexTrain", dependencies: ["CortexCore", "CortexNN", "CortexData", "CortexDistributed", "CortexPrivacy",
                                                    .product(name: "Yams", package: "Yams")]),
        // Differentially private training (Opacus's DP-SGD) and its RDP accountant.
        .target(name: "CortexPrivacy", dependencies: ["CortexCore", "CortexNN", "CCortexKernels"]),
        .target(name: "CortexText", dependencies: ["CortexCore"]),
        // CUDA is loaded with dlopen at run time: nothing of it is needed to build or test.
        .target(name: "CCUDA", linkerSettings: [.linkedLibrary("dl")]),
        .target(name: "CortexCUDA", dependencies: ["CortexCore", "CCUDA"]),
        .target(name: "CortexModels", dependencies: ["CortexCore", "CortexNN", "CortexText"]),
        // Attributions (Captum's methods), pictures (PNG over zlib, SVG, HTML) and fairness audits (Fairlearn's metrics).
        .target(name: "CortexExplain", dependencies: ["CortexCore", "CortexNN", "CortexData"]),
        .target(name: "Cortex", dependencies: ["CortexCore", "CortexNN", "CortexData", "CortexTrain", "CortexModels", "CortexText", "CortexDistributed", "CortexExplain", "CortexPrivacy"]),
        // The OpenAI-compatible server: HTTP on Hummingbird 2, metrics in Prometheus text.
        .target(
            name: "CortexServe",
            dependencies: [
                "CCortexKernels", "CortexCore", "CortexModels", "CortexText",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]),
        .target(
            name: "CortexCLI",
            dependencies: [
                "CortexCore", "CortexNN", "CortexData", "CortexTrain", "CortexModels", "CortexText", "CortexDistributed", "CortexServe",
                "CortexExplain", "CortexPrivacy",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .executableTarget(name: "cortex", dependencies: ["CortexCLI"]),
        .target(name: "CortexTestSupport", dependencies: ["CortexCore"]),
        // One libFuzzer target per parser of a user's bytes (Tools/fuzz.sh), replayed by the tests.
        .target(name: "CortexFuzzing", dependencies: ["CortexCore", "CortexData", "CortexText", "CortexModels", "CortexNN", "CortexTrain"]),
        .executableTarget(name: "cortex-fuzz", dependencies: ["CortexFuzzing"]),
        .executableTarget(
            name: "cortex-bench",
            dependencies: [
                "CortexCore", "CortexNN", "CortexModels", "CortexText", "CortexData", "CortexDistributed", "CortexServe", "CortexPrivacy", "CBLAS", "CCortexKernels",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            path: "Benchmarks/cortex-bench"),
        .testTarget(
            name: "CortexServeTests",
            dependencies: ["CortexServe", "CortexModels", "CortexText", "CortexCore", "CortexTestSupport",
                           .product(name: "HummingbirdTesting", package: "hummingbird")]),
        .testTarget(
            name: "CortexCUDATests",
            dependencies: ["CortexCUDA", "CortexCore", "CortexTestSupport"]),
        .testTarget(
            name: "CortexCLITests",
            dependencies: ["CortexCLI", "CortexCore", "CortexData", "CortexText", "CortexModels", "CortexNN", "CortexPrivacy", "CortexTestSupport",
                           .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .testTarget(
            name: "CortexModelsTests",
            dependencies: ["CortexModels", "CortexNN", "CortexCore", "CortexTestSupport"],
            resources: [.copy("Fixtures")]),
        .testTarget(
            name: "CortexTextTests",
            dependencies: ["CortexText", "CortexCore", "CortexTestSupport"],
            resources: [.copy("Fixtures")]),
        .testTarget(
            name: "CortexDistributedTests",
            dependencies: ["CortexDistributed", "CortexCore", "CortexNN", "CortexData", "CortexText", "CortexTestSupport"]),
        .testTarget(
            name: "CortexExplainTests",
            dependencies: ["CortexExplain", "CortexNN", "CortexCore", "CortexModels", "CortexData", "CortexTestSupport", "CZlib"],
            resources: [.copy("Fixtures")]),
        .testTarget(
            name: "CortexPrivacyTests",
            dependencies: ["CortexPrivacy", "CortexNN", "CortexCore", "CortexModels", "CortexTestSupport"],
            resources: [.copy("Fixtures")]),
        .testTarget(
            name: "CortexTrainTests",
            dependencies: ["CortexTrain", "CortexData", "CortexNN", "CortexCore", "CortexTestSupport"]),
        .testTarget(
            name: "CortexDataTests",
            dependencies: ["CortexData", "CortexNN", "CortexCore", "CortexTestSupport"],
            resources: [.copy("Fixtures")]),
        .testTarget(
            name: "CortexNNTests",
            dependencies: ["CortexNN", "CortexCore", "CortexTestSupport"],
            resources: [.copy("Fixtures")]),
        .testTarget(
            name: "CortexFuzzingTests",
            dependencies: ["CortexFuzzing", "CortexCore", "CortexData", "CortexText", "CortexTestSupport"],
            resources: [.copy("Findings")]),
        .testTarget(
            name: "CortexCoreTests",
            dependencies: ["CortexCore", "CortexTestSupport"],
            resources: [.copy("Fixtures")]),
    ],
    swiftLanguageModes: [.v6]
)
