#include "tools/admin/admin_output.h"

#include <algorithm>
#include <cstdio>
#include <ctime>

#include "tools/common/json_writer.h"

namespace sealpool::tools::admin {

namespace {

// "Label<pad>: value\n" with the label padded to `width`.
std::string Line(std::string_view label, std::string_view value, size_t width = 33) {
  std::string out(label);
  if (out.size() < width) out.append(width - out.size(), ' ');
  out += ": ";
  out += value;
  out += '\n';
  return out;
}

std::string YesNo(bool b) { return b ? "Yes" : "No"; }

std::string Fixed(double value, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", decimals, value);
  return buf;
}

// "2026-12-04<sep>13:02:11Z".
std::string TimeWith(int64_t unix_micros, char separator) {
  std::time_t t = static_cast<std::time_t>(unix_micros / 1000000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  size_t n = std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%SZ", &tm);
  std::string out(buf, n);
  if (out.size() > 10) out[10] = separator;
  return out;
}

// Puts a time as a string or null (0: none).
void JsonTimeOrNull(JsonWriter& w, int64_t unix_micros) {
  if (unix_micros == 0) {
    w.Null();
  } else {
    w.String(JsonTime(unix_micros));
  }
}

// "9.9T" as df -h prints it (one decimal below 10).
std::string ShortBytes(uint64_t bytes) {
  static const char* const kUnits[] = {"B", "K", "M", "G", "T", "P", "E"};
  double v = static_cast<double>(bytes);
  size_t u = 0;
  while (v >= 1024.0 && u + 1 < std::size(kUnits)) {
    v /= 1024.0;
    ++u;
  }
  return (u > 0 && v < 10.0 ? Fixed(v, 1) : Fixed(v, 0)) + kUnits[u];
}

}  // namespace

// ---- units ----

std::string HumanBytes(uint64_t bytes) {
  static const char* const kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (bytes < 1024) return std::to_string(bytes) + (bytes == 1 ? " byte" : " bytes");
  double v = static_cast<double>(bytes) / 1024.0;
  size_t u = 0;
  while (v >= 1024.0 && u + 1 < std::size(kUnits)) {
    v /= 1024.0;
    ++u;
  }
  return Fixed(v, 2) + " " + kUnits[u];
}

std::string ExactBytes(uint64_t bytes) {
  std::string out = std::to_string(bytes) + " bytes";
  if (bytes >= 1024) out += " (" + HumanBytes(bytes) + ")";
  return out;
}

std::string HumanTime(int64_t unix_micros) {
  if (unix_micros == 0) return "-";
  return TimeWith(unix_micros, ' ');
}

std::string JsonTime(int64_t unix_micros) { return TimeWith(unix_micros, 'T'); }

std::string HumanDuration(int64_t seconds) {
  if (seconds < 0) seconds = 0;
  char buf[64];
  if (seconds < 60) {
    std::snprintf(buf, sizeof(buf), "%llds", static_cast<long long>(seconds));
  } else if (seconds < 3600) {
    std::snprintf(buf, sizeof(buf), "%lldm%02llds", static_cast<long long>(seconds / 60),
                  static_cast<long long>(seconds % 60));
  } else if (seconds < 86400) {
    std::snprintf(buf, sizeof(buf), "%lldh%02lldm", static_cast<long long>(seconds / 3600),
                  static_cast<long long>((seconds % 3600) / 60));
  } else {
    std::snprintf(buf, sizeof(buf), "%lldd%02lldh", static_cast<long long>(seconds / 86400),
                  static_cast<long long>((seconds % 86400) / 3600));
  }
  return buf;
}

std::string FormatTable(const std::vector<std::string>& header,
                        const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width(header.size());
  for (size_t i = 0; i < header.size(); ++i) width[i] = header[i].size();
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size() && i < width.size(); ++i) {
      width[i] = std::max(width[i], row[i].size());
    }
  }
  std::string out;
  auto line = [&](const std::vector<std::string>& cells) {
    std::string l;
    for (size_t i = 0; i < cells.size() && i < width.size(); ++i) {
      l += cells[i];
      if (i + 1 < cells.size()) l.append(width[i] - cells[i].size() + 2, ' ');
    }
    out += l + "\n";
  };
  line(header);
  for (const auto& row : rows) line(row);
  return out;
}

