#include "daemon/sealpoold/metrics.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <httplib.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <type_traits>

#include "base/status_macros.h"
#include "base/strings.h"

namespace sealpool::daemon {
namespace {

using base::Cat;

constexpr char kContentType[] = "text/plain; version=0.0.4; charset=utf-8";

// --- Names and text -------------------------------------------------------------------------

bool IsMetricName(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

bool IsLabelName(std::string_view name) {
  if (name.empty() || name.starts_with("__")) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

std::string_view TypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
  }
  return "untyped";
}

// The series names a family renders: itself, or a histogram's three.
std::vector<std::string> SeriesNames(std::string_view name, MetricType type) {
  if (type != MetricType::kHistogram) return {std::string(name)};
  return {Cat(name, "_bucket"), Cat(name, "_sum"), Cat(name, "_count")};
}

// Checks `name` and `label_names` against the exposition format's rules; the message names
// the metric.
absl::Status CheckNames(std::string_view name, MetricType type,
                        const std::vector<std::string>& label_names) {
  if (!IsMetricName(name)) {
    return absl::InvalidArgumentError(
        Cat("metric name \"", name, "\" is not [a-zA-Z_:][a-zA-Z0-9_:]*"));
  }
  if (type == MetricType::kCounter && !name.ends_with("_total")) {
    return absl::InvalidArgumentError(Cat("counter \"", name, "\" must end in _total"));
  }
  std::set<std::string_view> seen;
  for (const std::string& label : label_names) {
    if (!IsLabelName(label)) {
      return absl::InvalidArgumentError(Cat("metric \"", name, "\": label name \"", label,
                                            "\" is not [a-zA-Z_][a-zA-Z0-9_]* or starts with __"));
    }
    if (type == MetricType::kHistogram && label == "le") {
      return absl::InvalidArgumentError(
          Cat("histogram \"", name, "\": the label \"le\" is reserved for its buckets"));
    }
    if (!seen.insert(label).second) {
      return absl::InvalidArgumentError(
          Cat("metric \"", name, "\": label name \"", label, "\" is repeated"));
    }
  }
  return absl::OkStatus();
}

void AppendEscaped(std::string& out, std::string_view text, bool quote) {
  for (const char c : text) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '"':
        out += quote ? "\\\"" : "\"";
        break;
      default:
        out += c;
    }
  }
}

void AppendHeader(std::string& out, std::string_view name, std::string_view help, MetricType type) {
  out += "# HELP ";
  out += name;
  out += ' ';
  AppendEscaped(out, help, /*quote=*/false);
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += TypeName(type);
  out += '\n';
}

// name{a="x",b="y"[,le="..."]}; no braces when there is no label at all.
template <typename Values>
void AppendSeries(std::string& out, std::string_view name,
                  const std::vector<std::string>& label_names, const Values& label_values,
                  std::string_view le = {}) {
  out += name;
  if (label_names.empty() && le.empty()) return;
  out += '{';
  for (size_t i = 0; i < label_names.size(); ++i) {
    if (i > 0) out += ',';
    out += label_names[i];
    out += "=\"";
    AppendEscaped(out, label_values[i], /*quote=*/true);
    out += '"';
  }
  if (!le.empty()) {
    if (!label_names.empty()) out += ',';
    out += "le=\"";
    out += le;
    out += '"';
  }
  out += '}';
}

std::string FormatCount(uint64_t value) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof(buf), value);
  return std::string(buf, r.ptr);
}

void AppendSample(std::string& out, std::string_view value) {
  out += ' ';
  out += value;
  out += '\n';
}

template <typename Values>
void AppendChild(std::string& out, std::string_view name, const std::vector<std::string>& labels,
                 const Values& values, const Counter& counter) {
  AppendSeries(out, name, labels, values);
  AppendSample(out, FormatCount(counter.Value()));
}

template <typename Values>
void AppendChild(std::string& out, std::string_view name, const std::vector<std::string>& labels,
                 const Values& values, const Gauge& gauge) {
  AppendSeries(out, name, labels, values);
  AppendSample(out, FormatMetricValue(gauge.Value()));
}

