//! `/metrics`: requests by route and status, latency histograms by route, errors, and the
//! inference line, in the Prometheus (OpenMetrics) text format.

use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    /// The route's pattern (`/api/items/{id}`), not the path: ids would explode the series.
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    errors: Family<RequestLabels, Counter>,
    running: Gauge<i64, AtomicI64>,
}

fn latency_histogram() -> Histogram {
    // 0.5 ms … ~16 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

impl Metrics {
    pub fn new(images: usize, waiting: Arc<std::sync::atomic::AtomicUsize>) -> Self {
        let mut registry = Registry::with_prefix("lookbook");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(latency_histogram as fn() -> Histogram);
        let errors = Family::<RequestLabels, Counter>::default();
        let running = Gauge::<i64, AtomicI64>::default();
        registry.register("http_requests", "HTTP requests answered", requests.clone());
        registry.register(
            "http_request_duration_seconds",
            "Time from request to response, by route",
            latency.clone(),
        );
        registry.register(
            "http_errors",
            "Requests answered with a 4xx or 5xx status",
            errors.clone(),
        );
        registry.register("inference_running", "Queries running on the model now", running.clone());
        let images_gauge = Gauge::<i64, AtomicI64>::default();
        images_gauge.set(images as i64);
        registry.register("index_images", "Images in the served index", images_gauge);
        registry.register(
            "inference_waiting",
            "Queries waiting for a free inference slot",
            WaitingGauge(waiting),
        );
        Metrics {
            registry,
            requests,
            latency,
            errors,
            running,
        }
    }

    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }

    /// Counts a running query until the guard drops.
    pub fn inference_running(&self) -> RunningGuard<'_> {
        self.running.inc();
        RunningGuard(&self.running)
    }
}

pub struct RunningGuard<'a>(&'a Gauge<i64, AtomicI64>);

impl Drop for RunningGuard<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// The line's length, read when scraped.
#[derive(Debug)]
struct WaitingGauge(Arc<std::sync::atomic::AtomicUsize>);

impl prometheus_client::encoding::EncodeMetric for WaitingGauge {
    fn encode(&self, mut encoder: prometheus_client::encoding::MetricEncoder) -> std::fmt::Result {
        encoder.encode_gauge(&(self.0.load(std::sync::atomic::Ordering::Relaxed) as i64))
    }

    fn metric_type(&self) -> prometheus_client::metrics::MetricType {
        prometheus_client::metrics::MetricType::Gauge
    }
}

impl prometheus_client::metrics::TypedMetric for WaitingGauge {}

/// Middleware: counts and times every request.
pub async fn track(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let labels = RequestLabels { method, route, status };
    metrics.requests.get_or_create(&labels).inc();
    if status >= 400 {
        metrics.errors.get_or_create(&labels).inc();
    }
    metrics
        .latency
        .get_or_create(&RouteLabels { route: labels.route })
        .observe(start.elapsed().as_secs_f64());
    response
}
