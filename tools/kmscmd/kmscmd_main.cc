// kmscmd: administration of sealkmsd over mTLS with an admin certificate (OU=admin). Key
// groups, root keys and their states, the usage registry, the audit log and the key-store
// passphrase. Human output by default, --json for scripts; exit codes in exit_codes.h and
// docs/kms.md.
#include <fcntl.h>
#include <openssl/crypto.h>
#include <sys/stat.h>
#include <termios.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <span>
#include <sstream>
#include <string>

#include "base/private_file.h"
#include "crypto/secure_memory.h"
#include "google/protobuf/util/json_util.h"
#include "sealpool/kms/v1/admin.grpc.pb.h"
#include "tools/kmscmd/exit_codes.h"
#include "tools/kmscmd/output.h"

namespace sealpool::tools {
namespace {

namespace v1 = kms::v1;
using base::Cat;

// sealkmsd's mark of a failure of its KMS (kms/admin_service.h; kmscmd links no kms code).
constexpr char kFailedComponentKey[] = "sealpool-failed-component";
constexpr char kFailedComponentKms[] = "kms";

struct Connection {
  std::string server = "localhost:7443";
  std::string server_name;
  std::string ca = "/etc/sealpool/kms/ca.crt";
  std::string cert = "/etc/sealpool/kms/admin.crt";
  std::string key = "/etc/sealpool/kms/admin.key";
  // Longer than sealkmsd's own deadline for a KMIP call ([kmip].timeout_seconds, 10 s by
  // default), so that sealkmsd's more specific error arrives first.
  double timeout_seconds = 30;
  bool json = false;
};

bool ReadFile(const std::string& path, std::string* out, std::string* error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *error = "cannot read " + path;
    return false;
  }
  std::stringstream s;
  s << in.rdbuf();
  *out = s.str();
  return true;
}

class Admin {
 public:
  explicit Admin(const Connection& c) : conn_(c) {}

  // Connects lazily; returns an exit code on failure (after printing why).
  int Connect() {
    grpc::SslCredentialsOptions ssl;
    std::string error;
    if (!ReadFile(conn_.ca, &ssl.pem_root_certs, &error) ||
        !ReadFile(conn_.cert, &ssl.pem_cert_chain, &error)) {
      std::fprintf(stderr, "kmscmd: %s (set --ca, --cert and --key)\n", error.c_str());
      return kExitUsage;
    }
    // The private key: refused if its group or others may access it (base/private_file.h).
    absl::StatusOr<std::string> key = base::ReadPrivateFile("the private key", conn_.key);
    if (!key.ok()) {
      std::fprintf(stderr, "kmscmd: %s\n", std::string(key.status().message()).c_str());
      return kExitUsage;
    }
    ssl.pem_private_key = *std::move(key);
    grpc::ChannelArguments args;
    if (!conn_.server_name.empty()) args.SetSslTargetNameOverride(conn_.server_name);
    stub_ = v1::KeyAdmin::NewStub(
        grpc::CreateCustomChannel(conn_.server, grpc::SslCredentials(ssl), args));
    return kExitOk;
  }

