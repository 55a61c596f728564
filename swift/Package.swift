// swift-tools-version:5.9
// Swift wrapper over the installed libneedle (C API in needle.h), found with pkg-config.
import PackageDescription

let package = Package(
    name: "Needle",
    products: [
        .library(name: "Needle", targets: ["Needle"]),
    ],
    targets: [
        // The C API: a module map over needle.h; include and link flags come from needle.pc.
        .systemLibrary(
            name: "CNeedle",
            path: "Sources/CNeedle",
            pkgConfig: "needle",
            providers: []
        ),
        .target(
            name: "Needle",
            dependencies: ["CNeedle"],
            path: "Sources/Needle"
        ),
        .testTarget(
            name: "NeedleTests",
            dependencies: ["Needle"],
            path: "Tests/NeedleTests"
        ),
    ]
)
