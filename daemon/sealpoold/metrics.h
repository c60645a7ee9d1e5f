// sealpoold's metrics: a registry of Prometheus counters, gauges and histograms, rendered in the
// text exposition format 0.0.4, and a small HTTP server that serves them on GET /metrics.
// Every metric sealpoold exports, with its labels and meaning: docs/metrics.md.
//
//   MetricsRegistry registry;
//   SEALPOOL_ASSIGN_OR_RETURN(PoolMetrics metrics, PoolMetrics::Register(registry));
//   registry.AddCollector([&](MetricsSnapshotWriter&) {            // run on every scrape
//     metrics.pool_images->Set(static_cast<double>(pool.Stats().images));
//   });
//   SEALPOOL_ASSIGN_OR_RETURN(auto server, MetricsServer::Start("127.0.0.1:9464", &registry));
//   metrics.bytes_received->Inc(n);                                  // lock-free, any thread
//   metrics.RecordRequest("Backup", absl::StatusCode::kOk, elapsed);
//
// Ownership: the registry owns every family and child it hands out; the pointers and
// references stay valid as long as the registry lives. The server borrows the registry, which
// must outlive it (or its Stop()).
//
// Thread safety: everything here is thread-safe. Counter, Gauge and Histogram updates are
// lock-free atomics (relaxed: a scrape sees each value, not a consistent cut across metrics).
// A family's With() takes a reader lock (a writer lock the first time a label-value tuple is
// seen); callers on a hot path keep the returned reference instead of calling With() again.
#ifndef SEALPOOL_DAEMON_SEALPOOLD_METRICS_H_
#define SEALPOOL_DAEMON_SEALPOOLD_METRICS_H_

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace httplib {
class Server;
}  // namespace httplib

namespace sealpool::daemon {

enum class MetricType { kCounter, kGauge, kHistogram };

// A monotonic count (bytes, requests). Starts at 0.
class Counter {
 public:
  Counter() = default;
  Counter(const Counter&) = delete;
  Counter& operator=(const Counter&) = delete;