template <typename Values>
void AppendChild(std::string& out, std::string_view name, const std::vector<std::string>& labels,
                 const Values& values, const Histogram& histogram) {
  const Histogram::Snapshot s = histogram.Read();
  const std::string bucket = Cat(name, "_bucket");
  for (size_t i = 0; i < s.cumulative.size(); ++i) {
    const std::string le = i < histogram.upper_bounds().size()
                               ? FormatMetricValue(histogram.upper_bounds()[i])
                               : std::string("+Inf");
    AppendSeries(out, bucket, labels, values, le);
    AppendSample(out, FormatCount(s.cumulative[i]));
  }
  AppendSeries(out, Cat(name, "_sum"), labels, values);
  AppendSample(out, FormatMetricValue(s.sum));
  AppendSeries(out, Cat(name, "_count"), labels, values);
  AppendSample(out, FormatCount(s.count));
}

// --- The listen address ---------------------------------------------------------------------

struct ListenAddress {
  std::string host;  // what to bind: an IP literal
  int port = 0;
  bool loopback = false;
};

absl::StatusOr<ListenAddress> ParseListen(std::string_view listen) {
  const auto bad = [listen](std::string_view why) {
    return absl::InvalidArgumentError(Cat("metrics listen address \"", listen, "\": ", why,
                                          " (expected host:port or [ipv6]:port)"));
  };
  std::string_view host;
  std::string_view port_text;
  bool bracketed = false;
  if (listen.starts_with('[')) {
    const size_t close = listen.find(']');
    if (close == std::string_view::npos || close + 1 >= listen.size() || listen[close + 1] != ':') {
      return bad("an IPv6 address must be written [address]:port");
    }
    host = listen.substr(1, close - 1);
    port_text = listen.substr(close + 2);
    bracketed = true;
  } else {
    const size_t colon = listen.rfind(':');
    if (colon == std::string_view::npos) return bad("no port");
    host = listen.substr(0, colon);
    port_text = listen.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return bad("an IPv6 address must be in brackets");
    }
  }
  if (host.empty()) return bad("no host (0.0.0.0 or [::] listen on every interface)");

  ListenAddress out;
  const auto [end, ec] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), out.port);
  if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() ||
      out.port < 0 || out.port > 65535 || !std::isdigit(static_cast<unsigned char>(port_text[0]))) {
    return bad("the port must be a number from 0 to 65535");
  }

  const std::string host_str(host);
  if (!bracketed && host == "localhost") {
    out.host = "127.0.0.1";
    out.loopback = true;
    return out;
  }
  if (!bracketed) {
    in_addr v4{};
    if (inet_pton(AF_INET, host_str.c_str(), &v4) != 1) {
      return bad("the host must be an IP address or localhost");
    }
    const auto* b = reinterpret_cast<const unsigned char*>(&v4.s_addr);  // network order
    out.loopback = b[0] == 127;
  } else {
    in6_addr v6{};
    if (inet_pton(AF_INET6, host_str.c_str(), &v6) != 1) {
      return bad("the host in brackets must be an IPv6 address");
    }
    const unsigned char* b = v6.s6_addr;
    const bool zeros10 = std::all_of(b, b + 10, [](unsigned char x) { return x == 0; });
    const bool is_v6_loopback =
        zeros10 && b[10] == 0 && b[11] == 0 && b[12] == 0 && b[13] == 0 && b[14] == 0 && b[15] == 1;
    const bool is_v4_mapped_loopback = zeros10 && b[10] == 0xff && b[11] == 0xff && b[12] == 127;
    out.loopback = is_v6_loopback || is_v4_mapped_loopback;
  }
  out.host = host_str;
  return out;
}

// Our socket options instead of httplib's default, which sets SO_REUSEPORT: with it, a second
// server on a taken port would silently share it. SO_REUSEADDR only lets a restart bind while
// old connections linger in TIME_WAIT.
void ListenSocketOptions(int sock) {
  int yes = 1;
  setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  const int flags = fcntl(sock, F_GETFD);
  if (flags >= 0) fcntl(sock, F_SETFD, flags | FD_CLOEXEC);
}

}  // namespace

