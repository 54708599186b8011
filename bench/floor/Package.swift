// swift-tools-version:6.2
import PackageDescription

// The NIO floor: the least an SSE pub/sub server built on SwiftNIO's HTTP/1.1 pipeline can do for
// bench/fanout's harness (see README.md). Not part of hookstream; built and run by `run.py` only.
let package = Package(
    name: "nio-floor",
    dependencies: [
        // The same requirements as hookstream's Package.swift, so both resolve to the same releases.
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio-http2.git", from: "1.46.0"),
    ],
    targets: [
        .executableTarget(
            name: "nio-floor",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
            ]
        )
    ]
)