// ---- names ----

std::string_view PoolModeName(v1::PoolMode mode) {
  switch (mode) {
    case v1::POOL_MODE_READ_WRITE:
      return "read-write";
    case v1::POOL_MODE_READ_ONLY:
      return "read-only";
    case v1::POOL_MODE_MAINTENANCE:
      return "maintenance";
    default:
      return "unknown";
  }
}

v1::PoolMode ParsePoolMode(std::string_view name) {
  for (v1::PoolMode m :
       {v1::POOL_MODE_READ_WRITE, v1::POOL_MODE_READ_ONLY, v1::POOL_MODE_MAINTENANCE}) {
    if (PoolModeName(m) == name) return m;
  }
  return v1::POOL_MODE_UNSPECIFIED;
}

std::string_view KmsStateName(v1::KmsReachability kms) {
  switch (kms) {
    case v1::KMS_REACHABILITY_REACHABLE:
      return "reachable";
    case v1::KMS_REACHABILITY_DEGRADED:
      return "degraded";
    case v1::KMS_REACHABILITY_UNREACHABLE:
      return "unreachable";
    default:
      return "unknown";
  }
}

std::string_view JobStateName(v1::JobState state) {
  switch (state) {
    case v1::JOB_STATE_IDLE:
      return "idle";
    case v1::JOB_STATE_RUNNING:
      return "running";
    case v1::JOB_STATE_DONE:
      return "done";
    case v1::JOB_STATE_STOPPED:
      return "stopped";
    case v1::JOB_STATE_FAILED:
      return "failed";
    default:
      return "unknown";
  }
}

// ---- crcontrol ----

namespace {

// Issue 17: one line per key group (kek_mode, whether ingest needs the KMS, pair checks), then
// one WARNING line per warning.
std::string KeyGroupModesHuman(const v1::GetModeResponse& m, int64_t now_micros, size_t width) {
  std::string out;
  for (const v1::KeyGroupMode& g : m.key_groups()) {
    std::string text = "kek_mode " + g.kek_mode() + ", ingest " +
                       (g.ingest_needs_kms() ? "needs the KMS" : "does not need the KMS");
    if (g.kek_mode() == "public") {
      if (g.ingest_stopped()) {
        text += ", KEK pair check FAILED: ingest stopped";
      } else if (g.confirmed()) {
        text += ", KEK pairs confirmed " + HumanTime(g.last_confirmed_unix_micros());
      } else if (g.unconfirmed_since_unix_micros() != 0) {
        text += ", KEK pairs unconfirmed, ingest unconfirmed for " +
                HumanDuration((now_micros - g.unconfirmed_since_unix_micros()) / 1000000);
      } else {
        text += ", KEK pairs not confirmed yet (no ingest since start)";
      }
    }
    out += Line("Key group " + g.name(), text, width);
    for (const std::string& w : g.warnings()) out += Line("WARNING", w, width);
  }
  return out;
}

}  // namespace