  // Runs one RPC with the timeout and prints `response` (JSON or `human`); returns the exit
  // code.
  template <typename Response>
  int Call(const std::function<grpc::Status(grpc::ClientContext*, Response*)>& rpc,
           const std::function<std::string(const Response&)>& human) {
    if (int rc = Connect(); rc != kExitOk) return rc;
    grpc::ClientContext context;
    context.set_deadline(
        std::chrono::system_clock::now() +
        std::chrono::milliseconds(static_cast<int64_t>(conn_.timeout_seconds * 1000)));
    Response response;
    grpc::Status status = rpc(&context, &response);
    if (!status.ok()) {
      std::fprintf(stderr, "kmscmd: %s: %s\n", StatusCodeName(status.error_code()),
                   status.error_message().c_str());
      auto component = context.GetServerTrailingMetadata().find(kFailedComponentKey);
      if (component != context.GetServerTrailingMetadata().end() &&
          component->second == kFailedComponentKms) {
        std::fprintf(stderr,
                     "kmscmd: sealkmsd at %s answered, but its KMS (the KMIP server it keeps "
                     "root keys in) failed or refused; nothing is wrong with kmscmd's "
                     "connection. Check the [kmip] section of sealkmsd's config (server, "
                     "server_name, ca, cert, key, timeout_seconds: the message above names the "
                     "one at fault), that the KMIP server runs, and sealkmsd's log "
                     "(sealkmsd --config ... --check-kms tests it)\n",
                     conn_.server.c_str());
        return kExitKms;
      }
      if (status.error_code() == grpc::StatusCode::UNAVAILABLE ||
          status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
        std::fprintf(stderr,
                     "kmscmd: is sealkmsd running at %s, and do --ca/--cert/--key "
                     "match its CA?\n",
                     conn_.server.c_str());
      }
      return ExitCodeFor(status.error_code());
    }
    if (conn_.json) {
      std::string json;
      google::protobuf::util::JsonPrintOptions options;
      options.always_print_primitive_fields = true;
      options.preserve_proto_field_names = true;
      if (!google::protobuf::util::MessageToJsonString(response, &json, options).ok()) {
        std::fprintf(stderr, "kmscmd: cannot print the answer as JSON\n");
        return kExitError;
      }
      std::printf("%s\n", json.c_str());
    } else {
      std::fputs(human(response).c_str(), stdout);
    }
    return kExitOk;
  }

  v1::KeyAdmin::Stub* stub() { return stub_.get(); }

 private:
  const Connection& conn_;
  std::unique_ptr<v1::KeyAdmin::Stub> stub_;
};

// The longest passphrase sealkmsd takes (kms/admin_service.h, kMaxPassphraseSize).
constexpr size_t kMaxPassphrase = 1024;

// Reads one line from `fd` into `buf` (locked memory) without its line end; the length, or -1
// with `error` set. Byte by byte: nothing is read past the line, nothing lands in stdio buffers.
ssize_t ReadLine(int fd, std::span<uint8_t> buf, std::string* error) {
  size_t n = 0;
  for (;;) {
    uint8_t c = 0;
    ssize_t r = ::read(fd, &c, 1);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      *error = Cat("cannot read the new passphrase: ", std::strerror(errno));
      return -1;
    }
    if (r == 0 || c == '\n') break;
    if (n == buf.size()) {
      *error = Cat("the new passphrase is longer than ", kMaxPassphrase, " bytes");
      return -1;
    }
    buf[n++] = c;
  }
  while (n > 0 && buf[n - 1] == '\r') --n;
  return static_cast<ssize_t>(n);
}

