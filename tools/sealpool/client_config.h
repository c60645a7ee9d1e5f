// Where sealpool finds sealpoold and its TLS identity: a TOML file and command-line flags.
//
// The file is the one given by --config, else $SEALPOOL_CONFIG, else
// $XDG_CONFIG_HOME/sealpool/client.toml (default ~/.config/sealpool/client.toml) when it
// exists. Keys (all optional, strings unless said): server, server_name, ca, cert, key,
// timeout_seconds (a number), lsus (an array of strings). The file is strict: an unknown key or
// table, or a value of the wrong type, is an error that names it. A flag overrides the file's key.
// Relative paths in the file are taken relative to the file's folder.
//
// No secret is ever an argument: `key` is the path of the private key file, and a key file
// that its group or others may read or write (mode & 077) is refused, as ssh does.
#ifndef SEALPOOL_TOOLS_SEALPOOL_CLIENT_CONFIG_H_
#define SEALPOOL_TOOLS_SEALPOOL_CLIENT_CONFIG_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace sealpool::tools::client {

struct ClientConfig {
  std::string server;             // host:port
  std::string server_name;        // name to verify in sealpoold's certificate ("": server's host)
  std::string ca;                 // CA certificate (PEM) that signed sealpoold's certificate
  std::string cert;               // this client's certificate (PEM); its CN names the client
  std::string key;                // its private key (PEM), a file of mode 0600 or 0400
  double timeout_seconds = 30;    // for calls that are not streams (ls, stat, rm)
  std::vector<std::string> lsus;  // what `sealpool ls` lists when no LSU is named
};

// The config file to read: `flag` if set, else $SEALPOOL_CONFIG if set, else the default path
// if that file exists; nullopt when there is none.
std::optional<std::string> ConfigPath(const std::string& flag);

// Parses the TOML text of `path` into `config` (over its current values). INVALID_ARGUMENT
// with "PATH: ..." for a syntax error, an unknown key or a wrong type; NOT_FOUND if the file
// cannot be read.
absl::Status LoadConfigFile(const std::string& path, ClientConfig* config);

// Checks that server, ca, cert and key are all set (INVALID_ARGUMENT naming the missing ones,
// the flags and the config key), and that the key file is private (PERMISSION_DENIED) and
// readable (NOT_FOUND).
absl::Status CheckConfig(const ClientConfig& config);

}  // namespace sealpool::tools::client

#endif  // SEALPOOL_TOOLS_SEALPOOL_CLIENT_CONFIG_H_
