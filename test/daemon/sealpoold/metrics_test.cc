// The metrics registry (names, families, the text exposition format 0.0.4 as golden strings),
// collectors, sealpoold's metric set, and the /metrics server on loopback queried with
// httplib's client.
#include "daemon/sealpoold/metrics.h"

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace sealpool::test {
namespace {

using absl::StatusCode;
using daemon::Counter;
using daemon::CounterFamily;
using daemon::Gauge;
using daemon::GaugeFamily;
using daemon::Histogram;
using daemon::HistogramFamily;
using daemon::MetricsRegistry;
using daemon::MetricsServer;
using daemon::MetricsServerOptions;
using daemon::MetricsSnapshotWriter;
using daemon::PoolMetrics;

template <typename T>
T Must(absl::StatusOr<T> v) {
  INFO(v.status().ToString());
  REQUIRE(v.ok());
  return *std::move(v);
}

std::string Message(const absl::Status& s) { return std::string(s.message()); }

// GET `path` from the server on 127.0.0.1:`port`.
httplib::Result Get(int port, const std::string& path) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(2, 0);
  client.set_read_timeout(5, 0);
  return client.Get(path.c_str());
}

TEST_CASE("a counter renders its help, type and value", "[metrics]") {
  MetricsRegistry r;
  Counter* c = Must(r.AddCounter("jobs_done_total", "Jobs done."));
  c->Inc();
  c->Inc(41);
  CHECK(c->Value() == 42);
  CHECK(r.RenderText() ==
        "# HELP jobs_done_total Jobs done.\n"
        "# TYPE jobs_done_total counter\n"
        "jobs_done_total 42\n");
}

TEST_CASE("a counter beyond 2^53 renders exactly, without exponent", "[metrics]") {
  MetricsRegistry r;
  Counter* c = Must(r.AddCounter("big_total", "Big."));
  c->Inc(18446744073709551615ull);
  CHECK(r.RenderText() ==
        "# HELP big_total Big.\n"
        "# TYPE big_total counter\n"
        "big_total 18446744073709551615\n");
}

TEST_CASE("a gauge renders set and added values, families in name order", "[metrics]") {
  MetricsRegistry r;
  Gauge* queue = Must(r.AddGauge("queue_jobs", "Jobs queued."));
  Gauge* ratio = Must(r.AddGauge("a_ratio", "A ratio."));
  queue->Set(7);
  queue->Add(-2);
  ratio->Set(0.25);
  CHECK(r.RenderText() ==
        "# HELP a_ratio A ratio.\n"
        "# TYPE a_ratio gauge\n"
        "a_ratio 0.25\n"
        "# HELP queue_jobs Jobs queued.\n"
        "# TYPE queue_jobs gauge\n"
        "queue_jobs 5\n");
}

TEST_CASE("a labelled family renders one series per label-value tuple, sorted", "[metrics]") {
  MetricsRegistry r;
  CounterFamily* f = Must(r.AddCounterFamily("rpc_total", "RPCs.", {"method", "code"}));
  CHECK(r.RenderText() == "# HELP rpc_total RPCs.\n# TYPE rpc_total counter\n");
  f->With({"Restore", "OK"}).Inc(3);
  f->With({"Backup", "UNAVAILABLE"}).Inc();
  f->With({"Backup", "OK"}).Inc(2);
  CHECK(&f->With({"Backup", "OK"}) == &f->With({"Backup", "OK"}));
  CHECK(r.RenderText() ==
        "# HELP rpc_total RPCs.\n"
        "# TYPE rpc_total counter\n"
        "rpc_total{method=\"Backup\",code=\"OK\"} 2\n"
        "rpc_total{method=\"Backup\",code=\"UNAVAILABLE\"} 1\n"
        "rpc_total{method=\"Restore\",code=\"OK\"} 3\n");
}

TEST_CASE("label values and help text are escaped", "[metrics]") {
  MetricsRegistry r;
  GaugeFamily* f =
      Must(r.AddGaugeFamily("lsu_bytes", "Bytes \"per\" LSU \\ one\nper line.", {"lsu"}));
  f->With({"a\\b\"c\nd"}).Set(1);
  CHECK(r.RenderText() ==
        "# HELP lsu_bytes Bytes \"per\" LSU \\\\ one\\nper line.\n"
        "# TYPE lsu_bytes gauge\n"
        "lsu_bytes{lsu=\"a\\\\b\\\"c\\nd\"} 1\n");
}

TEST_CASE("a histogram renders cumulative buckets, +Inf, sum and count", "[metrics]") {
  MetricsRegistry r;
  Histogram* h = Must(r.AddHistogram("op_seconds", "Op latency.", {0.001, 0.5, 1, 60}));
  h->Observe(0.001);  // the bound is inclusive
  h->Observe(0.25);
  h->Observe(0.75);
  h->Observe(1);
  h->ObserveDuration(absl::Seconds(120));
  CHECK(r.RenderText() ==
        "# HELP op_seconds Op latency.\n"
        "# TYPE op_seconds histogram\n"
        "op_seconds_bucket{le=\"0.001\"} 1\n"
        "op_seconds_bucket{le=\"0.5\"} 2\n"
        "op_seconds_bucket{le=\"1\"} 4\n"
        "op_seconds_bucket{le=\"60\"} 4\n"
        "op_seconds_bucket{le=\"+Inf\"} 5\n"
        "op_seconds_sum 122.001\n"
        "op_seconds_count 5\n");
}

TEST_CASE("a labelled histogram puts le after its labels", "[metrics]") {
  MetricsRegistry r;
  HistogramFamily* f = Must(r.AddHistogramFamily("rpc_seconds", "RPC latency.", {"method"}, {0.1}));
  f->With({"Backup"}).Observe(0.05);
  f->With({"Backup"}).Observe(std::numeric_limits<double>::quiet_NaN());
  CHECK(r.RenderText() ==
        "# HELP rpc_seconds RPC latency.\n"
        "# TYPE rpc_seconds histogram\n"
        "rpc_seconds_bucket{method=\"Backup\",le=\"0.1\"} 1\n"
        "rpc_seconds_bucket{method=\"Backup\",le=\"+Inf\"} 2\n"
        "rpc_seconds_sum{method=\"Backup\"} NaN\n"
        "rpc_seconds_count{method=\"Backup\"} 2\n");
}

TEST_CASE("numbers are formatted so Prometheus parses them", "[metrics]") {
  using daemon::FormatMetricValue;
  CHECK(FormatMetricValue(0) == "0");
  CHECK(FormatMetricValue(-0.0) == "0");
  CHECK(FormatMetricValue(1000000) == "1000000");
  CHECK(FormatMetricValue(1e15) == "1000000000000000");
  CHECK(FormatMetricValue(-3) == "-3");
  CHECK(FormatMetricValue(0.001) == "0.001");
  CHECK(FormatMetricValue(2.5) == "2.5");
  CHECK(FormatMetricValue(1e20) == "1e+20");
  CHECK(FormatMetricValue(std::numeric_limits<double>::infinity()) == "+Inf");
  CHECK(FormatMetricValue(-std::numeric_limits<double>::infinity()) == "-Inf");
  CHECK(FormatMetricValue(std::numeric_limits<double>::quiet_NaN()) == "NaN");
}

TEST_CASE("counters, gauges and histograms updated by 4 threads sum exactly", "[metrics]") {
  MetricsRegistry r;
  Counter* c = Must(r.AddCounter("n_total", "N."));
  Gauge* g = Must(r.AddGauge("g", "G."));
  Histogram* h = Must(r.AddHistogram("h", "H.", {1}));
  CounterFamily* f = Must(r.AddCounterFamily("by_total", "By.", {"k"}));
  constexpr int kThreads = 4;
  constexpr int kIncrements = 100000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kIncrements; ++i) {
        c->Inc();
        g->Add(1);
        h->Observe(0.5);
        f->With({i % 2 == 0 ? "even" : "odd"}).Inc();
      }
    });
  }
  std::string during = r.RenderText();  // a scrape racing the writers must not disturb them
  for (std::thread& t : threads) t.join();
  CHECK(c->Value() == kThreads * kIncrements);
  CHECK(g->Value() == kThreads * kIncrements);
  CHECK(h->Read().count == kThreads * kIncrements);
  CHECK(h->Read().sum == 0.5 * kThreads * kIncrements);
  CHECK(f->With({"even"}).Value() == kThreads * kIncrements / 2);
  CHECK(f->With({"odd"}).Value() == kThreads * kIncrements / 2);
}