std::string ModeHuman(const v1::GetModeResponse& m, int64_t now_micros) {
  constexpr size_t kWidth = 12;
  std::string out = Line("Mode",
                         "GET=" + YesNo(m.restore_allowed()) + " PUT=" + YesNo(m.ingest_allowed()) +
                             " DEREF=" + YesNo(m.delete_allowed()) + " (" +
                             std::string(PoolModeName(m.mode())) + ")",
                         kWidth);
  for (const std::string& r : m.reasons()) out += Line("Refused", r, kWidth);
  std::string kms;
  const std::string cached = std::to_string(m.kms_cached_keys()) + " key(s) cached";
  const int64_t since = m.kms_since_unix_micros();
  const std::string for_how_long =
      since == 0 ? "" : " (for " + HumanDuration((now_micros - since) / 1000000) + ")";
  const std::string error = m.kms_last_error().empty() ? "" : ": " + m.kms_last_error();
  switch (m.kms()) {
    case v1::KMS_REACHABILITY_REACHABLE:
      kms = "reachable since " + HumanTime(since) + ", " + cached;
      break;
    case v1::KMS_REACHABILITY_DEGRADED:
      kms = "degraded since " + HumanTime(since) + for_how_long + error +
            "; calls are retried, work goes on with " + cached;
      break;
    case v1::KMS_REACHABILITY_UNREACHABLE:
      kms = (since == 0 ? std::string("unreachable: not reached since sealpoold started")
                        : "unreachable since " + HumanTime(since) + for_how_long) +
            error + "; work goes on with " + cached;
      break;
    default:
      kms = "unknown (no key service configured)";
  }
  out += Line("KMS", kms, kWidth);
  out += Line("Space used",
              Fixed(m.space_used_fraction() * 100.0, 1) +
                  "% of the pool's file system (high-water mark reached: " +
                  YesNo(m.space_high_water()) + ")",
              kWidth);
  for (const v1::LsuMode& l : m.lsus()) {
    const int64_t days = l.max_retention_seconds() / 86400;
    out += Line("LSU " + l.name(),
                "Encryption=" + YesNo(l.encrypted()) + " KMS=Yes key group " + l.key_group() +
                    ", " + l.kms_mode() + ", client deletes " + YesNo(l.client_delete()) +
                    ", max retention " + std::to_string(days) + " days",
                kWidth);
  }
  for (const std::string& d : m.deferred()) out += Line("Deferred", d, kWidth);
  out += KeyGroupModesHuman(m, now_micros, kWidth);
  out += Line("Pool id", m.pool_id(), kWidth);
  out += Line("Version", "sealpoold " + m.version(), kWidth);
  return out;
}

std::string ModeJson(const v1::GetModeResponse& m) {
  JsonWriter w;
  w.BeginObject();
  w.Key("mode").String(PoolModeName(m.mode()));
  w.Key("restore_allowed").Bool(m.restore_allowed());
  w.Key("ingest_allowed").Bool(m.ingest_allowed());
  w.Key("delete_allowed").Bool(m.delete_allowed());
  w.Key("reasons").Strings({m.reasons().begin(), m.reasons().end()});
  w.Key("kms").BeginObject();
  w.Key("state").String(KmsStateName(m.kms()));
  w.Key("since");
  JsonTimeOrNull(w, m.kms_since_unix_micros());
  w.Key("last_error").String(m.kms_last_error());
  w.Key("cached_keys").Uint(m.kms_cached_keys());
  w.EndObject();
  w.Key("space").BeginObject();
  w.Key("used_fraction").Double(m.space_used_fraction());
  w.Key("high_water").Bool(m.space_high_water());
  w.EndObject();
  w.Key("lsus").BeginArray();
  for (const v1::LsuMode& l : m.lsus()) {
    w.BeginObject();
    w.Key("name").String(l.name());
    w.Key("key_group").String(l.key_group());
    w.Key("encrypted").Bool(l.encrypted());
    w.Key("kms_mode").String(l.kms_mode());
    w.Key("client_delete").Bool(l.client_delete());
    w.Key("max_retention_seconds").Int(l.max_retention_seconds());
    w.EndObject();
  }
  w.EndArray();
  w.Key("deferred").Strings({m.deferred().begin(), m.deferred().end()});
  w.Key("key_groups").BeginArray();
  for (const v1::KeyGroupMode& g : m.key_groups()) {
    w.BeginObject();
    w.Key("name").String(g.name());
    w.Key("kek_mode").String(g.kek_mode());
    w.Key("ingest_needs_kms").Bool(g.ingest_needs_kms());
    if (g.kek_mode() == "public") {
      w.Key("confirmed").Bool(g.confirmed());
      w.Key("last_confirmed");
      JsonTimeOrNull(w, g.last_confirmed_unix_micros());
      w.Key("last_ingest");
      JsonTimeOrNull(w, g.last_ingest_unix_micros());
      w.Key("unconfirmed_since");
      JsonTimeOrNull(w, g.unconfirmed_since_unix_micros());
      w.Key("ingest_stopped").Bool(g.ingest_stopped());
    }
    w.Key("warnings").Strings({g.warnings().begin(), g.warnings().end()});
    w.EndObject();
  }
  w.EndArray();
  w.Key("pool_id").String(m.pool_id());
  w.Key("version").String(m.version());
  w.EndObject();
  return w.str();
}

