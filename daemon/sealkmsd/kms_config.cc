#include "daemon/sealkmsd/kms_config.h"

#include <toml++/toml.h>

#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "kms/names.h"
#include "kms/status_util.h"

namespace sealpool::daemon {

using kms::Annotate;
using kms::Cat;
namespace {

absl::Status Bad(std::string_view key, std::string_view why) {
  return absl::InvalidArgumentError(Cat("config key ", key, ": ", why));
}

absl::Status CheckKeys(const toml::table& table, std::string_view where,
                       std::initializer_list<std::string_view> known) {
  for (const auto& [key, value] : table) {
    bool ok = false;
    for (std::string_view k : known) ok = ok || key.str() == k;
    if (!ok) return Bad(Cat(where, key.str()), "unknown key");
  }
  return absl::OkStatus();
}

absl::Status GetString(const toml::table& t, std::string_view where, std::string_view key,
                       std::string* out) {
  const toml::node* n = t.get(key);
  if (n == nullptr) return absl::OkStatus();
  const auto* v = n->as_string();
  if (v == nullptr) return Bad(Cat(where, key), "must be a string");
  *out = v->get();
  return absl::OkStatus();
}

absl::Status GetPath(const toml::table& t, std::string_view where, std::string_view key,
                     const std::filesystem::path& base, std::filesystem::path* out) {
  std::string s;
  SEALPOOL_RETURN_IF_ERROR(GetString(t, where, key, &s));
  if (s.empty()) return absl::OkStatus();
  std::filesystem::path p(s);
  *out = p.is_absolute() ? p : base / p;
  return absl::OkStatus();
}

absl::Status GetStringArray(const toml::table& t, std::string_view where, std::string_view key,
                            std::set<std::string>* out) {
  const toml::node* n = t.get(key);
  if (n == nullptr) return absl::OkStatus();
  const auto* a = n->as_array();
  if (a == nullptr) return Bad(Cat(where, key), "must be an array of strings");
  for (const toml::node& e : *a) {
    const auto* v = e.as_string();
    if (v == nullptr) return Bad(Cat(where, key), "must be an array of strings");
    out->insert(v->get());
  }
  return absl::OkStatus();
}

const toml::table* SubTable(const toml::table& root, std::string_view name, absl::Status* s) {
  const toml::node* n = root.get(name);
  if (n == nullptr) return nullptr;
  const toml::table* t = n->as_table();
  if (t == nullptr) *s = Bad(name, "must be a table");
  return t;
}

absl::Status ParseKmip(const toml::table& t, const std::filesystem::path& base, KmipConfig* k) {
  SEALPOOL_RETURN_IF_ERROR(CheckKeys(t, "kmip.",
                                     {"server", "server_name", "ca", "cert", "key", "state",
                                      "timeout_seconds", "allow_export", "key_groups"}));
  k->enabled = true;
  std::string server;
  SEALPOOL_RETURN_IF_ERROR(GetString(t, "kmip.", "server", &server));
  SEALPOOL_RETURN_IF_ERROR(GetString(t, "kmip.", "server_name", &k->server_name));
  SEALPOOL_RETURN_IF_ERROR(GetPath(t, "kmip.", "ca", base, &k->ca_file));
  SEALPOOL_RETURN_IF_ERROR(GetPath(t, "kmip.", "cert", base, &k->cert_file));
  SEALPOOL_RETURN_IF_ERROR(GetPath(t, "kmip.", "key", base, &k->key_file));
  SEALPOOL_RETURN_IF_ERROR(GetPath(t, "kmip.", "state", base, &k->state_path));
  SEALPOOL_RETURN_IF_ERROR(GetStringArray(t, "kmip.", "key_groups", &k->key_groups));
  if (const toml::node* n = t.get("timeout_seconds")) {
    const auto* v = n->as_integer();
    if (v == nullptr || v->get() < 1 || v->get() > 300) {
      return Bad("kmip.timeout_seconds", "must be an integer in [1, 300]");
    }
    k->timeout_seconds = static_cast<uint32_t>(v->get());
  }
  if (const toml::node* n = t.get("allow_export")) {
    const auto* v = n->as_boolean();
    if (v == nullptr) return Bad("kmip.allow_export", "must be true or false");
    k->allow_export = v->get();
  }
  size_t colon = server.rfind(':');
  int port = 0;
  if (colon == std::string::npos || colon == 0) {
    return Bad("kmip.server", "is required, as \"host:port\" (KMIP's port is usually 5696)");
  }
  std::string port_text = server.substr(colon + 1);
  for (char ch : port_text) {
    if (ch < '0' || ch > '9' || port > 65535) return Bad("kmip.server", "has a bad port");
    port = port * 10 + (ch - '0');
  }
  if (port_text.empty() || port <= 0 || port > 65535) return Bad("kmip.server", "has a bad port");
  k->host = server.substr(0, colon);
  if (k->host.size() > 2 && k->host.front() == '[' && k->host.back() == ']') {
    k->host = k->host.substr(1, k->host.size() - 2);  // [IPv6]:port
  }
  k->port = port;
  if (k->ca_file.empty() || k->cert_file.empty() || k->key_file.empty()) {
    return Bad("kmip.ca/cert/key", "all three are required (KMIP over mutual TLS only)");
  }
  if (k->state_path.empty()) return Bad("kmip.state", "is required");
  for (const std::string& g : k->key_groups) {
    if (absl::Status v = kms::ValidateName("key group", g); !v.ok()) {
      return Bad("kmip.key_groups", kms::StdView(v.message()));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<KmsConfig> ParseKmsConfig(std::string_view text,
                                         const std::filesystem::path& base_dir) {
  toml::table root;
  try {
    root = toml::parse(text);
  } catch (const toml::parse_error& e) {
    return absl::InvalidArgumentError(
        Cat("config line ", e.source().begin.line, ": ", e.description()));
  }
  KmsConfig c;
  SEALPOOL_RETURN_IF_ERROR(
      CheckKeys(root, "", {"server", "store", "log", "storage_server", "admins", "kmip"}));
  absl::Status s;
  if (const toml::table* t = SubTable(root, "server", &s)) {
    SEALPOOL_RETURN_IF_ERROR(CheckKeys(*t, "server.", {"listen", "ca", "cert", "key", "port_file"}));
    SEALPOOL_RETURN_IF_ERROR(GetString(*t, "server.", "listen", &c.listen));
    SEALPOOL_RETURN_IF_ERROR(GetPath(*t, "server.", "ca", base_dir, &c.ca_file));
    SEALPOOL_RETURN_IF_ERROR(GetPath(*t, "server.", "cert", base_dir, &c.cert_file));
    SEALPOOL_RETURN_IF_ERROR(GetPath(*t, "server.", "key", base_dir, &c.key_file));
    SEALPOOL_RETURN_IF_ERROR(GetPath(*t, "server.", "port_file", base_dir, &c.port_file));
  }
  SEALPOOL_RETURN_IF_ERROR(s);
  if (const toml::table* t = SubTable(root, "store", &s)) {
    SEALPOOL_RETURN_IF_ERROR(CheckKeys(
        *t, "store.",
        {"path", "passphrase_file", "passphrase_credential", "scrypt_log2_n", "audit_log"}));
    SEALPOOL_RETURN_IF_ERROR(GetPath(*t, "store.", "path", base_dir, &c.store_path));
    SEALPOOL_RETURN_IF_ERROR(GetPath(*t, "store.", "passphrase_file", base_dir, &c.passphrase_file));
    SEALPOOL_RETURN_IF_ERROR(GetString(*t, "store.", "passphrase_credential", &c.passphrase_credential));
    SEALPOOL_RETURN_IF_ERROR(GetPath(*t, "store.", "audit_log", base_dir, &c.audit_log));
    if (const toml::node* n = t->get("scrypt_log2_n")) {
      const auto* v = n->as_integer();
      if (v == nullptr || v->get() < 10 || v->get() > 22) {
        return Bad("store.scrypt_log2_n", "must be an integer in [10, 22]");
      }
      c.scrypt_log2_n = static_cast<uint32_t>(v->get());
    }
  }
  SEALPOOL_RETURN_IF_ERROR(s);
  if (const toml::table* t = SubTable(root, "log", &s)) {
    SEALPOOL_RETURN_IF_ERROR(CheckKeys(*t, "log.", {"level"}));
    SEALPOOL_RETURN_IF_ERROR(GetString(*t, "log.", "level", &c.log_level));
  }
  SEALPOOL_RETURN_IF_ERROR(s);
  if (const toml::table* t = SubTable(root, "admins", &s)) {
    SEALPOOL_RETURN_IF_ERROR(CheckKeys(*t, "admins.", {"cns"}));
    SEALPOOL_RETURN_IF_ERROR(GetStringArray(*t, "admins.", "cns", &c.admins));
  }
  SEALPOOL_RETURN_IF_ERROR(s);
  if (const toml::node* n = root.get("storage_server")) {
    const toml::array* a = n->as_array();
    if (a == nullptr) return Bad("storage_server", "must be an array of tables [[storage_server]]");
    for (const toml::node& e : *a) {
      const toml::table* t = e.as_table();
      if (t == nullptr) return Bad("storage_server", "must be an array of tables");
      SEALPOOL_RETURN_IF_ERROR(CheckKeys(*t, "storage_server.", {"cn", "pool_id", "key_groups"}));
      kms::StorageClient client;
      SEALPOOL_RETURN_IF_ERROR(GetString(*t, "storage_server.", "cn", &client.common_name));
      SEALPOOL_RETURN_IF_ERROR(GetString(*t, "storage_server.", "pool_id", &client.pool_id));
      SEALPOOL_RETURN_IF_ERROR(GetStringArray(*t, "storage_server.", "key_groups", &client.key_groups));
      if (client.common_name.empty()) return Bad("storage_server.cn", "is required");
      if (client.pool_id.empty()) return Bad("storage_server.pool_id", "is required");
      c.storage_servers.push_back(std::move(client));
    }
  }

  if (const toml::table* t = SubTable(root, "kmip", &s)) {
    SEALPOOL_RETURN_IF_ERROR(ParseKmip(*t, base_dir, &c.kmip));
  }
  SEALPOOL_RETURN_IF_ERROR(s);

  if (c.ca_file.empty() || c.cert_file.empty() || c.key_file.empty()) {
    return Bad("server.ca/cert/key", "all three are required (sealkmsd speaks mTLS only)");
  }
  if (c.store_path.empty()) return Bad("store.path", "is required");
  if (c.passphrase_file.empty() == c.passphrase_credential.empty()) {
    return Bad("store.passphrase_file/passphrase_credential", "set exactly one of the two");
  }
  if (c.audit_log.empty()) return Bad("store.audit_log", "is required");
  if (c.log_level != "trace" && c.log_level != "debug" && c.log_level != "info" &&
      c.log_level != "warn" && c.log_level != "error") {
    return Bad("log.level", "must be one of trace, debug, info, warn, error");
  }
  // Validates names and duplicates.
  SEALPOOL_RETURN_IF_ERROR(kms::AccessPolicy::Create(c.storage_servers, c.admins).status());
  return c;
}

absl::StatusOr<KmsConfig> LoadKmsConfig(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) {
    return absl::NotFoundError(Cat("cannot read config file ", path.string()));
  }
  std::stringstream text;
  text << in.rdbuf();
  absl::StatusOr<KmsConfig> config = ParseKmsConfig(text.str(), path.parent_path());
  if (!config.ok()) return Annotate(config.status(), Cat("config ", path.string()));
  return config;
}

}  // namespace sealpool::daemon