TEST_CASE("a duplicate name is refused as AlreadyExists", "[metrics]") {
  MetricsRegistry r;
  REQUIRE(r.AddCounter("x_total", "X.").ok());
  CHECK(r.AddCounter("x_total", "X again.").status().code() == StatusCode::kAlreadyExists);
  CHECK(r.AddGauge("x_total", "X as a gauge.").status().code() == StatusCode::kAlreadyExists);
  // A histogram's series names are taken too, both ways.
  REQUIRE(r.AddHistogram("lat_seconds", "Latency.", {1}).ok());
  const absl::Status s = r.AddGauge("lat_seconds_count", "Clash.").status();
  CHECK(s.code() == StatusCode::kAlreadyExists);
  CHECK_THAT(Message(s), Catch::Contains("lat_seconds_count"));
  REQUIRE(r.AddGauge("q_sum", "Q.").ok());
  CHECK(r.AddHistogram("q", "Q.", {1}).status().code() == StatusCode::kAlreadyExists);
}

TEST_CASE("invalid names, labels and buckets are refused as InvalidArgument", "[metrics]") {
  MetricsRegistry r;
  for (const char* name : {"", "9lives", "has-dash", "has space", "é"}) {
    INFO(name);
    CHECK(r.AddGauge(name, "Bad.").status().code() == StatusCode::kInvalidArgument);
  }
  CHECK(r.AddGauge("ns:sub_ok_1", "Colons and digits are fine.").ok());
  const absl::Status no_total = r.AddCounter("requests", "No suffix.").status();
  CHECK(no_total.code() == StatusCode::kInvalidArgument);
  CHECK_THAT(Message(no_total), Catch::Contains("_total"));
  for (std::vector<std::string> labels :
       std::vector<std::vector<std::string>>{{"a:b"}, {"__reserved"}, {""}, {"1x"}, {"k", "k"}}) {
    CHECK(r.AddGaugeFamily("g1", "G.", labels).status().code() == StatusCode::kInvalidArgument);
  }
  CHECK(r.AddHistogramFamily("h1", "H.", {"le"}, {1}).status().code() ==
        StatusCode::kInvalidArgument);
  for (std::vector<double> bounds :
       std::vector<std::vector<double>>{{1, 1},
                                        {2, 1},
                                        {1, std::numeric_limits<double>::infinity()},
                                        {std::numeric_limits<double>::quiet_NaN()}}) {
    CHECK(r.AddHistogram("h2", "H.", bounds).status().code() == StatusCode::kInvalidArgument);
  }
  // Nothing refused was registered.
  CHECK(r.RenderText() ==
        "# HELP ns:sub_ok_1 Colons and digits are fine.\n"
        "# TYPE ns:sub_ok_1 gauge\n"
        "ns:sub_ok_1 0\n");
}

