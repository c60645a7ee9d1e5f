#include "daemon/sealpoold/pool_config.h"

#include <toml++/toml.h>

#include <algorithm>
#include <array>
#include <exception>
#include <fstream>
#include <initializer_list>
#include <system_error>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "base/strings.h"

namespace sealpool::daemon {
namespace {

using base::Annotate;
using base::Cat;
namespace fs = std::filesystem;

constexpr int64_t kKiB = 1024;
constexpr int64_t kMiB = 1024 * kKiB;
constexpr int64_t kGiB = 1024 * kMiB;
constexpr int64_t kMinChunkSize = 4 * kKiB;
constexpr int64_t kMaxChunkSize = 4 * kMiB;
constexpr size_t kMaxNameLength = 64;
constexpr size_t kMaxCnLength = 64;
constexpr size_t kMaxGroupNameLength = 32;
constexpr size_t kMaxUnixSocketPath = 107;  // sizeof(sockaddr_un::sun_path) - 1 for the NUL

// User text in a message: quoted, anything unprintable escaped.
std::string Quote(std::string_view s) {
  return Cat("\"", absl::CHexEscape(base::AbslView(s)), "\"");
}

absl::Status Bad(std::string_view key, std::string_view why) {
  return absl::InvalidArgumentError(Cat("config key ", key, ": ", why));
}

std::string LineOf(const toml::node& node) {
  const uint32_t line = node.source().begin.line;
  return line == 0 ? std::string() : Cat(" (line ", line, ")");
}

std::string_view TypeName(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a floating-point number";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// "": fine. Else why `name` breaks the rule: 1..64 characters of [A-Za-z0-9] and `punctuation`,
// not starting with '.' or '-' (it would read as a hidden file or a command-line option).
std::string NameProblem(std::string_view name, std::string_view punctuation) {
  if (name.empty()) return "must not be empty";
  if (name.size() > kMaxNameLength) {
    return Cat(Quote(name), " is ", name.size(), " characters long; the limit is ", kMaxNameLength);
  }
  if (name.front() == '.' || name.front() == '-')
    return Cat(Quote(name), " starts with '.' or '-'");
  for (char ch : name) {
    const bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                    (ch >= '0' && ch <= '9') || punctuation.find(ch) != std::string_view::npos;
    if (!ok) {
      return Cat(Quote(name), " has a character outside [A-Za-z0-9", punctuation, "]");
    }
  }
  return {};
}

// "": fine. A certificate CN: 1..64 bytes, no control characters (C0, DEL, C1), no space at
// either end (TOML has already checked that it is UTF-8).
std::string CnProblem(std::string_view cn) {
  if (cn.empty()) return "must not be empty";
  if (cn.size() > kMaxCnLength) {
    return Cat(Quote(cn), " is ", cn.size(), " bytes long; the limit is ", kMaxCnLength);
  }
  for (size_t i = 0; i < cn.size(); ++i) {
    const auto byte = static_cast<unsigned char>(cn[i]);
    const bool c1 = byte == 0xc2 && i + 1 < cn.size() &&
                    static_cast<unsigned char>(cn[i + 1]) >= 0x80 &&
                    static_cast<unsigned char>(cn[i + 1]) <= 0x9f;
    if (byte < 0x20 || byte == 0x7f || c1) {
      return Cat(Quote(cn), " has a control character");
    }
  }
  if (cn.front() == ' ' || cn.back() == ' ') return Cat(Quote(cn), " starts or ends with a space");
  return {};
}

// "": fine. "host:port" with a non-empty host (an IPv6 address in brackets) and a decimal port
// in [min_port, 65535].
std::string AddressProblem(std::string_view address, int min_port) {
  const std::string form = Cat(Quote(address), " is not \"host:port\"");
  const size_t colon = address.rfind(':');
  if (colon == std::string_view::npos) return form;
  std::string_view host = address.substr(0, colon);
  const std::string_view port = address.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
    if (host.find_first_of("[]") != std::string_view::npos) return form;
  } else if (host.find(':') != std::string_view::npos) {
    return Cat(form, " (an IPv6 address goes in brackets: \"[::1]:7444\")");
  } else if (host.find_first_of("[]") != std::string_view::npos) {
    return form;
  }
  if (host.empty()) return Cat(form, ": the host is empty (\"0.0.0.0\" or \"[::]\" for any)");
  for (char ch : host) {
    if (static_cast<unsigned char>(ch) <= 0x20 || ch == 0x7f) {
      return Cat(form, ": the host has a space or control character");
    }
  }
  int value = 0;
  for (char ch : port) {
    if (ch < '0' || ch > '9' || value > 65535) return Cat(Quote(address), " has a bad port");
    value = value * 10 + (ch - '0');
  }
  if (port.empty() || port.size() > 5 || value < min_port || value > 65535) {
    return Cat(Quote(address), " has a bad port (", min_port, "..65535)");
  }
  return {};
}

// "HH:MM-HH:MM" -> minutes after midnight; nullopt when malformed or out of range.
std::optional<std::pair<int, int>> ParseQuietHours(std::string_view text) {
  if (text.size() != 11 || text[2] != ':' || text[5] != '-' || text[8] != ':') return std::nullopt;
  auto two_digits = [&](size_t at) -> int {
    const char a = text[at];
    const char b = text[at + 1];
    if (a < '0' || a > '9' || b < '0' || b > '9') return -1;
    return (a - '0') * 10 + (b - '0');
  };
  const int h1 = two_digits(0), m1 = two_digits(3), h2 = two_digits(6), m2 = two_digits(9);
  if (h1 < 0 || m1 < 0 || h2 < 0 || m2 < 0 || h1 > 23 || h2 > 23 || m1 > 59 || m2 > 59) {
    return std::nullopt;
  }
  return std::pair{h1 * 60 + m1, h2 * 60 + m2};
}

// One TOML table whose keys are named `prefix` + key in messages ("server.", "lsu[1].").
// Every getter leaves its output untouched when the key is absent.
class TableReader {
 public:
  TableReader(const toml::table& table, std::string prefix, const fs::path& base_dir)
      : table_(table), prefix_(std::move(prefix)), base_dir_(base_dir) {}