namespace {
struct DataStorage {
  uint64_t size, used, avail;
  uint64_t use_percent;  // rounded up, as df does
};
DataStorage Storage(const v1::GetStatsResponse& s) {
  DataStorage d{s.fs_total_bytes(), 0, s.fs_available_bytes(), 0};
  d.used = d.size > d.avail ? d.size - d.avail : 0;
  d.use_percent = d.size == 0 ? 0 : (d.used * 100 + d.size - 1) / d.size;
  return d;
}
uint64_t AverageContainer(const v1::GetStatsResponse& s) {
  return s.containers() == 0 ? 0 : s.space_allocated() / s.containers();
}
uint64_t AvailableInContainers(const v1::GetStatsResponse& s) {
  return s.space_allocated() > s.space_used() ? s.space_allocated() - s.space_used() : 0;
}
}  // namespace

std::string StatsHuman(const v1::GetStatsResponse& s) {
  const DataStorage d = Storage(s);
  std::string out = "************ Data Store statistics ************\n";
  out += FormatTable({"Data storage", "Raw", "Size", "Used", "Avail", "Use%"},
                     {{"", ShortBytes(d.size), ShortBytes(d.size), ShortBytes(d.used),
                       ShortBytes(d.avail), std::to_string(d.use_percent) + "%"}});
  out += "\n";
  out += Line("Number of containers", std::to_string(s.containers()));
  out += Line("Average container size", ExactBytes(AverageContainer(s)));
  out += Line("Space allocated for containers", ExactBytes(s.space_allocated()));
  out += Line("Space used within containers", ExactBytes(s.space_used()));
  out += Line("Space available within containers", ExactBytes(AvailableInContainers(s)));
  out += Line("Space needs compaction", ExactBytes(s.space_reclaimable()));
  out += Line("Records marked for compaction", std::to_string(s.records_to_compact()));
  out += Line("Containers marked for compaction", std::to_string(s.containers_to_compact()));
  out += Line("Active records", std::to_string(s.segments()));
  out += Line("Total records", s.has_total_records()
                                   ? std::to_string(s.total_records())
                                   : std::string("n/a (this pool counts live records only)"));
  out += "\n";
  out += Line("Images", std::to_string(s.images()));
  out += Line("Logical size", ExactBytes(s.logical_bytes()));
  out += Line("Stored size", ExactBytes(s.stored_bytes()));
  out += Line("Dedup ratio", s.stored_bytes() == 0
                                 ? std::string("- (nothing stored)")
                                 : Fixed(s.dedup_ratio(), 2) + "x (logical size / stored size)");
  out += Line("Delete jobs pending", std::to_string(s.pending_delete_jobs()));
  return out;
}

std::string StatsJson(const v1::GetStatsResponse& s) {
  const DataStorage d = Storage(s);
  JsonWriter w;
  w.BeginObject();
  w.Key("data_storage").BeginObject();
  w.Key("raw_bytes").Uint(d.size);
  w.Key("size_bytes").Uint(d.size);
  w.Key("used_bytes").Uint(d.used);
  w.Key("available_bytes").Uint(d.avail);
  w.Key("use_percent").Uint(d.use_percent);
  w.EndObject();
  w.Key("containers").Uint(s.containers());
  w.Key("average_container_bytes").Uint(AverageContainer(s));
  w.Key("space_allocated_bytes").Uint(s.space_allocated());
  w.Key("space_used_bytes").Uint(s.space_used());
  w.Key("space_available_bytes").Uint(AvailableInContainers(s));
  w.Key("space_needs_compaction_bytes").Uint(s.space_reclaimable());
  w.Key("records_marked_for_compaction").Uint(s.records_to_compact());
  w.Key("containers_marked_for_compaction").Uint(s.containers_to_compact());
  w.Key("active_records").Uint(s.segments());
  w.Key("total_records");
  if (s.has_total_records()) {
    w.Uint(s.total_records());
  } else {
    w.Null();
  }
  w.Key("images").Uint(s.images());
  w.Key("logical_bytes").Uint(s.logical_bytes());
  w.Key("stored_bytes").Uint(s.stored_bytes());
  w.Key("dedup_ratio").Double(s.dedup_ratio());
  w.Key("pending_delete_jobs").Uint(s.pending_delete_jobs());
  w.EndObject();
  return w.str();
}

