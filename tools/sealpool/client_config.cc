#include "tools/sealpool/client_config.h"

#include <sys/stat.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <vector>

#include "base/private_file.h"
#include "base/status_macros.h"
#include "base/strings.h"

namespace sealpool::tools::client {

std::optional<std::string> ConfigPath(const std::string& flag) {
  if (!flag.empty()) return flag;
  if (const char* env = std::getenv("SEALPOOL_CONFIG"); env != nullptr && *env != '\0') {
    return std::string(env);
  }
  std::filesystem::path base;
  if (const char* xdg = std::getenv("XDG_CONFIG_HOME"); xdg != nullptr && *xdg != '\0') {
    base = xdg;
  } else if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
    base = std::filesystem::path(home) / ".config";
  } else {
    return std::nullopt;
  }
  std::filesystem::path path = base / "sealpool" / "client.toml";
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) return path.string();
  return std::nullopt;
}

absl::Status LoadConfigFile(const std::string& path, ClientConfig* config) {
  if (access(path.c_str(), R_OK) != 0) {
    return absl::NotFoundError(
        base::Cat("cannot read the config file ", path, ": ", std::strerror(errno)));
  }
  toml::table table;
  try {
    table = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    return absl::InvalidArgumentError(
        base::Cat(path, ":", where.line, ":", where.column, ": ", std::string(e.description())));
  }
  std::filesystem::path folder = std::filesystem::path(path).parent_path();
  auto resolve = [&](const std::string& p) {
    std::filesystem::path fp(p);
    if (p.empty() || fp.is_absolute() || folder.empty()) return p;
    return (folder / fp).string();
  };
  struct StringKey {
    const char* name;
    std::string* value;
    bool is_path;
  };
  const std::vector<StringKey> strings = {{"server", &config->server, false},
                                          {"server_name", &config->server_name, false},
                                          {"ca", &config->ca, true},
                                          {"cert", &config->cert, true},
                                          {"key", &config->key, true}};
  for (const auto& [key, node] : table) {
    std::string name(key.str());
    if (name == "timeout_seconds") {
      std::optional<double> v = node.value<double>();
      if (!v.has_value() || *v <= 0 || *v > 3600) {
        return absl::InvalidArgumentError(
            base::Cat(path, ": timeout_seconds must be a number of seconds in (0, 3600]"));
      }
      config->timeout_seconds = *v;
      continue;
    }
    if (name == "lsus") {
      const toml::array* array = node.as_array();
      if (array == nullptr) {
        return absl::InvalidArgumentError(base::Cat(path, ": lsus must be an array of strings"));
      }
      config->lsus.clear();
      for (const toml::node& element : *array) {
        if (!element.is_string()) {
          return absl::InvalidArgumentError(base::Cat(path, ": lsus must be an array of strings"));
        }
        config->lsus.push_back(element.as_string()->get());
      }
      continue;
    }
    bool known = false;
    for (const StringKey& s : strings) {
      if (name != s.name) continue;
      known = true;
      const std::string* v = node.as_string() ? &node.as_string()->get() : nullptr;
      if (v == nullptr) {
        return absl::InvalidArgumentError(base::Cat(path, ": ", name, " must be a string"));
      }
      *s.value = s.is_path ? resolve(*v) : *v;
    }
    if (!known) {
      return absl::InvalidArgumentError(
          base::Cat(path, ": unknown key \"", name,
                    "\" (known: server, server_name, ca, cert, key, timeout_seconds, lsus)"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckConfig(const ClientConfig& config) {
  std::string missing;
  auto need = [&](const std::string& value, const char* name) {
    if (!value.empty()) return;
    if (!missing.empty()) missing += ", ";
    missing += name;
  };
  need(config.server, "server");
  need(config.ca, "ca");
  need(config.cert, "cert");
  need(config.key, "key");
  if (!missing.empty()) {
    return absl::InvalidArgumentError(
        base::Cat("no ", missing,
                  ": set them in the config file (~/.config/sealpool/client.toml, "
                  "$SEALPOOL_CONFIG or --config) or with --server, --ca, --cert, --key"));
  }
  // The one check of every binary's private key file (base/private_file.h).
  SEALPOOL_RETURN_IF_ERROR(base::CheckPrivateFile("the private key", config.key));
  return absl::OkStatus();
}

}  // namespace sealpool::tools::client