// Reads the new passphrase into locked, wiped memory (crypto/secure_memory.h): from `path`
// (mode 0600 or stricter, like a private key), or with "-" from stdin: on a terminal asked
// twice with echo off, else one line. Prints why and returns nullopt when it cannot.
std::optional<crypto::SecretBytes> ReadNewPassphrase(const std::string& path) {
  absl::StatusOr<crypto::SecretBytes> first = crypto::SecretBytes::Allocate(kMaxPassphrase);
  absl::StatusOr<crypto::SecretBytes> second = crypto::SecretBytes::Allocate(kMaxPassphrase);
  if (!first.ok() || !second.ok()) {
    std::fprintf(stderr, "kmscmd: no memory for the passphrase\n");
    return std::nullopt;
  }
  std::string error;
  ssize_t n = -1;
  if (path != "-") {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    struct stat st {};
    absl::Status ok = fd < 0 ? absl::NotFoundError(Cat("cannot read the new passphrase file ",
                                                       path, ": ", std::strerror(errno)))
                      : ::fstat(fd, &st) != 0
                          ? absl::PermissionDeniedError(Cat("cannot stat ", path))
                          : base::CheckPrivateFileStat(st, "the new passphrase file", path);
    if (ok.ok()) n = ReadLine(fd, first->mutable_span(), &error);
    if (fd >= 0) ::close(fd);
    if (!ok.ok()) error = std::string(ok.message());
  } else if (::isatty(STDIN_FILENO) == 1) {
    termios saved{};
    if (::tcgetattr(STDIN_FILENO, &saved) != 0) {
      std::fprintf(stderr, "kmscmd: cannot read the terminal's settings: %s\n",
                   std::strerror(errno));
      return std::nullopt;
    }
    termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    quiet.c_lflag |= ECHONL;  // the Enter still moves to a new line
    if (::tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) != 0) {
      std::fprintf(stderr, "kmscmd: cannot turn the terminal's echo off: %s\n",
                   std::strerror(errno));
      return std::nullopt;
    }
    std::fprintf(stderr, "New key-store passphrase: ");
    std::fflush(stderr);
    n = ReadLine(STDIN_FILENO, first->mutable_span(), &error);
    ssize_t m = -1;
    if (n > 0) {
      std::fprintf(stderr, "Repeat the new passphrase: ");
      std::fflush(stderr);
      m = ReadLine(STDIN_FILENO, second->mutable_span(), &error);
    }
    ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
    if (n > 0 && m >= 0 &&
        (m != n || CRYPTO_memcmp(first->span().data(), second->span().data(),
                                 static_cast<size_t>(n)) != 0)) {
      error = "the two entries differ; nothing was changed";
      n = -1;
    }
  } else {
    n = ReadLine(STDIN_FILENO, first->mutable_span(), &error);
  }
  if (n < 0) {
    std::fprintf(stderr, "kmscmd: %s\n", error.c_str());
    return std::nullopt;
  }
  if (n == 0) {
    std::fprintf(stderr, "kmscmd: the new passphrase is empty\n");
    return std::nullopt;
  }
  absl::StatusOr<crypto::SecretBytes> out = crypto::SecretBytes::Allocate(static_cast<size_t>(n));
  if (!out.ok()) return std::nullopt;
  std::copy_n(first->span().data(), static_cast<size_t>(n), out->mutable_span().data());
  return *std::move(out);
}