TEST_CASE("a collector runs on each scrape, sets gauges and writes families", "[metrics]") {
  MetricsRegistry r;
  Gauge* images = Must(r.AddGauge("pool_images", "Images."));
  int scrapes = 0;
  r.AddCollector([&](MetricsSnapshotWriter& w) {
    ++scrapes;
    images->Set(scrapes * 10);
    w.AddGaugeFamily("lsu_images", "Images per LSU.", {"lsu"},
                     {{{"b"}, 2}, {{"a"}, static_cast<double>(scrapes)}});
    w.AddCounter("scrapes_total", "Scrapes.", static_cast<uint64_t>(scrapes));
  });
  r.RenderText();
  CHECK(r.RenderText() ==
        "# HELP pool_images Images.\n"
        "# TYPE pool_images gauge\n"
        "pool_images 20\n"
        "# HELP lsu_images Images per LSU.\n"
        "# TYPE lsu_images gauge\n"
        "lsu_images{lsu=\"b\"} 2\n"
        "lsu_images{lsu=\"a\"} 2\n"
        "# HELP scrapes_total Scrapes.\n"
        "# TYPE scrapes_total counter\n"
        "scrapes_total 2\n");
}

TEST_CASE("a collector's bad family is dropped with a comment, the rest is served", "[metrics]") {
  MetricsRegistry r;
  REQUIRE(r.AddGauge("taken", "Taken.").ok());
  r.AddCollector([](MetricsSnapshotWriter& w) {
    w.AddGauge("taken", "Again.", 1);
    w.AddGauge("bad-name", "Bad.", 1);
    w.AddCounter("no_suffix", "Bad.", 1);
    w.AddGaugeFamily("dup", "Dup.", {"k"}, {{{"x"}, 1}, {{"x"}, 2}});
    w.AddGaugeFamily("arity", "Arity.", {"k"}, {{{"x", "y"}, 1}});
    w.AddGauge("fine", "Fine.", 3);
    w.AddGauge("fine", "Twice.", 4);
  });
  CHECK(r.RenderText() ==
        "# HELP taken Taken.\n"
        "# TYPE taken gauge\n"
        "taken 0\n"
        "# sealpool: collector family \"taken\" dropped: metric \"taken\" is already "
        "registered\n"
        "# sealpool: collector family \"bad-name\" dropped: metric name \"bad-name\" is not "
        "[a-zA-Z_:][a-zA-Z0-9_:]*\n"
        "# sealpool: collector family \"no_suffix\" dropped: counter \"no_suffix\" must end in "
        "_total\n"
        "# sealpool: collector family \"dup\" dropped: two samples have the same label values\n"
        "# sealpool: collector family \"arity\" dropped: a sample has 2 label value(s) for 1 "
        "label name(s)\n"
        "# HELP fine Fine.\n"
        "# TYPE fine gauge\n"
        "fine 3\n"
        "# sealpool: collector family \"fine\" dropped: metric \"fine\" is already registered\n");
}