  void Inc(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

// A value that goes up and down (streams open, queue length). Starts at 0.
class Gauge {
 public:
  Gauge() = default;
  Gauge(const Gauge&) = delete;
  Gauge& operator=(const Gauge&) = delete;

  void Set(double value) { value_.store(value, std::memory_order_relaxed); }
  void Add(double delta) { value_.fetch_add(delta, std::memory_order_relaxed); }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

// Observations counted into buckets with fixed upper bounds (`le`, inclusive), plus +Inf, with
// their count and sum. Observe() is a binary search and two atomic adds: cheap enough per gRPC
// message.
//
// Invariants: counts_ holds upper_bounds_.size() + 1 per-bucket (not cumulative) counts, the
// last one for +Inf (and NaN); the count is derived from them when read, so a scrape's _count
// always equals its +Inf bucket. sum_ is updated after the bucket, without a common lock: a
// scrape racing Observe() may see a sum that lags its count by the observations in flight.
class Histogram {
 public:
  // `upper_bounds` strictly increasing and finite (MetricsRegistry checks this).
  explicit Histogram(std::vector<double> upper_bounds);
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  void Observe(double value);
  // Observe(seconds): for the *_seconds histograms.
  void ObserveDuration(absl::Duration d) { Observe(absl::ToDoubleSeconds(d)); }

  struct Snapshot {
    std::vector<uint64_t> cumulative;  // one per upper bound, then +Inf (== count)
    uint64_t count = 0;
    double sum = 0;
  };
  Snapshot Read() const;
  const std::vector<double>& upper_bounds() const { return upper_bounds_; }

 private:
  const std::vector<double> upper_bounds_;
  const std::unique_ptr<std::atomic<uint64_t>[]> counts_;
  std::atomic<double> sum_{0.0};
};

namespace metrics_internal {

// Orders label-value tuples (vector<string>) and looks them up by span<string_view> without
// building a key.
struct LabelValuesLess {
  using is_transparent = void;
  template <typename A, typename B>
  bool operator()(const A& a, const B& b) const {
    return std::lexicographical_compare(
        a.begin(), a.end(), b.begin(), b.end(),
        [](const auto& x, const auto& y) { return std::string_view(x) < std::string_view(y); });
  }
};

// What the registry keeps of a family of any type.
class FamilyBase {
 public:
  FamilyBase(std::string name, std::string help, MetricType type,
             std::vector<std::string> label_names)
      : name_(std::move(name)),
        help_(std::move(help)),
        type_(type),
        label_names_(std::move(label_names)) {}
  virtual ~FamilyBase() = default;

  const std::string& name() const { return name_; }
  MetricType type() const { return type_; }
  const std::vector<std::string>& label_names() const { return label_names_; }
  // Appends # HELP, # TYPE and every child's samples, children in label-value order.
  virtual void AppendText(std::string& out) const = 0;

 protected:
  const std::string name_;
  const std::string help_;
  const MetricType type_;
  const std::vector<std::string> label_names_;
};

}  // namespace metrics_internal

// The metrics of one name, one child per tuple of label values. A family without labels has a
// single child (the registry's Add{Counter,Gauge,Histogram} return it directly).
template <typename Metric>
class MetricFamily final : public metrics_internal::FamilyBase {
 public:
  // The child for `label_values`, one per label name in registration order, created (at zero)
  // the first time and the same object afterwards. Any string is a valid label value; keep the
  // set of values small and bounded (each tuple is a time series kept forever).
  // A count of values other than label_names().size() is a programming error: it aborts,
  // naming the family.
  Metric& With(std::initializer_list<std::string_view> label_values) {
    return With(std::span<const std::string_view>(label_values.begin(), label_values.size()));
  }
  Metric& With(std::span<const std::string_view> label_values);

  // Constructed by MetricsRegistry only (public for std::make_unique).
  MetricFamily(std::string name, std::string help, MetricType type,
               std::vector<std::string> label_names, std::vector<double> upper_bounds)
      : FamilyBase(std::move(name), std::move(help), type, std::move(label_names)),
        upper_bounds_(std::move(upper_bounds)) {}

  void AppendText(std::string& out) const override;

 private:
  const std::vector<double> upper_bounds_;  // histograms only
  mutable absl::Mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<Metric>, metrics_internal::LabelValuesLess>
      children_ ABSL_GUARDED_BY(mu_);
};

using CounterFamily = MetricFamily<Counter>;
using GaugeFamily = MetricFamily<Gauge>;
using HistogramFamily = MetricFamily<Histogram>;

// What a collector writes on a scrape: families whose series are only known then (one per LSU,
// per key group). Each call writes one whole family. A family that breaks the registry's rules
// (invalid or already used name, counter not ending in _total, invalid or duplicate label
// names, a sample with the wrong number of label values, two samples with the same values) is
// left out of the scrape and replaced by a comment line "# sealpool: collector family ...
// dropped: <why>", so a bad collector never makes the whole scrape unparseable.
class MetricsSnapshotWriter {
 public:
  struct Sample {
    std::vector<std::string> label_values;  // in the order of the family's label names
    double value = 0;
  };

  void AddGauge(std::string_view name, std::string_view help, double value);
  void AddGaugeFamily(std::string_view name, std::string_view help,
                      const std::vector<std::string>& label_names,
                      const std::vector<Sample>& samples);
  // `name` must end in _total.
  void AddCounter(std::string_view name, std::string_view help, uint64_t value);

 private:
  friend class MetricsRegistry;
  explicit MetricsSnapshotWriter(std::set<std::string, std::less<>> taken)
      : taken_(std::move(taken)) {}
  // Checks a family; writes its header and returns true, or writes why it is dropped.
  bool Admit(std::string_view name, std::string_view help, MetricType type,
             const std::vector<std::string>& label_names, const std::vector<Sample>& samples);

  std::set<std::string, std::less<>> taken_;  // the registry's names and the ones written here
  std::string text_;
};

// The set of families a scrape renders. Thread-safe; registration may happen at any time, also
// while a server is scraping.
class MetricsRegistry {
 public:
  MetricsRegistry() = default;
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // Registration errors, all InvalidArgument naming the metric: a name that is not
  // [a-zA-Z_:][a-zA-Z0-9_:]*, a counter whose name does not end in _total, a label name that is
  // not [a-zA-Z_][a-zA-Z0-9_]* or starts with "__", a repeated label name, the label "le" on a
  // histogram, histogram bounds that are not finite and strictly increasing (+Inf is implied:
  // do not list it). AlreadyExists when the name, or a series name it renders (a histogram's
  // <name>_bucket, _sum, _count), is already taken. `help` is free text (escaped on output).
  absl::StatusOr<Counter*> AddCounter(std::string_view name, std::string_view help);
  absl::StatusOr<CounterFamily*> AddCounterFamily(std::string_view name, std::string_view help,
                                                  std::vector<std::string> label_names);
  absl::StatusOr<Gauge*> AddGauge(std::string_view name, std::string_view help);
  absl::StatusOr<GaugeFamily*> AddGaugeFamily(std::string_view name, std::string_view help,
                                              std::vector<std::string> label_names);
  absl::StatusOr<Histogram*> AddHistogram(std::string_view name, std::string_view help,
                                          std::vector<double> upper_bounds);
  absl::StatusOr<HistogramFamily*> AddHistogramFamily(std::string_view name, std::string_view help,
                                                      std::vector<std::string> label_names,
                                                      std::vector<double> upper_bounds);

  // `collector` runs on every RenderText(), in the order added, before the registered families
  // are read: it may Set() registered gauges (the pool's stats) and they show in that scrape,
  // and it may write families of its own to the writer. Scrapes are serialized, so a collector
  // never runs concurrently with itself; it must not call RenderText() and should be quick
  // (it delays the scrape). It must stay callable as long as the registry lives.
  void AddCollector(std::function<void(MetricsSnapshotWriter&)> collector);

  // The text exposition format 0.0.4: the registered families in name order, each with
  // # HELP and # TYPE, then the collectors' families.
  std::string RenderText() const;

 private:
  template <typename Metric>
  absl::StatusOr<MetricFamily<Metric>*> Add(std::string_view name, std::string_view help,
                                            MetricType type, std::vector<std::string> label_names,
                                            std::vector<double> upper_bounds);

  mutable absl::Mutex render_mu_ ABSL_ACQUIRED_BEFORE(mu_);  // serializes scrapes
  mutable absl::Mutex mu_;
  std::map<std::string, std::unique_ptr<metrics_internal::FamilyBase>, std::less<>> families_
      ABSL_GUARDED_BY(mu_);
  // Every series name the families render (a histogram's three and its family name).
  std::set<std::string, std::less<>> taken_ ABSL_GUARDED_BY(mu_);
  std::vector<std::function<void(MetricsSnapshotWriter&)>> collectors_ ABSL_GUARDED_BY(mu_);
};

struct MetricsServerOptions {
  // The endpoint is unauthenticated and unencrypted: by default only a loopback address
  // (127.0.0.0/8, ::1, localhost) is accepted. Set to serve on another interface, behind a
  // firewall or a TLS-terminating proxy.
  bool allow_non_loopback = false;
};

// Serves GET (and HEAD) /metrics with the registry's RenderText() as
// "text/plain; version=0.0.4; charset=utf-8", and 404 for every other path, on threads of its
// own (one listener, two workers). Thread-safe.
class MetricsServer {
 public:
  // Binds `listen` ("host:port", "[v6]:port"; host an IP address or "localhost"; port 0 picks a
  // free one, see port()) and starts serving; the socket is listening when this returns.
  // `registry` is borrowed and must outlive the server.
  // Errors: InvalidArgument for a malformed address; FailedPrecondition for a non-loopback
  // address without options.allow_non_loopback; Unavailable when the address cannot be bound
  // (in use, not local), naming it and the cause. The port is bound exclusively (no
  // SO_REUSEPORT), so a second server on a taken port fails instead of sharing it.
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(std::string_view listen,
                                                              const MetricsRegistry* registry,
                                                              MetricsServerOptions options = {});

  ~MetricsServer();  // Stop()s
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // The bound port (the chosen one when `listen` said port 0).
  int port() const { return port_; }

  // Closes the listening socket and waits for the threads; idempotent, callable from any
  // thread but the server's own. Returns at once when no connection is open; a connection that
  // has not sent its request yet is waited for at most 2 s, a request being read or written at
  // most the 5 s read/write timeouts (connections carry one request: no keep-alive).
  void Stop();

 private:
  MetricsServer(std::unique_ptr<httplib::Server> server, int port);

  const std::unique_ptr<httplib::Server> server_;
  const int port_;
  absl::Mutex mu_;
  std::thread thread_ ABSL_GUARDED_BY(mu_);
  std::atomic<bool> exited_{false};  // the listener thread has returned
};

// sealpoold's own metrics, registered in one place (names, help, labels, buckets); every
// pointer is owned by the registry. The meaning of each: docs/metrics.md.
struct PoolMetrics {
  // Registers every metric below in `registry` (AlreadyExists if called twice on one registry).
  // Pre-creates the label values known in advance so their series exist at 0.
  static absl::StatusOr<PoolMetrics> Register(MetricsRegistry& registry);

  // requests_total{method, code} and request_duration_seconds{method} for one finished RPC;
  // `method` is the gRPC method's short name ("Backup").
  void RecordRequest(std::string_view method, absl::StatusCode code, absl::Duration elapsed) const;
  // kms_calls_total{result} and kms_call_duration_seconds for one call to sealkmsd.
  void RecordKmsCall(absl::StatusCode code, absl::Duration elapsed) const;

  // Values of kms_reachable, mapping kms::KmsReachability.
  static constexpr double kKmsUnreachable = 0;
  static constexpr double kKmsDegraded = 1;
  static constexpr double kKmsReachable = 2;

  // Ingest and restore.
  Counter* bytes_received = nullptr;   // sealpool_bytes_received_total
  Counter* bytes_stored = nullptr;     // sealpool_bytes_stored_total
  Counter* segments_new = nullptr;     // sealpool_segments_new_total
  Counter* segments_shared = nullptr;  // sealpool_segments_shared_total
  Counter* images_written = nullptr;   // sealpool_images_written_total
  Counter* images_restored = nullptr;  // sealpool_images_restored_total
  Counter* images_deleted = nullptr;   // sealpool_images_deleted_total
  Counter* bytes_restored = nullptr;   // sealpool_bytes_restored_total
  // sealpool_active_streams{kind="backup"|"restore"}
  Gauge* active_backup_streams = nullptr;
  Gauge* active_restore_streams = nullptr;
  // The API.
  HistogramFamily* request_duration = nullptr;  // sealpool_request_duration_seconds{method}
  CounterFamily* requests = nullptr;            // sealpool_requests_total{method, code}
  // The key service.
  CounterFamily* kms_calls = nullptr;      // sealpool_kms_calls_total{result}
  Histogram* kms_call_duration = nullptr;  // sealpool_kms_call_duration_seconds
  Gauge* kms_reachable = nullptr;          // sealpool_kms_reachable: kKms* above
  Counter* kek_cache_misses = nullptr;     // sealpool_kek_cache_misses_total
  // Background work.
  Gauge* delete_queue_jobs = nullptr;             // sealpool_delete_queue_jobs
  Gauge* compaction_running = nullptr;            // sealpool_compaction_running (0/1)
  Gauge* compaction_containers_done = nullptr;    // sealpool_compaction_containers_done
  Counter* compaction_bytes_reclaimed = nullptr;  // sealpool_compaction_bytes_reclaimed_total
  Gauge* space_high_water = nullptr;              // sealpool_space_high_water (0/1)
  // The pool's totals: set by a collector at scrape time.
  Gauge* pool_logical_bytes = nullptr;  // sealpool_pool_logical_bytes
  Gauge* pool_stored_bytes = nullptr;   // sealpool_pool_stored_bytes
  Gauge* pool_containers = nullptr;     // sealpool_pool_containers
  Gauge* pool_images = nullptr;         // sealpool_pool_images
};

// Upper bounds (seconds) of the latency histograms: 1 ms to 60 s, roughly 1-2.5-5 per decade.
const std::vector<double>& LatencyBuckets();

// The gRPC name of a status code ("OK", "NOT_FOUND", "DEADLINE_EXCEEDED"): the `code` and
// `result` label values. absl and gRPC codes map one to one; an unknown code gives "UNKNOWN".
std::string_view StatusCodeLabel(absl::StatusCode code);

// A number as the text format writes it: integral values below 2^53 without exponent or point
// ("1234"), others the shortest decimal that parses back exactly ("0.001", "1.5e+20"), "+Inf",
// "-Inf", "NaN". Exposed for tests.
std::string FormatMetricValue(double value);

}  // namespace sealpool::daemon

#endif  // SEALPOOL_DAEMON_SEALPOOLD_METRICS_H_