int Main(int argc, char** argv) {
  CLI::App app{
      "kmscmd: administer sealkmsd (key groups, root keys and their states, usage, audit log,\n"
      "key-store passphrase) over mTLS with an admin certificate.\n\n"
      "Exit codes: 0 ok, 1 other error, 2 usage or invalid argument, 3 not found,\n"
      "4 refused by a key-state rule or already exists, 5 permission denied,\n"
      "6 sealkmsd unreachable, 7 sealkmsd's KMS (KMIP server) failed or refused.\n"
      "The options below may also follow the subcommand (kmscmd key list --json).\n"
      "See docs/kms.md."};
  app.require_subcommand(1);
  // The package test (test/packaging/deb_test.sh) checks this against the project version.
  app.set_version_flag("--version", "kmscmd " SEALPOOL_VERSION);
  app.fallthrough();  // inherited by every subcommand: global options after it too
  Connection conn;
  app.set_config("--config", "", "file with the options below as key = value (TOML)");
  app.add_option("-s,--server", conn.server, "sealkmsd address host:port")->capture_default_str();
  app.add_option("--server-name", conn.server_name,
                 "name to verify in sealkmsd's certificate (default: the host of --server)");
  app.add_option("--ca", conn.ca, "CA certificate (PEM)")->capture_default_str();
  app.add_option("--cert", conn.cert, "admin client certificate (PEM)")->capture_default_str();
  app.add_option("--key", conn.key, "its private key (PEM)")->capture_default_str();
  app.add_option("--timeout", conn.timeout_seconds,
                 "seconds to wait for sealkmsd (keep it above sealkmsd's "
                 "[kmip].timeout_seconds)")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 3600.0));
  app.add_flag("--json", conn.json, "print the answer as JSON");

  Admin admin(conn);
  int rc = kExitOk;
  std::string arg1, arg2, confirm, passphrase_file, state_name;
  uint32_t lines = 20;

  auto* group = app.add_subcommand("group", "key groups")->require_subcommand(1);
  auto* group_create = group->add_subcommand("create", "create a key group (it has no keys)");
  group_create->add_option("name", arg1, "group name")->required();
  group_create->callback([&] {
    rc = admin.Call<v1::KeyGroupInfo>(
        [&](grpc::ClientContext* c, v1::KeyGroupInfo* r) {
          v1::CreateGroupRequest q;
          q.set_name(arg1);
          return admin.stub()->CreateGroup(c, q, r);
        },
        [](const v1::KeyGroupInfo& g) { return "created key group " + g.name() + "\n"; });
  });
  group->add_subcommand("list", "list key groups")->callback([&] {
    rc = admin.Call<v1::ListGroupsResponse>(
        [&](grpc::ClientContext* c, v1::ListGroupsResponse* r) {
          return admin.stub()->ListGroups(c, v1::ListGroupsRequest(), r);
        },
        FormatGroups);
  });
  auto* group_shred = group->add_subcommand(
      "shred",
      "destroy every root key of a group, in use or not, and the group itself: all "
      "data of every pool using it becomes unreadable");
  group_shred->add_option("name", arg1, "group name")->required();
  group_shred->add_option("--confirm", confirm, "repeat the group name to confirm")->required();
  group_shred->callback([&] {
    rc = admin.Call<v1::ShredGroupResponse>(
        [&](grpc::ClientContext* c, v1::ShredGroupResponse* r) {
          v1::ShredGroupRequest q;
          q.set_key_group(arg1);
          q.set_confirm(confirm);
          return admin.stub()->ShredGroup(c, q, r);
        },
        [&](const v1::ShredGroupResponse& r) {
          return "shredded key group " + arg1 + ": destroyed " +
                 std::to_string(r.destroyed_keys()) + " root key(s), dropped " +
                 std::to_string(r.dropped_registrations()) + " KEK registration(s)\n";
        });
  });

  auto* key = app.add_subcommand("key", "root keys")->require_subcommand(1);
  auto* key_create = key->add_subcommand("create", "create a prelive root key in a group");
  key_create->add_option("group", arg1, "key group")->required();
  key_create->callback([&] {
    rc = admin.Call<v1::RootKeyInfo>(
        [&](grpc::ClientContext* c, v1::RootKeyInfo* r) {
          v1::CreateKeyRequest q;
          q.set_key_group(arg1);
          return admin.stub()->CreateKey(c, q, r);
        },
        FormatKey);
  });
  auto* key_list = key->add_subcommand("list", "list root keys");
  key_list->add_option("-g,--group", arg1, "only this key group");
  key_list->callback([&] {
    rc = admin.Call<v1::ListKeysResponse>(
        [&](grpc::ClientContext* c, v1::ListKeysResponse* r) {
          v1::ListKeysRequest q;
          q.set_key_group(arg1);
          return admin.stub()->ListKeys(c, q, r);
        },
        FormatKeys);
  });
  auto set_state = [&](const std::string& state) {
    rc = admin.Call<v1::RootKeyInfo>(
        [&](grpc::ClientContext* c, v1::RootKeyInfo* r) {
          v1::SetKeyStateRequest q;
          q.set_root_key_id(arg1);
          q.set_state(ParseKeyState(state));
          return admin.stub()->SetKeyState(c, q, r);
        },
        FormatKey);
  };
  struct Move {
    const char* name;
    const char* state;
    const char* help;
  };
  for (const Move& m :
       {Move{"activate", "active",
             "make a prelive or inactive key the group's active key (the "
             "previous active key becomes inactive)"},
        Move{"deactivate", "inactive",
             "make the active key inactive (the group then wraps nothing)"},
        Move{"deprecate", "deprecated", "retire an inactive key that wraps no registered KEK"},
        Move{"terminate", "terminated",
             "destroy a deprecated or compromised key's material (refused "
             "while it wraps a registered KEK)"},
        Move{"compromise", "compromised", "mark a key as leaked: it unwraps only to re-wrap"}}) {
    auto* sub = key->add_subcommand(m.name, m.help);
    sub->add_option("id", arg1, "root key id")->required();
    std::string target = m.state;
    sub->callback([&, target] { set_state(target); });
  }
  auto* key_set = key->add_subcommand("set-state", "move a key to an adjacent state by name");
  key_set->add_option("id", arg1, "root key id")->required();
  key_set
      ->add_option("state", state_name, "prelive|active|inactive|deprecated|terminated|compromised")
      ->required();
  key_set->callback([&] { set_state(state_name); });
  auto* key_delete =
      key->add_subcommand("delete", "delete a prelive or terminated key that wraps no KEK");
  key_delete->add_option("id", arg1, "root key id")->required();
  key_delete->callback([&] {
    rc = admin.Call<v1::DeleteKeyResponse>(
        [&](grpc::ClientContext* c, v1::DeleteKeyResponse* r) {
          v1::DeleteKeyRequest q;
          q.set_root_key_id(arg1);
          return admin.stub()->DeleteKey(c, q, r);
        },
        [&](const v1::DeleteKeyResponse&) { return "deleted root key " + arg1 + "\n"; });
  });

  auto* usage = app.add_subcommand("usage", "which pools' KEKs are wrapped under which keys");
  usage->add_option("-g,--group", arg1, "only this key group");
  usage->add_option("-k,--key", arg2, "only this root key");
  usage->callback([&] {
    rc = admin.Call<v1::ListUsageResponse>(
        [&](grpc::ClientContext* c, v1::ListUsageResponse* r) {
          v1::ListUsageRequest q;
          q.set_key_group(arg1);
          q.set_root_key_id(arg2);
          return admin.stub()->ListUsage(c, q, r);
        },
        FormatUsage);
  });

  auto* audit = app.add_subcommand("audit", "the audit log")->require_subcommand(1);
  auto* audit_tail = audit->add_subcommand("tail", "print the last audit lines (JSON lines)");
  audit_tail->add_option("-n,--lines", lines, "how many (1..1000)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  audit_tail->callback([&] {
    rc = admin.Call<v1::TailAuditResponse>(
        [&](grpc::ClientContext* c, v1::TailAuditResponse* r) {
          v1::TailAuditRequest q;
          q.set_lines(lines);
          return admin.stub()->TailAudit(c, q, r);
        },
        [](const v1::TailAuditResponse& r) {
          std::string out;
          for (const std::string& l : r.lines()) out += l + "\n";
          return out;
        });
  });

  auto* passphrase =
      app.add_subcommand("passphrase", "the key-store passphrase")->require_subcommand(1);
  auto* change = passphrase->add_subcommand(
      "change",
      "re-encrypt the key store under a new passphrase (atomically); then update "
      "sealkmsd's passphrase file or credential before its next start");
  change
      ->add_option("--new-passphrase-file", passphrase_file,
                   "file holding the new passphrase (\"-\": read one line from stdin)")
      ->required();
  change->callback([&] {
    std::optional<crypto::SecretBytes> secret = ReadNewPassphrase(passphrase_file);
    if (!secret) {
      rc = kExitUsage;
      return;
    }
    rc = admin.Call<v1::ChangePassphraseResponse>(
        [&](grpc::ClientContext* c, v1::ChangePassphraseResponse* r) {
          v1::ChangePassphraseRequest q;
          q.set_new_passphrase(secret->span().data(), secret->size());
          grpc::Status st = admin.stub()->ChangePassphrase(c, q, r);
          // The request's copy is wiped before it is freed (gRPC's own send buffers are out
          // of reach).
          std::string* sent = q.mutable_new_passphrase();
          crypto::Wipe({reinterpret_cast<uint8_t*>(sent->data()), sent->size()});
          return st;
        },
        [](const v1::ChangePassphraseResponse&) {
          return std::string(
              "key store re-encrypted under the new passphrase; update sealkmsd's passphrase "
              "file or credential now, and take a new backup of the key store\n");
        });
  });

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }
  return rc;
}

}  // namespace
}  // namespace sealpool::tools

int main(int argc, char** argv) { return sealpool::tools::Main(argc, argv); }