// --- Histogram ------------------------------------------------------------------------------

Histogram::Histogram(std::vector<double> upper_bounds)
    : upper_bounds_(std::move(upper_bounds)),
      counts_(std::make_unique<std::atomic<uint64_t>[]>(upper_bounds_.size() + 1)) {}

void Histogram::Observe(double value) {
  // The first bound >= value; NaN compares false with everything and lands in +Inf.
  size_t bucket = upper_bounds_.size();
  if (!std::isnan(value)) {
    bucket =
        static_cast<size_t>(std::lower_bound(upper_bounds_.begin(), upper_bounds_.end(), value) -
                            upper_bounds_.begin());
  }
  counts_[bucket].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::Read() const {
  Snapshot s;
  s.cumulative.resize(upper_bounds_.size() + 1);
  uint64_t running = 0;
  for (size_t i = 0; i < s.cumulative.size(); ++i) {
    running += counts_[i].load(std::memory_order_relaxed);
    s.cumulative[i] = running;
  }
  s.count = running;
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

// --- Families -------------------------------------------------------------------------------

template <typename Metric>
Metric& MetricFamily<Metric>::With(std::span<const std::string_view> label_values) {
  if (label_values.size() != label_names_.size()) {
    std::fprintf(stderr, "metrics: %s has %zu label(s) but With() was given %zu value(s)\n",
                 name_.c_str(), label_names_.size(), label_values.size());
    std::abort();
  }
  {
    absl::ReaderMutexLock lock(&mu_);
    auto it = children_.find(label_values);
    if (it != children_.end()) return *it->second;
  }
  absl::MutexLock lock(&mu_);
  auto it = children_.find(label_values);
  if (it == children_.end()) {
    std::unique_ptr<Metric> child;
    if constexpr (std::is_same_v<Metric, Histogram>) {
      child = std::make_unique<Histogram>(upper_bounds_);
    } else {
      child = std::make_unique<Metric>();
    }
    it = children_
             .emplace(std::vector<std::string>(label_values.begin(), label_values.end()),
                      std::move(child))
             .first;
  }
  return *it->second;
}

template <typename Metric>
void MetricFamily<Metric>::AppendText(std::string& out) const {
  AppendHeader(out, name_, help_, type_);
  absl::ReaderMutexLock lock(&mu_);
  for (const auto& [values, child] : children_) {
    AppendChild(out, name_, label_names_, values, *child);
  }
}

template class MetricFamily<Counter>;
template class MetricFamily<Gauge>;
template class MetricFamily<Histogram>;

// --- Collectors' families -------------------------------------------------------------------

void MetricsSnapshotWriter::AddGauge(std::string_view name, std::string_view help, double value) {
  AddGaugeFamily(name, help, {}, {Sample{{}, value}});
}

void MetricsSnapshotWriter::AddGaugeFamily(std::string_view name, std::string_view help,
                                           const std::vector<std::string>& label_names,
                                           const std::vector<Sample>& samples) {
  if (!Admit(name, help, MetricType::kGauge, label_names, samples)) return;
  for (const Sample& sample : samples) {
    AppendSeries(text_, name, label_names, sample.label_values);
    AppendSample(text_, FormatMetricValue(sample.value));
  }
}

void MetricsSnapshotWriter::AddCounter(std::string_view name, std::string_view help,
                                       uint64_t value) {
  if (!Admit(name, help, MetricType::kCounter, {}, {Sample{}})) return;
  text_ += name;
  AppendSample(text_, FormatCount(value));
}

bool MetricsSnapshotWriter::Admit(std::string_view name, std::string_view help, MetricType type,
                                  const std::vector<std::string>& label_names,
                                  const std::vector<Sample>& samples) {
  absl::Status status = CheckNames(name, type, label_names);
  if (status.ok() && taken_.contains(name)) {
    status = absl::AlreadyExistsError(Cat("metric \"", name, "\" is already registered"));
  }
  std::set<std::vector<std::string>> seen;
  for (const Sample& sample : samples) {
    if (!status.ok()) break;
    if (sample.label_values.size() != label_names.size()) {
      status = absl::InvalidArgumentError(Cat("a sample has ", sample.label_values.size(),
                                              " label value(s) for ", label_names.size(),
                                              " label name(s)"));
    } else if (!seen.insert(sample.label_values).second) {
      status = absl::InvalidArgumentError("two samples have the same label values");
    }
  }
  if (!status.ok()) {
    text_ += "# sealpool: collector family \"";
    AppendEscaped(text_, name, /*quote=*/true);
    text_ += "\" dropped: ";
    AppendEscaped(text_, base::StdView(status.message()), /*quote=*/false);
    text_ += '\n';
    return false;
  }
  taken_.emplace(name);
  AppendHeader(text_, name, help, type);
  return true;
}

// --- Registry -------------------------------------------------------------------------------

template <typename Metric>
absl::StatusOr<MetricFamily<Metric>*> MetricsRegistry::Add(std::string_view name,
                                                           std::string_view help, MetricType type,
                                                           std::vector<std::string> label_names,
                                                           std::vector<double> upper_bounds) {
  SEALPOOL_RETURN_IF_ERROR(CheckNames(name, type, label_names));
  if (type == MetricType::kHistogram) {
    for (size_t i = 0; i < upper_bounds.size(); ++i) {
      if (!std::isfinite(upper_bounds[i]) || (i > 0 && upper_bounds[i] <= upper_bounds[i - 1])) {
        return absl::InvalidArgumentError(
            Cat("histogram \"", name,
                "\": bucket bounds must be finite and strictly increasing"
                " (+Inf is implied)"));
      }
    }
  }
  std::vector<std::string> series = SeriesNames(name, type);
  series.emplace_back(name);
  absl::MutexLock lock(&mu_);
  for (const std::string& s : series) {
    if (taken_.contains(s)) {
      return absl::AlreadyExistsError(
          Cat("metric \"", name, "\": the name \"", s, "\" is already registered"));
    }
  }
  const bool unlabelled = label_names.empty();
  auto family = std::make_unique<MetricFamily<Metric>>(
      std::string(name), std::string(help), type, std::move(label_names), std::move(upper_bounds));
  MetricFamily<Metric>* raw = family.get();
  if (unlabelled) raw->With({});  // the single series exists (at 0) from the start
  taken_.insert(series.begin(), series.end());
  families_.emplace(std::string(name), std::move(family));
  return raw;
}

absl::StatusOr<Counter*> MetricsRegistry::AddCounter(std::string_view name, std::string_view help) {
  SEALPOOL_ASSIGN_OR_RETURN(CounterFamily * family,
                            Add<Counter>(name, help, MetricType::kCounter, {}, {}));
  return &family->With({});
}

absl::StatusOr<CounterFamily*> MetricsRegistry::AddCounterFamily(
    std::string_view name, std::string_view help, std::vector<std::string> label_names) {
  return Add<Counter>(name, help, MetricType::kCounter, std::move(label_names), {});
}

absl::StatusOr<Gauge*> MetricsRegistry::AddGauge(std::string_view name, std::string_view help) {
  SEALPOOL_ASSIGN_OR_RETURN(GaugeFamily * family,
                            Add<Gauge>(name, help, MetricType::kGauge, {}, {}));
  return &family->With({});
}

absl::StatusOr<GaugeFamily*> MetricsRegistry::AddGaugeFamily(std::string_view name,
                                                             std::string_view help,
                                                             std::vector<std::string> label_names) {
  return Add<Gauge>(name, help, MetricType::kGauge, std::move(label_names), {});
}

absl::StatusOr<Histogram*> MetricsRegistry::AddHistogram(std::string_view name,
                                                         std::string_view help,
                                                         std::vector<double> upper_bounds) {
  SEALPOOL_ASSIGN_OR_RETURN(
      HistogramFamily * family,
      Add<Histogram>(name, help, MetricType::kHistogram, {}, std::move(upper_bounds)));
  return &family->With({});
}

absl::StatusOr<HistogramFamily*> MetricsRegistry::AddHistogramFamily(
    std::string_view name, std::string_view help, std::vector<std::string> label_names,
    std::vector<double> upper_bounds) {
  return Add<Histogram>(name, help, MetricType::kHistogram, std::move(label_names),
                        std::move(upper_bounds));
}

void MetricsRegistry::AddCollector(std::function<void(MetricsSnapshotWriter&)> collector) {
  absl::MutexLock lock(&mu_);
  collectors_.push_back(std::move(collector));
}

std::string MetricsRegistry::RenderText() const {
  absl::MutexLock render_lock(&render_mu_);
  std::vector<std::function<void(MetricsSnapshotWriter&)>> collectors;
  std::set<std::string, std::less<>> taken;
  {
    absl::ReaderMutexLock lock(&mu_);
    collectors = collectors_;
    taken = taken_;
  }
  // Collectors run unlocked: they may Set() registered gauges (or even register).
  MetricsSnapshotWriter writer(std::move(taken));
  for (const auto& collector : collectors) collector(writer);

  std::string out;
  {
    absl::ReaderMutexLock lock(&mu_);
    for (const auto& [name, family] : families_) family->AppendText(out);
  }
  out += writer.text_;
  return out;
}

// --- Server ---------------------------------------------------------------------------------

MetricsServer::MetricsServer(std::unique_ptr<httplib::Server> server, int port)
    : server_(std::move(server)), port_(port) {}

MetricsServer::~MetricsServer() { Stop(); }

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(std::string_view listen,
                                                                    const MetricsRegistry* registry,
                                                                    MetricsServerOptions options) {
  if (registry == nullptr) return absl::InvalidArgumentError("metrics server: no registry");
  SEALPOOL_ASSIGN_OR_RETURN(const ListenAddress address, ParseListen(listen));
  if (!address.loopback && !options.allow_non_loopback) {
    return absl::FailedPreconditionError(
        Cat("metrics listen address \"", listen,
            "\" is not a loopback address; the endpoint is unauthenticated, so serving it on "
            "another interface must be allowed explicitly (allow_non_loopback)"));
  }

  auto server = std::make_unique<httplib::Server>();
  server->new_task_queue = [] { return new httplib::ThreadPool(2); };
  server->set_socket_options(ListenSocketOptions);
  // One request per connection and a short wait for it: an idle or silent client never holds
  // a worker (nor Stop()) for long. Scrapes are seconds apart; keep-alive would gain nothing.
  server->set_keep_alive_max_count(1);
  server->set_keep_alive_timeout(2);
  server->set_read_timeout(5, 0);
  server->set_write_timeout(5, 0);
  server->Get("/metrics", [registry](const httplib::Request&, httplib::Response& res) {
    res.set_content(registry->RenderText(), kContentType);
  });

  errno = 0;
  int port = -1;
  if (address.port == 0) {
    port = server->bind_to_any_port(address.host);
  } else if (server->bind_to_port(address.host, address.port)) {
    port = address.port;
  }
  if (port <= 0) {
    const int err = errno;
    return absl::UnavailableError(Cat("cannot listen for metrics on ", listen, ": ",
                                      err != 0 ? std::strerror(err) : "bind failed"));
  }

  std::unique_ptr<MetricsServer> self(new MetricsServer(std::move(server), port));
  {
    absl::MutexLock lock(&self->mu_);
    self->thread_ = std::thread([srv = self->server_.get(), exited = &self->exited_] {
      srv->listen_after_bind();
      exited->store(true);
    });
  }
  // httplib's stop() only acts once the loop runs: wait for it, so Stop() cannot miss it.
  while (!self->server_->is_running() && !self->exited_.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (!self->server_->is_running()) {
    self->Stop();
    return absl::UnavailableError(Cat("metrics server on ", listen, " stopped at start"));
  }
  return self;
}

void MetricsServer::Stop() {
  absl::MutexLock lock(&mu_);
  if (!thread_.joinable()) return;
  server_->stop();
  thread_.join();
}

// --- sealpoold's metric set -----------------------------------------------------------------

const std::vector<double>& LatencyBuckets() {
  static const auto* const kBuckets = new std::vector<double>{
      0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
  return *kBuckets;
}

std::string_view StatusCodeLabel(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return "OK";
    case absl::StatusCode::kCancelled:
      return "CANCELLED";
    case absl::StatusCode::kUnknown:
      return "UNKNOWN";
    case absl::StatusCode::kInvalidArgument:
      return "INVALID_ARGUMENT";
    case absl::StatusCode::kDeadlineExceeded:
      return "DEADLINE_EXCEEDED";
    case absl::StatusCode::kNotFound:
      return "NOT_FOUND";
    case absl::StatusCode::kAlreadyExists:
      return "ALREADY_EXISTS";
    case absl::StatusCode::kPermissionDenied:
      return "PERMISSION_DENIED";
    case absl::StatusCode::kResourceExhausted:
      return "RESOURCE_EXHAUSTED";
    case absl::StatusCode::kFailedPrecondition:
      return "FAILED_PRECONDITION";
    case absl::StatusCode::kAborted:
      return "ABORTED";
    case absl::StatusCode::kOutOfRange:
      return "OUT_OF_RANGE";
    case absl::StatusCode::kUnimplemented:
      return "UNIMPLEMENTED";
    case absl::StatusCode::kInternal:
      return "INTERNAL";
    case absl::StatusCode::kUnavailable:
      return "UNAVAILABLE";
    case absl::StatusCode::kDataLoss:
      return "DATA_LOSS";
    case absl::StatusCode::kUnauthenticated:
      return "UNAUTHENTICATED";
    default:
      return "UNKNOWN";
  }
}

std::string FormatMetricValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  constexpr double kExact = 9007199254740992.0;  // 2^53: every integer below is a double
  if (std::trunc(value) == value && std::fabs(value) < kExact) {
    return std::to_string(static_cast<int64_t>(value));
  }
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof(buf), value);
  return std::string(buf, r.ptr);
}

absl::StatusOr<PoolMetrics> PoolMetrics::Register(MetricsRegistry& r) {
  PoolMetrics m;
  SEALPOOL_ASSIGN_OR_RETURN(
      m.bytes_received,
      r.AddCounter("sealpool_bytes_received_total",
                   "Image bytes received from clients by backup streams (before dedup)."));
  SEALPOOL_ASSIGN_OR_RETURN(
      m.bytes_stored,
      r.AddCounter("sealpool_bytes_stored_total",
                   "Bytes written to containers for new segments (compressed and sealed)."));
  SEALPOOL_ASSIGN_OR_RETURN(
      m.segments_new,
      r.AddCounter("sealpool_segments_new_total", "Segments stored because no copy existed."));
  SEALPOOL_ASSIGN_OR_RETURN(
      m.segments_shared,
      r.AddCounter("sealpool_segments_shared_total",
                   "Segments received that the pool already held (deduplicated)."));
  SEALPOOL_ASSIGN_OR_RETURN(m.images_written, r.AddCounter("sealpool_images_written_total",
                                                           "Images committed by backup streams."));
  SEALPOOL_ASSIGN_OR_RETURN(m.images_restored, r.AddCounter("sealpool_images_restored_total",
                                                            "Restore streams read to the end."));
  SEALPOOL_ASSIGN_OR_RETURN(
      m.images_deleted,
      r.AddCounter("sealpool_images_deleted_total", "Images deleted (by request or expiry)."));
  SEALPOOL_ASSIGN_OR_RETURN(
      m.bytes_restored,
      r.AddCounter("sealpool_bytes_restored_total", "Image bytes sent to clients by restores."));
  SEALPOOL_ASSIGN_OR_RETURN(GaugeFamily * streams,
                            r.AddGaugeFamily("sealpool_active_streams",
                                             "Backup and restore streams open now.", {"kind"}));
  m.active_backup_streams = &streams->With({"backup"});
  m.active_restore_streams = &streams->With({"restore"});

  SEALPOOL_ASSIGN_OR_RETURN(
      m.request_duration,
      r.AddHistogramFamily("sealpool_request_duration_seconds",
                           "Time from an RPC's start to its status, by gRPC method.", {"method"},
                           LatencyBuckets()));
  SEALPOOL_ASSIGN_OR_RETURN(
      m.requests,
      r.AddCounterFamily("sealpool_requests_total",
                         "RPCs finished, by gRPC method and status code.", {"method", "code"}));

  SEALPOOL_ASSIGN_OR_RETURN(
      m.kms_calls, r.AddCounterFamily("sealpool_kms_calls_total",
                                      "Calls to sealkmsd, by gRPC status code.", {"result"}));
  m.kms_calls->With({"OK"});
  SEALPOOL_ASSIGN_OR_RETURN(
      m.kms_call_duration,
      r.AddHistogram("sealpool_kms_call_duration_seconds",
                     "Duration of calls to sealkmsd, retries included.", LatencyBuckets()));
  SEALPOOL_ASSIGN_OR_RETURN(
      m.kms_reachable, r.AddGauge("sealpool_kms_reachable",
                                  "Key service state: 2 reachable, 1 degraded, 0 unreachable."));
  SEALPOOL_ASSIGN_OR_RETURN(
      m.kek_cache_misses,
      r.AddCounter("sealpool_kek_cache_misses_total",
                   "KEKs and fingerprint keys the pool did not hold unwrapped and asked the key "
                   "service for."));

  SEALPOOL_ASSIGN_OR_RETURN(
      m.delete_queue_jobs,
      r.AddGauge("sealpool_delete_queue_jobs", "Image deletions queued and not yet done."));
  SEALPOOL_ASSIGN_OR_RETURN(m.compaction_running, r.AddGauge("sealpool_compaction_running",
                                                             "1 while a compaction runs, else 0."));
  SEALPOOL_ASSIGN_OR_RETURN(
      m.compaction_containers_done,
      r.AddGauge("sealpool_compaction_containers_done",
                 "Containers rewritten by the running (or last) compaction."));
  SEALPOOL_ASSIGN_OR_RETURN(m.compaction_bytes_reclaimed,
                            r.AddCounter("sealpool_compaction_bytes_reclaimed_total",
                                         "Container bytes freed by compaction."));
  SEALPOOL_ASSIGN_OR_RETURN(
      m.space_high_water,
      r.AddGauge("sealpool_space_high_water",
                 "1 while the pool's file system is above high_water and ingest is refused."));

  SEALPOOL_ASSIGN_OR_RETURN(
      m.pool_logical_bytes,
      r.AddGauge("sealpool_pool_logical_bytes", "Sum of the sizes of the pool's images."));
  SEALPOOL_ASSIGN_OR_RETURN(
      m.pool_stored_bytes,
      r.AddGauge("sealpool_pool_stored_bytes",
                 "Container bytes of the pool's live segment records."));
  SEALPOOL_ASSIGN_OR_RETURN(m.pool_containers,
                            r.AddGauge("sealpool_pool_containers", "Container files in the pool."));
  SEALPOOL_ASSIGN_OR_RETURN(m.pool_images,
                            r.AddGauge("sealpool_pool_images", "Images in the pool."));
  return m;
}

void PoolMetrics::RecordRequest(std::string_view method, absl::StatusCode code,
                                absl::Duration elapsed) const {
  requests->With({method, StatusCodeLabel(code)}).Inc();
  request_duration->With({method}).ObserveDuration(elapsed);
}

void PoolMetrics::RecordKmsCall(absl::StatusCode code, absl::Duration elapsed) const {
  kms_calls->With({StatusCodeLabel(code)}).Inc();
  kms_call_duration->ObserveDuration(elapsed);
}

}  // namespace sealpool::daemon