  std::string Name(std::string_view key) const { return Cat(prefix_, key); }
  const fs::path& base_dir() const { return base_dir_; }
  const toml::node* Get(std::string_view key) const { return table_.get(key); }

  // InvalidArgument naming prefix + key and the line of its value (or of the table).
  absl::Status Bad(std::string_view key, std::string_view why) const {
    const toml::node* node = Get(key);
    return daemon::Bad(Name(key), Cat(why, LineOf(node != nullptr ? *node : table_)));
  }

  // An unknown key is an error: a typo must not silently fall back to a default.
  absl::Status OnlyKeys(std::initializer_list<std::string_view> known) const {
    for (const auto& [key, value] : table_) {
      const std::string_view name = key.str();
      if (std::find(known.begin(), known.end(), name) != known.end()) continue;
      std::string why =
          value.is_table() || value.is_array_of_tables() ? "unknown table" : "unknown key";
      for (std::string_view k : known) {
        const size_t distance = EditDistance(name, k);
        if (distance <= 2 && 2 * distance < k.size()) {
          why = Cat(why, "; did you mean \"", k, "\"?");
          break;
        }
      }
      if (why.find('?') == std::string::npos) {
        std::string list;
        for (std::string_view k : known) list = list.empty() ? std::string(k) : Cat(list, ", ", k);
        why = Cat(why, " (known here: ", list, ")");
      }
      // A quoted TOML key may hold anything: escaped, as it goes into logs.
      const std::string shown = absl::CHexEscape(base::AbslView(name));
      return daemon::Bad(Name(shown), Cat(why, LineOf(value)));
    }
    return absl::OkStatus();
  }

  absl::Status String(std::string_view key, std::string* out) const {
    const toml::node* node = Get(key);
    if (node == nullptr) return absl::OkStatus();
    const auto* value = node->as_string();
    if (value == nullptr) return Bad(key, Cat("must be a string, not ", TypeName(*node)));
    *out = value->get();
    return absl::OkStatus();
  }

  // A relative path is resolved against the config file's folder; "" stays "".
  absl::Status Path(std::string_view key, fs::path* out) const {
    std::string text;
    if (Get(key) == nullptr) return absl::OkStatus();
    SEALPOOL_RETURN_IF_ERROR(String(key, &text));
    if (text.find('\0') != std::string::npos) return Bad(key, "has a NUL character");
    const fs::path path(text);
    *out = text.empty() || path.is_absolute() ? path : base_dir_ / path;
    return absl::OkStatus();
  }

  absl::Status Bool(std::string_view key, bool* out) const {
    const toml::node* node = Get(key);
    if (node == nullptr) return absl::OkStatus();
    const auto* value = node->as_boolean();
    if (value == nullptr) return Bad(key, Cat("must be true or false, not ", TypeName(*node)));
    *out = value->get();
    return absl::OkStatus();
  }

  // An integer in [lo, hi]; nullopt when absent.
  absl::StatusOr<std::optional<int64_t>> Integer(std::string_view key, int64_t lo,
                                                 int64_t hi) const {
    const toml::node* node = Get(key);
    if (node == nullptr) return std::nullopt;
    const std::string range = Cat("an integer in [", lo, ", ", hi, "]");
    const auto* value = node->as_integer();
    if (value == nullptr) return Bad(key, Cat("must be ", range, ", not ", TypeName(*node)));
    if (value->get() < lo || value->get() > hi) {
      return Bad(key, Cat("must be ", range, " (got ", value->get(), ")"));
    }
    return value->get();
  }

  // An integer in [lo, hi], times `unit`, into *out.
  template <typename T>
  absl::Status Int(std::string_view key, int64_t lo, int64_t hi, T* out, int64_t unit = 1) const {
    SEALPOOL_ASSIGN_OR_RETURN(std::optional<int64_t> value, Integer(key, lo, hi));
    if (value.has_value()) *out = static_cast<T>(*value * unit);
    return absl::OkStatus();
  }

  // An integer in [lo, hi] counting `unit`s.
  absl::Status Duration(std::string_view key, int64_t lo, int64_t hi, absl::Duration unit,
                        absl::Duration* out) const {
    SEALPOOL_ASSIGN_OR_RETURN(std::optional<int64_t> value, Integer(key, lo, hi));
    if (value.has_value()) *out = *value * unit;
    return absl::OkStatus();
  }

  // A number (integer or floating point) strictly between lo and hi.
  absl::Status OpenInterval(std::string_view key, double lo, double hi, double* out) const {
    const toml::node* node = Get(key);
    if (node == nullptr) return absl::OkStatus();
    const std::optional<double> value = node->value<double>();
    const std::string range = Cat("a number in (", lo, ", ", hi, "), both ends excluded");
    if (!value.has_value()) return Bad(key, Cat("must be ", range, ", not ", TypeName(*node)));
    if (!(*value > lo && *value < hi))
      return Bad(key, Cat("must be ", range, " (got ", *value, ")"));
    *out = *value;
    return absl::OkStatus();
  }