std::string JobHuman(const v1::JobStatus& j) {
  constexpr size_t kWidth = 20;
  std::string out = Line("Compaction state", std::string(JobStateName(j.state())), kWidth);
  if (j.state() != v1::JOB_STATE_IDLE) {
    out += Line("Containers",
                std::to_string(j.containers_done()) + " of " +
                    std::to_string(j.containers_total()) + " done",
                kWidth);
    out += Line("Bytes moved", ExactBytes(j.bytes_moved()), kWidth);
    out += Line("Bytes reclaimed", ExactBytes(j.bytes_reclaimed()), kWidth);
    out += Line("Started", HumanTime(j.started_unix_micros()), kWidth);
    out += Line("Finished", HumanTime(j.finished_unix_micros()), kWidth);
  }
  if (!j.error().empty()) out += Line("Error", j.error(), kWidth);
  return out;
}

std::string JobJson(const v1::JobStatus& j) {
  JsonWriter w;
  w.BeginObject();
  w.Key("state").String(JobStateName(j.state()));
  w.Key("containers_total").Uint(j.containers_total());
  w.Key("containers_done").Uint(j.containers_done());
  w.Key("bytes_moved").Uint(j.bytes_moved());
  w.Key("bytes_reclaimed").Uint(j.bytes_reclaimed());
  w.Key("started");
  JsonTimeOrNull(w, j.started_unix_micros());
  w.Key("finished");
  JsonTimeOrNull(w, j.finished_unix_micros());
  w.Key("error").String(j.error());
  w.EndObject();
  return w.str();
}

std::string ProcessQueueHuman(const v1::ProcessQueueResponse& r) {
  constexpr size_t kWidth = 20;
  return Line("Jobs done", std::to_string(r.jobs_done()), kWidth) +
         Line("References dropped", std::to_string(r.references_dropped()), kWidth) +
         Line("Segments erased", std::to_string(r.segments_erased()), kWidth) +
         Line("Segments kept busy", std::to_string(r.segments_kept_busy()), kWidth) +
         Line("Jobs left", std::to_string(r.jobs_left()), kWidth);
}

std::string ProcessQueueJson(const v1::ProcessQueueResponse& r) {
  JsonWriter w;
  w.BeginObject()
      .Key("jobs_done")
      .Uint(r.jobs_done())
      .Key("references_dropped")
      .Uint(r.references_dropped())
      .Key("segments_erased")
      .Uint(r.segments_erased())
      .Key("segments_kept_busy")
      .Uint(r.segments_kept_busy())
      .Key("jobs_left")
      .Uint(r.jobs_left())
      .EndObject();
  return w.str();
}

std::string QueueInfoHuman(const v1::QueueInfo& q) {
  return Line("Delete jobs pending", std::to_string(q.pending_jobs()), 20);
}

std::string QueueInfoJson(const v1::QueueInfo& q) {
  JsonWriter w;
  w.BeginObject().Key("pending_jobs").Uint(q.pending_jobs()).EndObject();
  return w.str();
}

std::string CheckHuman(std::string_view what, const v1::CheckProgress& last) {
  const bool verify = what == "verify";
  std::string out = std::string(verify ? "Verify: " : "Scrub: ") + std::to_string(last.done()) +
                    (verify ? " image(s), " : " container(s), ") + ExactBytes(last.bytes()) +
                    " checked, ";
  if (last.problems().empty()) {
    out += "no problems found\n";
  } else {
    out += std::to_string(last.problems_size()) + " problem(s) found:\n";
    for (const std::string& p : last.problems()) out += "  " + p + "\n";
  }
  if (!last.dead_regions().empty()) {
    out += "Damaged regions no live segment points into (compaction drops them): " +
           std::to_string(last.dead_regions_size()) + "\n";
    for (const std::string& d : last.dead_regions()) out += "  " + d + "\n";
  }
  return out;
}

std::string CheckJson(std::string_view what, std::string_view lsu, const v1::CheckProgress& last) {
  JsonWriter w;
  w.BeginObject();
  w.Key("check").String(what);
  if (what == "verify") {
    w.Key("lsu").String(lsu);
    w.Key("images_checked").Uint(last.done());
  } else {
    w.Key("containers_checked").Uint(last.done());
  }
  w.Key("bytes_checked").Uint(last.bytes());
  w.Key("ok").Bool(last.problems().empty());
  w.Key("problems").Strings({last.problems().begin(), last.problems().end()});
  if (what != "verify") {
    w.Key("dead_regions").Strings({last.dead_regions().begin(), last.dead_regions().end()});
  }
  w.EndObject();
  return w.str();
}