TEST_CASE("sealpoold's metric set registers once, with its series at zero", "[metrics]") {
  MetricsRegistry r;
  PoolMetrics m = Must(PoolMetrics::Register(r));
  CHECK(PoolMetrics::Register(r).status().code() == StatusCode::kAlreadyExists);
  m.bytes_received->Inc(100);
  m.active_backup_streams->Add(1);
  m.RecordRequest("Backup", StatusCode::kResourceExhausted, absl::Milliseconds(3));
  m.RecordKmsCall(StatusCode::kUnavailable, absl::Seconds(2));
  m.kms_reachable->Set(PoolMetrics::kKmsDegraded);
  const std::string text = r.RenderText();
  for (const char* line : {
           "sealpool_bytes_received_total 100\n",
           "sealpool_active_streams{kind=\"backup\"} 1\n",
           "sealpool_active_streams{kind=\"restore\"} 0\n",
           "sealpool_requests_total{method=\"Backup\",code=\"RESOURCE_EXHAUSTED\"} 1\n",
           "sealpool_request_duration_seconds_bucket{method=\"Backup\",le=\"0.0025\"} 0\n",
           "sealpool_request_duration_seconds_bucket{method=\"Backup\",le=\"0.005\"} 1\n",
           "sealpool_request_duration_seconds_bucket{method=\"Backup\",le=\"+Inf\"} 1\n",
           "sealpool_kms_calls_total{result=\"OK\"} 0\n",
           "sealpool_kms_calls_total{result=\"UNAVAILABLE\"} 1\n",
           "sealpool_kms_call_duration_seconds_bucket{le=\"2.5\"} 1\n",
           "sealpool_kms_reachable 1\n",
           "# TYPE sealpool_pool_logical_bytes gauge\n",
       }) {
    CHECK_THAT(text, Catch::Contains(line));
  }
  for (const char* name : {"sealpool_bytes_received_total",
                           "sealpool_bytes_stored_total",
                           "sealpool_segments_new_total",
                           "sealpool_segments_shared_total",
                           "sealpool_images_written_total",
                           "sealpool_images_restored_total",
                           "sealpool_images_deleted_total",
                           "sealpool_bytes_restored_total",
                           "sealpool_active_streams",
                           "sealpool_request_duration_seconds",
                           "sealpool_requests_total",
                           "sealpool_kms_calls_total",
                           "sealpool_kms_call_duration_seconds",
                           "sealpool_kms_reachable",
                           "sealpool_kek_cache_misses_total",
                           "sealpool_delete_queue_jobs",
                           "sealpool_compaction_running",
                           "sealpool_compaction_containers_done",
                           "sealpool_compaction_bytes_reclaimed_total",
                           "sealpool_space_high_water",
                           "sealpool_pool_logical_bytes",
                           "sealpool_pool_stored_bytes",
                           "sealpool_pool_containers",
                           "sealpool_pool_images"}) {
    CHECK_THAT(text, Catch::Contains(std::string("# HELP ") + name + " "));
  }
}