  // "host:port", port in [min_port, 65535]; "" only when `may_be_empty`.
  absl::Status Address(std::string_view key, int min_port, bool may_be_empty,
                       std::string* out) const {
    std::string text = *out;
    SEALPOOL_RETURN_IF_ERROR(String(key, &text));
    if (text.empty() && may_be_empty) {
      *out = text;
      return absl::OkStatus();
    }
    if (std::string why = AddressProblem(text, min_port); !why.empty()) return Bad(key, why);
    *out = text;
    return absl::OkStatus();
  }

 private:
  const toml::table& table_;
  const std::string prefix_;
  const fs::path& base_dir_;
};

absl::Status ParsePool(const TableReader& r, PoolConfig* c) {
  SEALPOOL_RETURN_IF_ERROR(r.OnlyKeys({"path", "audit_log"}));
  SEALPOOL_RETURN_IF_ERROR(r.Path("path", &c->pool_dir));
  return r.Path("audit_log", &c->audit_log);
}

absl::Status ParseServer(const TableReader& r, PoolConfig* c) {
  SEALPOOL_RETURN_IF_ERROR(r.OnlyKeys({"listen", "ca", "cert", "key", "crl", "port_file"}));
  SEALPOOL_RETURN_IF_ERROR(r.Address("listen", 0, false, &c->listen));
  SEALPOOL_RETURN_IF_ERROR(r.Path("ca", &c->ca_file));
  SEALPOOL_RETURN_IF_ERROR(r.Path("cert", &c->cert_file));
  SEALPOOL_RETURN_IF_ERROR(r.Path("key", &c->key_file));
  SEALPOOL_RETURN_IF_ERROR(r.Path("crl", &c->crl_file));
  return r.Path("port_file", &c->port_file);
}

absl::Status ParseAdmin(const TableReader& r, PoolConfig* c) {
  SEALPOOL_RETURN_IF_ERROR(r.OnlyKeys({"socket", "group"}));
  SEALPOOL_RETURN_IF_ERROR(r.Path("socket", &c->admin_socket));
  if (c->admin_socket.empty()) return r.Bad("socket", "must not be empty");
  if (c->admin_socket.native().size() > kMaxUnixSocketPath) {
    return r.Bad("socket",
                 Cat("is ", c->admin_socket.native().size(),
                     " bytes long; a unix socket path holds at most ", kMaxUnixSocketPath));
  }
  SEALPOOL_RETURN_IF_ERROR(r.String("group", &c->admin_group));
  const std::string& group = c->admin_group;
  if (group.empty()) return absl::OkStatus();
  std::string why = NameProblem(group, "._-");
  if (why.empty() && group.size() > kMaxGroupNameLength) {
    why = Cat(Quote(group), " is longer than ", kMaxGroupNameLength, " characters");
  }
  return why.empty() ? absl::OkStatus() : r.Bad("group", Cat("is not a group name: ", why));
}

absl::Status ParseMetrics(const TableReader& r, PoolConfig* c) {
  SEALPOOL_RETURN_IF_ERROR(r.OnlyKeys({"listen"}));
  return r.Address("listen", 0, true, &c->metrics_listen);
}

absl::Status ParseKms(const TableReader& r, PoolConfig* c) {
  SEALPOOL_RETURN_IF_ERROR(r.OnlyKeys(
      {"address", "server_name", "ca", "cert", "key", "pool_id", "call_deadline_seconds"}));
  SEALPOOL_RETURN_IF_ERROR(r.Address("address", 1, false, &c->kms_address));
  SEALPOOL_RETURN_IF_ERROR(r.String("server_name", &c->kms_server_name));
  for (char ch : c->kms_server_name) {
    if (static_cast<unsigned char>(ch) <= 0x20 || ch == 0x7f) {
      return r.Bad("server_name",
                   Cat(Quote(c->kms_server_name), " has a space or control character"));
    }
  }
  SEALPOOL_RETURN_IF_ERROR(r.Path("ca", &c->kms_ca_file));
  SEALPOOL_RETURN_IF_ERROR(r.Path("cert", &c->kms_cert_file));
  SEALPOOL_RETURN_IF_ERROR(r.Path("key", &c->kms_key_file));
  SEALPOOL_RETURN_IF_ERROR(r.String("pool_id", &c->kms_pool_id));
  if (r.Get("pool_id") != nullptr) {
    if (std::string why = NameProblem(c->kms_pool_id, "._:-"); !why.empty()) {
      return r.Bad("pool_id", why);
    }
  }
  return r.Duration("call_deadline_seconds", 1, 600, absl::Seconds(1), &c->kms_call_deadline);
}

absl::Status ParseChunking(const TableReader& r, PoolConfig* c) {
  SEALPOOL_RETURN_IF_ERROR(r.OnlyKeys({"min_size", "avg_size", "max_size"}));
  SEALPOOL_RETURN_IF_ERROR(r.Int("min_size", kMinChunkSize, kMaxChunkSize, &c->chunk_min_size));
  SEALPOOL_RETURN_IF_ERROR(r.Int("avg_size", kMinChunkSize, kMaxChunkSize, &c->chunk_avg_size));
  SEALPOOL_RETURN_IF_ERROR(r.Int("max_size", kMinChunkSize, kMaxChunkSize, &c->chunk_max_size));
  const uint32_t avg = c->chunk_avg_size;
  if ((avg & (avg - 1)) != 0) return r.Bad("avg_size", Cat(avg, " is not a power of two"));
  if (c->chunk_min_size >= avg) {
    return r.Bad("min_size",
                 Cat("must be less than avg_size (", c->chunk_min_size, " >= ", avg, ")"));
  }
  if (c->chunk_max_size <= avg) {
    return r.Bad("max_size",
                 Cat("must be greater than avg_size (", c->chunk_max_size, " <= ", avg, ")"));
  }
  return absl::OkStatus();
}

// Issue 17: the host key settings of [keys].
absl::Status ParseHostKey(const TableReader& r, PoolConfig* c) {
  SEALPOOL_RETURN_IF_ERROR(r.Path("host_key_file", &c->host_key_file));
  SEALPOOL_RETURN_IF_ERROR(r.String("host_key_credential", &c->host_key_credential));
  if (r.Get("host_key_credential") != nullptr) {
    // A credential name is a file name in $CREDENTIALS_DIRECTORY (systemd.exec(5)).
    const std::string& name = c->host_key_credential;
    const bool bad_char = std::any_of(name.begin(), name.end(), [](char ch) {
      return !(absl::ascii_isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '_' ||
               ch == '-' || ch == ':' || ch == '@');
    });
    if (name.empty() || name.size() > 255 || name == "." || name == ".." || bad_char) {
      return r.Bad("host_key_credential",
                   Cat(Quote(name), " is not a credential name (1..255 of [A-Za-z0-9._:@-], "
                                    "not \".\" or \"..\")"));
    }
  }
  if (r.Get("host_key_file") != nullptr && c->host_key_file.empty()) {
    return r.Bad("host_key_file", "is empty (omit it instead)");
  }
  if (!c->host_key_file.empty() && !c->host_key_credential.empty()) {
    return r.Bad("host_key_credential", "and host_key_file are both set; choose one");
  }
  SEALPOOL_RETURN_IF_ERROR(r.Duration("unconfirmed_warn_seconds", 1, 31536000, absl::Seconds(1),
                                      &c->unconfirmed_warn_after));
  return r.Duration("private_key_cache_seconds", 1, 86400, absl::Seconds(1),
                    &c->private_key_cache_ttl);
}

absl::Status ParseKeys(const TableReader& r, PoolConfig* c) {
  SEALPOOL_RETURN_IF_ERROR(r.OnlyKeys({"kek_max_deks", "kek_max_age_days", "host_key_file",
                                       "host_key_credential", "unconfirmed_warn_seconds",
                                       "private_key_cache_seconds"}));
  SEALPOOL_RETURN_IF_ERROR(r.Int("kek_max_deks", 1, int64_t{1} << 32, &c->kek_max_deks));
  SEALPOOL_RETURN_IF_ERROR(ParseHostKey(r, c));
  return r.Duration("kek_max_age_days", 1, 3650, absl::Hours(24), &c->kek_max_age);
}

// Issue 17: [[key_group]] kek_mode.
absl::Status ParseKekMode(const TableReader& r, const PoolConfig& c, KeyGroupConfig* group) {
  SEALPOOL_RETURN_IF_ERROR(r.String("kek_mode", &group->kek_mode));
  if (group->kek_mode != "symmetric" && group->kek_mode != "public") {
    return r.Bad("kek_mode", Cat(Quote(group->kek_mode), " is not \"symmetric\" or \"public\""));
  }
  if (group->kek_mode == "public" && c.host_key_file.empty() && c.host_key_credential.empty()) {
    return r.Bad("kek_mode",
                 "\"public\" needs a host key so that ingest needs no KMS: set [keys] "
                 "host_key_file or host_key_credential");
  }
  return absl::OkStatus();
}

absl::Status ParseStorage(const TableReader& r, PoolConfig* c) {
  SEALPOOL_RETURN_IF_ERROR(
      r.OnlyKeys({"container_size_mib", "zstd_level", "seal_threads", "high_water_percent"}));
  SEALPOOL_RETURN_IF_ERROR(r.Int("container_size_mib", 16, 4096, &c->container_size, kMiB));
  SEALPOOL_RETURN_IF_ERROR(r.Int("zstd_level", -7, 19, &c->zstd_level));
  SEALPOOL_RETURN_IF_ERROR(r.Int("seal_threads", 0, 1024, &c->seal_threads));
  SEALPOOL_ASSIGN_OR_RETURN(std::optional<int64_t> percent,
                            r.Integer("high_water_percent", 50, 99));
  if (percent.has_value()) c->high_water = static_cast<double>(*percent) / 100.0;
  return absl::OkStatus();
}

absl::Status ParseLimits(const TableReader& r, PoolConfig* c) {
  SEALPOOL_RETURN_IF_ERROR(r.OnlyKeys(
      {"max_streams", "max_message_mib", "idle_timeout_seconds", "shutdown_grace_seconds"}));
  SEALPOOL_RETURN_IF_ERROR(r.Int("max_streams", 1, 10000, &c->max_streams));
  SEALPOOL_RETURN_IF_ERROR(r.Int("max_message_mib", 1, 64, &c->max_message_bytes, kMiB));
  SEALPOOL_RETURN_IF_ERROR(
      r.Duration("idle_timeout_seconds", 1, 86400, absl::Seconds(1), &c->idle_timeout));
  return r.Duration("shutdown_grace_seconds", 0, 3600, absl::Seconds(1), &c->shutdown_grace);
}

absl::Status ParseScheduler(const TableReader& r, PoolConfig* c) {
  SEALPOOL_RETURN_IF_ERROR(
      r.OnlyKeys({"interval_seconds", "compact_live_threshold", "quiet_hours", "catalog_backup_dir",
                  "catalog_backup_interval_hours", "catalog_backup_keep",
                  "orphan_sweep_interval_hours", "orphan_grace_hours"}));
  SEALPOOL_RETURN_IF_ERROR(
      r.Duration("interval_seconds", 1, 86400, absl::Seconds(1), &c->scheduler_interval));
  SEALPOOL_RETURN_IF_ERROR(
      r.OpenInterval("compact_live_threshold", 0, 1, &c->compact_live_threshold));
  if (r.Get("quiet_hours") != nullptr) {
    std::string text;
    SEALPOOL_RETURN_IF_ERROR(r.String("quiet_hours", &text));
    c->quiet_hours = ParseQuietHours(text);
    if (!c->quiet_hours.has_value()) {
      return r.Bad("quiet_hours",
                   Cat(Quote(text), " is not \"HH:MM-HH:MM\" (00:00 to 23:59, local time)"));
    }
    if (c->quiet_hours->first == c->quiet_hours->second) {
      return r.Bad("quiet_hours", Cat(Quote(text), " begins where it ends"));
    }
  }
  SEALPOOL_RETURN_IF_ERROR(r.Path("catalog_backup_dir", &c->catalog_backup_dir));
  SEALPOOL_RETURN_IF_ERROR(r.Duration("catalog_backup_interval_hours", 1, 8760, absl::Hours(1),
                                      &c->catalog_backup_interval));
  SEALPOOL_RETURN_IF_ERROR(r.Int("catalog_backup_keep", 1, 1000, &c->catalog_backup_keep));
  SEALPOOL_RETURN_IF_ERROR(r.Duration("orphan_sweep_interval_hours", 1, 8760, absl::Hours(1),
                                      &c->orphan_sweep_interval));
  return r.Duration("orphan_grace_hours", 1, 8760, absl::Hours(1), &c->orphan_grace);
}

absl::Status ParseLog(const TableReader& r, PoolConfig* c) {
  SEALPOOL_RETURN_IF_ERROR(r.OnlyKeys({"level"}));
  SEALPOOL_RETURN_IF_ERROR(r.String("level", &c->log_level));
  for (std::string_view level : {"trace", "debug", "info", "warn", "error"}) {
    if (c->log_level == level) return absl::OkStatus();
  }
  return r.Bad("level", Cat(Quote(c->log_level), " is not one of trace, debug, info, warn, error"));
}

// Calls `parse` with each table of the array of tables `key` (`syntax`: "[[lsu]]"), named
// "key[i]." after the parent's prefix.
template <typename Fn>
absl::Status ForEachTable(const TableReader& parent, std::string_view key, std::string_view syntax,
                          const fs::path& base_dir, Fn parse) {
  const toml::node* node = parent.Get(key);
  if (node == nullptr) return absl::OkStatus();
  const toml::array* array = node->as_array();
  const std::string form = Cat("must be an array of tables (", syntax, ")");
  if (array == nullptr) return parent.Bad(key, Cat(form, ", not ", TypeName(*node)));
  for (size_t i = 0; i < array->size(); ++i) {
    const toml::table* table = (*array)[i].as_table();
    if (table == nullptr)
      return parent.Bad(key, Cat(form, "; element ", i, " is ", TypeName((*array)[i])));
    SEALPOOL_RETURN_IF_ERROR(
        parse(TableReader(*table, Cat(parent.Name(key), "[", i, "]."), base_dir)));
  }
  return absl::OkStatus();
}

bool AllOf(std::string_view text, std::string_view extra, bool upper) {
  for (char ch : text) {
    const bool ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
                    (upper && ch >= 'A' && ch <= 'Z') || extra.find(ch) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

// [key_group.s3] (S3TargetConfig).
absl::Status ParseS3Target(const TableReader& r, S3TargetConfig* t) {
  for (std::string_view secret : {"secret_key", "secret_access_key", "secret"}) {
    if (r.Get(secret) != nullptr) {
      return r.Bad(secret,
                   "a secret key is never taken from the config: put it in a file only sealpoold's "
                   "user may read (chmod 600) and name it in secret_key_file, or pass it as a "
                   "systemd credential (LoadCredential=) named in secret_key_credential");
    }
  }
  SEALPOOL_RETURN_IF_ERROR(r.OnlyKeys({"endpoint", "bucket", "prefix", "region", "addressing",
                                       "ca", "access_key_id", "secret_key_file",
                                       "secret_key_credential"}));
  for (std::string_view key : {"endpoint", "bucket", "access_key_id"}) {
    if (r.Get(key) == nullptr) return r.Bad(key, "is required in an S3 target");
  }
  SEALPOOL_RETURN_IF_ERROR(r.String("endpoint", &t->endpoint));
  {
    std::string_view rest = t->endpoint;
    if (rest.starts_with("https://")) {
      rest.remove_prefix(8);
    } else if (rest.starts_with("http://")) {
      rest.remove_prefix(7);
    } else {
      return r.Bad("endpoint", Cat(Quote(t->endpoint), " does not start with http:// or https://"));
    }
    if (rest.empty() || t->endpoint.size() > 255 || !AllOf(rest, ".-:[]", true)) {
      return r.Bad("endpoint", Cat(Quote(t->endpoint),
                                   " is not http(s)://host[:port] (no path, user or query)"));
    }
  }
  SEALPOOL_RETURN_IF_ERROR(r.String("bucket", &t->bucket));
  if (t->bucket.size() < 3 || t->bucket.size() > 63 || !AllOf(t->bucket, ".-", false) ||
      t->bucket.front() == '.' || t->bucket.front() == '-' || t->bucket.back() == '.' ||
      t->bucket.back() == '-') {
    return r.Bad("bucket", Cat(Quote(t->bucket),
                               " is not an S3 bucket name (3..63 of a-z 0-9 . -, starting and "
                               "ending with a letter or digit)"));
  }
  SEALPOOL_RETURN_IF_ERROR(r.String("prefix", &t->prefix));
  if (!t->prefix.empty()) {
    bool ok = t->prefix.size() <= 200 && t->prefix.back() == '/' && t->prefix.front() != '/' &&
              AllOf(t->prefix, "._/-", true) && t->prefix.find("//") == std::string::npos;
    for (std::string_view seg : {std::string_view("./"), std::string_view("../")}) {
      if (t->prefix.starts_with(seg) || t->prefix.find(Cat("/", seg)) != std::string::npos) {
        ok = false;
      }
    }
    if (!ok) {
      return r.Bad("prefix", Cat(Quote(t->prefix),
                                 " must be empty or up to 200 of A-Za-z 0-9 . _ / - ending in '/' "
                                 "(no leading '/', no '//', no '.' or '..' segment)"));
    }
  }
  SEALPOOL_RETURN_IF_ERROR(r.String("region", &t->region));
  if (t->region.empty() || t->region.size() > 64 || !AllOf(t->region, "-", false)) {
    return r.Bad("region", Cat(Quote(t->region), " is not a region name (1..64 of a-z 0-9 -)"));
  }
  if (r.Get("addressing") != nullptr) {
    std::string addressing;
    SEALPOOL_RETURN_IF_ERROR(r.String("addressing", &addressing));
    if (addressing != "path" && addressing != "virtual-host") {
      return r.Bad("addressing", Cat(Quote(addressing), " is not \"path\" or \"virtual-host\""));
    }
    t->path_style = addressing == "path";
  }
  SEALPOOL_RETURN_IF_ERROR(r.Path("ca", &t->ca_file));
  SEALPOOL_RETURN_IF_ERROR(r.String("access_key_id", &t->access_key_id));
  if (t->access_key_id.empty() || t->access_key_id.size() > 128 ||
      !AllOf(t->access_key_id, "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", true)) {
    return r.Bad("access_key_id", "must be 1..128 printable characters without spaces");
  }
  SEALPOOL_RETURN_IF_ERROR(r.Path("secret_key_file", &t->secret_key_file));
  SEALPOOL_RETURN_IF_ERROR(r.String("secret_key_credential", &t->secret_key_credential));
  const bool has_file = r.Get("secret_key_file") != nullptr;
  const bool has_credential = r.Get("secret_key_credential") != nullptr;
  if (has_file == has_credential) {
    return r.Bad(has_file ? "secret_key_credential" : "secret_key_file",
                 "an S3 target needs exactly one of secret_key_file (a file of mode 0600) and "
                 "secret_key_credential (a systemd credential name)");
  }
  if (has_file && t->secret_key_file.empty()) return r.Bad("secret_key_file", "is empty");
  if (has_credential) {
    if (std::string why = NameProblem(t->secret_key_credential, "._-"); !why.empty()) {
      return r.Bad("secret_key_credential", why);
    }
  }
  return absl::OkStatus();
}

absl::Status ParseKeyGroup(const TableReader& r, PoolConfig* c) {
  SEALPOOL_RETURN_IF_ERROR(r.OnlyKeys({"name", "backend", "s3", "kek_mode"}));
  KeyGroupConfig group;
  SEALPOOL_RETURN_IF_ERROR(r.String("name", &group.name));
  if (r.Get("name") == nullptr) return r.Bad("name", "is required");
  if (std::string why = NameProblem(group.name, "._:-"); !why.empty()) return r.Bad("name", why);
  for (const KeyGroupConfig& other : c->key_groups) {
    if (other.name == group.name)
      return r.Bad("name", Cat(Quote(group.name), " is declared twice"));
  }
  SEALPOOL_RETURN_IF_ERROR(r.String("backend", &group.kms_backend));
  if (group.kms_backend != "builtin" && group.kms_backend != "kmip") {
    return r.Bad("backend", Cat(Quote(group.kms_backend), " is not \"builtin\" or \"kmip\""));
  }
  if (const toml::node* node = r.Get("s3"); node != nullptr) {
    const toml::table* table = node->as_table();
    if (table == nullptr) {
      return r.Bad("s3", Cat("must be a table ([key_group.s3]), not ", TypeName(*node)));
    }
    group.s3.emplace();
    SEALPOOL_RETURN_IF_ERROR(
        ParseS3Target(TableReader(*table, r.Name("s3."), r.base_dir()), &*group.s3));
  }
  SEALPOOL_RETURN_IF_ERROR(ParseKekMode(r, *c, &group));
  c->key_groups.push_back(std::move(group));
  return absl::OkStatus();
}

absl::Status ParseLsu(const TableReader& r, PoolConfig* c) {
  SEALPOOL_RETURN_IF_ERROR(r.OnlyKeys({"name", "key_group", "client_delete", "max_retention_days",
                                       "expire_after_days", "keep_last", "owner_quota_gib"}));
  LsuConfig lsu;
  SEALPOOL_RETURN_IF_ERROR(r.String("name", &lsu.name));
  if (r.Get("name") == nullptr) return r.Bad("name", "is required");
  if (std::string why = NameProblem(lsu.name, "._-"); !why.empty()) return r.Bad("name", why);
  if (c->FindLsu(lsu.name) != nullptr) {
    return r.Bad("name", Cat(Quote(lsu.name), " is declared twice"));
  }
  SEALPOOL_RETURN_IF_ERROR(r.String("key_group", &lsu.key_group));
  if (r.Get("key_group") == nullptr) return r.Bad("key_group", "is required");
  const bool declared =
      std::any_of(c->key_groups.begin(), c->key_groups.end(),
                  [&](const KeyGroupConfig& g) { return g.name == lsu.key_group; });
  if (!declared) {
    return r.Bad("key_group", Cat(Quote(lsu.key_group), " is not a declared [[key_group]]"));
  }
  SEALPOOL_RETURN_IF_ERROR(r.Bool("client_delete", &lsu.client_delete));
  SEALPOOL_RETURN_IF_ERROR(
      r.Duration("max_retention_days", 1, 36500, absl::Hours(24), &lsu.max_retention));
  SEALPOOL_ASSIGN_OR_RETURN(std::optional<int64_t> days, r.Integer("expire_after_days", 1, 36500));
  if (days.has_value()) lsu.expire_after = *days * absl::Hours(24);
  SEALPOOL_ASSIGN_OR_RETURN(std::optional<int64_t> keep, r.Integer("keep_last", 1, 1000000));
  if (keep.has_value()) lsu.keep_last = static_cast<uint32_t>(*keep);
  SEALPOOL_RETURN_IF_ERROR(
      r.Int("owner_quota_gib", 0, int64_t{1} << 24, &lsu.owner_quota_bytes, kGiB));
  c->lsus.push_back(std::move(lsu));
  return absl::OkStatus();
}

absl::Status ParseRights(const TableReader& r, std::set<ClientRight>* rights) {
  const toml::node* node = r.Get("allow");
  if (node == nullptr) return r.Bad("allow", "is required");
  const toml::array* array = node->as_array();
  const std::string form = "must be an array of \"backup\", \"restore\", \"delete\"";
  if (array == nullptr) return r.Bad("allow", Cat(form, ", not ", TypeName(*node)));
  if (array->empty()) return r.Bad("allow", "is empty (remove the entry to grant nothing)");
  for (const toml::node& element : *array) {
    const auto* name = element.as_string();
    if (name == nullptr) return r.Bad("allow", Cat(form, "; one element is ", TypeName(element)));
    std::optional<ClientRight> right;
    for (ClientRight candidate :
         {ClientRight::kBackup, ClientRight::kRestore, ClientRight::kDelete}) {
      if (ClientRightName(candidate) == name->get()) right = candidate;
    }
    if (!right.has_value()) {
      return r.Bad("allow", Cat(Quote(name->get()), " is not a right (backup, restore, delete)"));
    }
    if (!rights->insert(*right).second)
      return r.Bad("allow", Cat(Quote(name->get()), " is listed twice"));
  }
  return absl::OkStatus();
}

absl::Status ParseClient(const TableReader& r, const fs::path& base_dir, PoolConfig* c) {
  SEALPOOL_RETURN_IF_ERROR(
      r.OnlyKeys({"cn", "access", "client_dedup", "client_dedup_epoch"}));
  ClientConfig client;
  SEALPOOL_RETURN_IF_ERROR(r.String("cn", &client.cn));
  SEALPOOL_RETURN_IF_ERROR(r.Bool("client_dedup", &client.client_dedup));
  SEALPOOL_RETURN_IF_ERROR(
      r.Int("client_dedup_epoch", 0, int64_t{UINT32_MAX}, &client.client_dedup_epoch));
  if (r.Get("cn") == nullptr) return r.Bad("cn", "is required");
  if (std::string why = CnProblem(client.cn); !why.empty()) return r.Bad("cn", why);
  if (c->FindClient(client.cn) != nullptr) {
    return r.Bad("cn", Cat(Quote(client.cn), " is declared twice"));
  }
  SEALPOOL_RETURN_IF_ERROR(
      ForEachTable(r, "access", "[[client.access]]", base_dir, [&](const TableReader& a) {
        SEALPOOL_RETURN_IF_ERROR(a.OnlyKeys({"lsu", "allow"}));
        std::string lsu;
        SEALPOOL_RETURN_IF_ERROR(a.String("lsu", &lsu));
        if (a.Get("lsu") == nullptr) return a.Bad("lsu", "is required");
        if (c->FindLsu(lsu) == nullptr)
          return a.Bad("lsu", Cat(Quote(lsu), " is not a declared [[lsu]]"));
        if (client.access.contains(lsu)) {
          return a.Bad("lsu",
                       Cat(Quote(lsu), " is granted twice to this client (merge the entries)"));
        }
        std::set<ClientRight> rights;
        SEALPOOL_RETURN_IF_ERROR(ParseRights(a, &rights));
        client.access.emplace(std::move(lsu), std::move(rights));
        return absl::OkStatus();
      }));
  c->clients.push_back(std::move(client));
  return absl::OkStatus();
}

using SectionParser = absl::Status (*)(const TableReader&, PoolConfig*);
struct Section {
  std::string_view name;
  SectionParser parse;
};
constexpr std::array<Section, 11> kSections = {{
    {"pool", ParsePool},
    {"server", ParseServer},
    {"admin", ParseAdmin},
    {"metrics", ParseMetrics},
    {"kms", ParseKms},
    {"chunking", ParseChunking},
    {"keys", ParseKeys},
    {"storage", ParseStorage},
    {"limits", ParseLimits},
    {"scheduler", ParseScheduler},
    {"log", ParseLog},
}};

absl::Status ParseRoot(const toml::table& root, const fs::path& base_dir, PoolConfig* c) {
  const TableReader top(root, "", base_dir);
  SEALPOOL_RETURN_IF_ERROR(
      top.OnlyKeys({"pool", "server", "admin", "metrics", "kms", "chunking", "keys", "storage",
                    "limits", "scheduler", "log", "key_group", "lsu", "client"}));
  for (const Section& section : kSections) {
    const toml::node* node = root.get(section.name);
    if (node == nullptr) continue;
    const toml::table* table = node->as_table();
    if (table == nullptr) {
      return top.Bad(section.name,
                     Cat("must be a table ([", section.name, "]), not ", TypeName(*node)));
    }
    SEALPOOL_RETURN_IF_ERROR(
        section.parse(TableReader(*table, Cat(section.name, "."), base_dir), c));
  }
  // Key groups before LSUs before clients, wherever they are in the file: each names the former.
  SEALPOOL_RETURN_IF_ERROR(ForEachTable(top, "key_group", "[[key_group]]", base_dir,
                                        [&](const TableReader& r) { return ParseKeyGroup(r, c); }));
  SEALPOOL_RETURN_IF_ERROR(ForEachTable(top, "lsu", "[[lsu]]", base_dir,
                                        [&](const TableReader& r) { return ParseLsu(r, c); }));
  return ForEachTable(top, "client", "[[client]]", base_dir,
                      [&](const TableReader& r) { return ParseClient(r, base_dir, c); });
}

absl::Status CheckRequired(const PoolConfig& c) {
  const std::pair<std::string_view, const fs::path*> paths[] = {
      {"pool.path", &c.pool_dir},     {"pool.audit_log", &c.audit_log}, {"server.ca", &c.ca_file},
      {"server.cert", &c.cert_file},  {"server.key", &c.key_file},      {"kms.ca", &c.kms_ca_file},
      {"kms.cert", &c.kms_cert_file}, {"kms.key", &c.kms_key_file},
  };
  for (const auto& [key, path] : paths) {
    if (path->empty()) return Bad(key, "is required");
  }
  if (c.kms_pool_id.empty()) return Bad("kms.pool_id", "is required");
  return absl::OkStatus();
}

// Control characters of a TOML error description escaped (it may quote the offending bytes).
std::string Printable(std::string_view text) {
  std::string out;
  for (char ch : text) {
    const auto byte = static_cast<unsigned char>(ch);
    out += byte < 0x20 || byte == 0x7f ? absl::StrFormat("\\x%02x", byte) : std::string(1, ch);
  }
  return out;
}

}  // namespace

std::string LsuNameProblem(std::string_view name) { return NameProblem(name, "._-"); }

const LsuConfig* PoolConfig::FindLsu(std::string_view name) const {
  for (const LsuConfig& lsu : lsus) {
    if (lsu.name == name) return &lsu;
  }
  return nullptr;
}

const ClientConfig* PoolConfig::FindClient(std::string_view cn) const {
  for (const ClientConfig& client : clients) {
    if (client.cn == cn) return &client;
  }
  return nullptr;
}

std::string_view ClientRightName(ClientRight right) {
  switch (right) {
    case ClientRight::kBackup:
      return "backup";
    case ClientRight::kRestore:
      return "restore";
    case ClientRight::kDelete:
      return "delete";
  }
  return "unknown";
}

absl::StatusOr<PoolConfig> ParsePoolConfig(std::string_view text,
                                           const std::filesystem::path& base_dir) {
  if (text.size() > kMaxPoolConfigBytes) {
    return absl::InvalidArgumentError(Cat("config is ", text.size(), " bytes; the limit is ",
                                          kMaxPoolConfigBytes, " (is this the right file?)"));
  }
  toml::table root;
  try {
    root = toml::parse(text);
  } catch (const toml::parse_error& e) {
    return absl::InvalidArgumentError(Cat("config line ", e.source().begin.line, ", column ",
                                          e.source().begin.column,
                                          ": not valid TOML: ", Printable(e.description())));
  } catch (const std::exception& e) {  // toml++ throws only parse_error; bad_alloc, say
    return absl::InvalidArgumentError(Cat("config: not parsed: ", Printable(e.what())));
  }
  PoolConfig config;
  SEALPOOL_RETURN_IF_ERROR(ParseRoot(root, base_dir, &config));
  SEALPOOL_RETURN_IF_ERROR(CheckRequired(config));
  return config;
}

absl::StatusOr<PoolConfig> LoadPoolConfig(const std::filesystem::path& path) {
  std::error_code error;
  const fs::file_status status = fs::status(path, error);
  if (error || !fs::exists(status)) {
    return absl::NotFoundError(
        Cat("config file ", path.string(), ": ", error ? error.message() : "does not exist"));
  }
  if (fs::is_directory(status)) {
    return absl::NotFoundError(Cat("config file ", path.string(), ": is a directory"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(Cat("config file ", path.string(), ": cannot be opened"));
  // One byte over the limit is enough to refuse (and a FIFO or /dev/zero is never slurped).
  std::string text(kMaxPoolConfigBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (in.bad()) return absl::NotFoundError(Cat("config file ", path.string(), ": read failed"));
  text.resize(static_cast<size_t>(in.gcount()));
  if (text.size() > kMaxPoolConfigBytes) {
    return absl::InvalidArgumentError(Cat("config file ", path.string(), ": is larger than ",
                                          kMaxPoolConfigBytes,
                                          " bytes, the limit (is this the right file?)"));
  }
  fs::path base_dir = fs::absolute(path, error).parent_path();
  if (error) base_dir = path.parent_path();
  absl::StatusOr<PoolConfig> config = ParsePoolConfig(text, base_dir);
  if (!config.ok()) return Annotate(config.status(), Cat("config file ", path.string()));
  return config;
}

}  // namespace sealpool::daemon