std::string CheckProgressLine(std::string_view what, const v1::CheckProgress& p) {
  return std::string(what) + ": " + std::to_string(p.done()) + "/" + std::to_string(p.total()) +
         (what == "verify" ? " images, " : " containers, ") + HumanBytes(p.bytes());
}

// ---- keydictutil ----

std::string KeysHuman(const v1::ListKeysResponse& keys) {
  std::vector<std::vector<std::string>> lsus;
  for (const v1::LsuMode& l : keys.lsus()) {
    lsus.push_back({l.name(), l.key_group(), YesNo(l.encrypted()), l.kms_mode()});
  }
  std::string out = FormatTable({"LSU", "KEY GROUP", "ENCRYPTION", "KMS MODE"}, lsus);
  for (const v1::KeyGroupInfo& g : keys.key_groups()) {
    out += "\nKey group " + g.name() + ": kek_mode " +
           (g.kek_mode().empty() ? std::string("symmetric") : g.kek_mode()) + ", backend " +
           g.kms_backend() +
           ", fingerprint key under root key " +
           (g.fingerprint_key_root_key_id().empty() ? "-" : g.fingerprint_key_root_key_id()) +
           ", chunking " + std::to_string(g.chunk_min_size()) + "/" +
           std::to_string(g.chunk_avg_size()) + "/" + std::to_string(g.chunk_max_size()) +
           " bytes (min/avg/max)\n";
    std::vector<std::vector<std::string>> rows;
    const bool pairs = g.kek_mode() == "public";
    for (const v1::KekInfo& k : g.keks()) {
      rows.push_back({std::to_string(k.id()), k.state(), k.root_key_id(),
                      HumanTime(k.created_unix_micros()), std::to_string(k.deks_wrapped())});
      // The public key's SHA-256, first 16 hex digits (as sealkmsd pins it, docs/kms.md).
      if (pairs) rows.back().push_back(k.public_key_sha256().substr(0, 16));
    }
    if (pairs) {
      out += FormatTable(
          {"KEK PAIR", "STATE", "ROOT KEY", "CREATED", "DEKS WRAPPED", "PUBLIC KEY SHA-256"}, rows);
    } else {
      out += FormatTable({"KEK", "STATE", "ROOT KEY", "CREATED", "DEKS WRAPPED"}, rows);
    }
  }
  return out;
}

std::string KeysJson(const v1::ListKeysResponse& keys) {
  JsonWriter w;
  w.BeginObject();
  w.Key("lsus").BeginArray();
  for (const v1::LsuMode& l : keys.lsus()) {
    w.BeginObject();
    w.Key("name").String(l.name());
    w.Key("key_group").String(l.key_group());
    w.Key("encrypted").Bool(l.encrypted());
    w.Key("kms_mode").String(l.kms_mode());
    w.EndObject();
  }
  w.EndArray();
  w.Key("key_groups").BeginArray();
  for (const v1::KeyGroupInfo& g : keys.key_groups()) {
    w.BeginObject();
    w.Key("name").String(g.name());
    w.Key("kms_backend").String(g.kms_backend());
    w.Key("kek_mode").String(g.kek_mode().empty() ? std::string("symmetric") : g.kek_mode());
    w.Key("fingerprint_key_root_key_id").String(g.fingerprint_key_root_key_id());
    w.Key("chunk_min_size").Uint(g.chunk_min_size());
    w.Key("chunk_avg_size").Uint(g.chunk_avg_size());
    w.Key("chunk_max_size").Uint(g.chunk_max_size());
    w.Key("keks").BeginArray();
    for (const v1::KekInfo& k : g.keks()) {
      w.BeginObject();
      w.Key("id").Uint(k.id());
      w.Key("state").String(k.state());
      w.Key("root_key_id").String(k.root_key_id());
      w.Key("created");
      JsonTimeOrNull(w, k.created_unix_micros());
      w.Key("deks_wrapped").Uint(k.deks_wrapped());
      w.Key("pair").Bool(k.pair());
      w.Key("public_key_sha256").String(k.public_key_sha256());
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return w.str();
}

}  // namespace sealpool::tools::admin