TEST_CASE("the server answers /metrics on loopback with the text format's content type",
          "[metrics][server]") {
  MetricsRegistry r;
  Must(r.AddCounter("hits_total", "Hits."))->Inc(5);
  std::unique_ptr<MetricsServer> server = Must(MetricsServer::Start("127.0.0.1:0", &r));
  REQUIRE(server->port() > 0);

  httplib::Result res = Get(server->port(), "/metrics");
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(res->get_header_value("Content-Type") == "text/plain; version=0.0.4; charset=utf-8");
  CHECK(res->body == r.RenderText());
  CHECK_THAT(res->body, Catch::Contains("hits_total 5\n"));

  for (const char* path : {"/", "/metrics/x", "/favicon.ico"}) {
    httplib::Result other = Get(server->port(), path);
    REQUIRE(other);
    CHECK(other->status == 404);
  }
}

TEST_CASE("localhost is accepted as loopback", "[metrics][server]") {
  MetricsRegistry r;
  std::unique_ptr<MetricsServer> server = Must(MetricsServer::Start("localhost:0", &r));
  httplib::Result res = Get(server->port(), "/metrics");
  REQUIRE(res);
  CHECK(res->status == 200);
}

TEST_CASE("a non-loopback address is refused unless allowed", "[metrics][server]") {
  MetricsRegistry r;
  for (const char* listen : {"0.0.0.0:0", "192.0.2.1:9464", "[::]:0"}) {
    const absl::Status s = MetricsServer::Start(listen, &r).status();
    INFO(s.ToString());
    CHECK(s.code() == StatusCode::kFailedPrecondition);
    CHECK_THAT(Message(s), Catch::Contains(listen) && Catch::Contains("allow_non_loopback"));
  }
  MetricsServerOptions options;
  options.allow_non_loopback = true;
  std::unique_ptr<MetricsServer> server = Must(MetricsServer::Start("0.0.0.0:0", &r, options));
  httplib::Result res = Get(server->port(), "/metrics");
  REQUIRE(res);
  CHECK(res->status == 200);
  // Allowed, but not an address of this host (TEST-NET-1): the bind fails.
  const absl::Status foreign = MetricsServer::Start("192.0.2.1:0", &r, options).status();
  INFO(foreign.ToString());
  CHECK(foreign.code() == StatusCode::kUnavailable);
  CHECK_THAT(Message(foreign), Catch::Contains("192.0.2.1:0"));
}

