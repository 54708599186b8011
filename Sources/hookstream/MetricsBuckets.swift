import Prometheus

/// The Prometheus factory `serve` bootstraps swift-metrics with, and its histogram buckets.
enum MetricsBuckets {
    static func factory(registry: PrometheusCollectorRegistry) -> PrometheusMetricsFactory {
        var factory = PrometheusMetricsFactory(registry: registry)
        // A commit takes tens of microseconds (WAL append) to tens of milliseconds (an fsync with store.sync: full).
        factory.durationHistogramBuckets["hookstream_store_commit_seconds"] = [
            .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2.5),
            .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .seconds(1),
        ]
        return factory
    }
}