TEST_CASE("a malformed address is InvalidArgument naming it", "[metrics][server]") {
  MetricsRegistry r;
  for (const char* listen : {"", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1",
                             "127.0.0.1:80x", ":9464", "::1:9464", "[::1]9464", "[::1",
                             "[127.0.0.1]:80", "metrics.example:9464", "127.0.0.256:80"}) {
    const absl::Status s = MetricsServer::Start(listen, &r).status();
    INFO(listen << " -> " << s.ToString());
    CHECK(s.code() == StatusCode::kInvalidArgument);
    CHECK_THAT(Message(s), Catch::Contains(std::string("\"") + listen + "\""));
  }
  CHECK(MetricsServer::Start("127.0.0.1:0", nullptr).status().code() ==
        StatusCode::kInvalidArgument);
}

TEST_CASE("a port already in use is Unavailable naming the address and the cause",
          "[metrics][server]") {
  MetricsRegistry r;
  std::unique_ptr<MetricsServer> first = Must(MetricsServer::Start("127.0.0.1:0", &r));
  const std::string listen = "127.0.0.1:" + std::to_string(first->port());
  const absl::Status s = MetricsServer::Start(listen, &r).status();
  INFO(s.ToString());
  CHECK(s.code() == StatusCode::kUnavailable);
  CHECK_THAT(Message(s), Catch::Contains(listen) && Catch::Contains("in use"));
  // The first one still serves (the port was not shared).
  httplib::Result res = Get(first->port(), "/metrics");
  REQUIRE(res);
  CHECK(res->status == 200);
}

TEST_CASE("Stop returns promptly, is idempotent, and closes the port", "[metrics][server]") {
  MetricsRegistry r;
  std::unique_ptr<MetricsServer> server = Must(MetricsServer::Start("127.0.0.1:0", &r));
  const int port = server->port();
  REQUIRE(Get(port, "/metrics"));
  const auto start = std::chrono::steady_clock::now();
  server->Stop();
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(1));
  server->Stop();
  CHECK_FALSE(Get(port, "/metrics"));
  server.reset();  // the destructor after Stop() is fine too
}

TEST_CASE("HEAD /metrics answers with headers only", "[metrics][server]") {
  MetricsRegistry r;
  REQUIRE(r.AddGauge("g", "G.").ok());
  std::unique_ptr<MetricsServer> server = Must(MetricsServer::Start("127.0.0.1:0", &r));
  httplib::Client client("127.0.0.1", server->port());
  httplib::Result res = client.Head("/metrics");
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(res->body.empty());
  CHECK(res->get_header_value("Content-Type") == "text/plain; version=0.0.4; charset=utf-8");
}

TEST_CASE("Stop waits at most about 2 s for a client that connected and sent nothing",
          "[metrics][server]") {
  MetricsRegistry r;
  std::unique_ptr<MetricsServer> server = Must(MetricsServer::Start("127.0.0.1:0", &r));
  const int sock = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(sock >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(server->port()));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(sock, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // a worker is now waiting on it
  const auto start = std::chrono::steady_clock::now();
  server->Stop();
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::milliseconds(3500));
  ::close(sock);
}

TEST_CASE("a server stopped right after start does not hang", "[metrics][server]") {
  MetricsRegistry r;
  for (int i = 0; i < 20; ++i) {
    std::unique_ptr<MetricsServer> server = Must(MetricsServer::Start("127.0.0.1:0", &r));
  }
}

}  // namespace
}  // namespace sealpool::test
