#include "kms/kmip_state_file.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/status/status.h"
#include "kms/key_registry.h"
#include "kms/names.h"
#include "kms/status_util.h"

namespace sealpool::kms {
namespace {

constexpr std::string_view kMagic = "sealpool-kmip-state";
constexpr int kVersion = 3;  // 3: pin lines (KEK pairs' public-key hashes)
constexpr int kOldestVersion = 1;

absl::Status Errno(std::string_view what, const std::filesystem::path& p) {
  int e = errno;
  std::string text = Cat(what, " ", p.string(), ": ", std::strerror(e));
  if (e == ENOENT) return absl::NotFoundError(text);
  return absl::InternalError(text);
}

std::string Sha256Hex(std::string_view text) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(text.data(), text.size(), md, &n, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < n; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 15]);
  }
  return out;
}

absl::StatusOr<int> LockFile(const std::filesystem::path& path) {
  std::filesystem::path lock_path = path;
  lock_path += ".lock";
  int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return Errno("cannot open lock file", lock_path);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return absl::FailedPreconditionError(Cat("KMIP state file ", path.string(),
                                             " is in use by another process (", lock_path.string(),
                                             " is locked)"));
  }
  return fd;
}

absl::Status WriteAtomically(const std::filesystem::path& path, const std::string& text) {
  std::filesystem::path tmp = path;
  tmp += ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return Errno("cannot create", tmp);
  absl::Status s = ::fchmod(fd, 0600) == 0 ? absl::OkStatus() : Errno("cannot chmod", tmp);
  size_t done = 0;
  while (s.ok() && done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      s = Errno("cannot write", tmp);
    } else {
      done += static_cast<size_t>(n);
    }
  }
  if (s.ok() && ::fsync(fd) != 0) s = Errno("cannot fsync", tmp);
  if (::close(fd) != 0 && s.ok()) s = Errno("cannot close", tmp);
  if (s.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) s = Errno("cannot rename", tmp);
  if (!s.ok()) {
    ::unlink(tmp.c_str());
    return Annotate(s, "saving the KMIP state");
  }
  std::filesystem::path dir = path.parent_path().empty() ? "." : path.parent_path();
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return Errno("cannot open directory", dir);
  int rc = ::fsync(dfd);
  ::close(dfd);
  if (rc != 0) return Errno("cannot fsync directory", dir);
  return absl::OkStatus();
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (;;) {
    size_t at = s.find(sep, start);
    out.push_back(
        s.substr(start, at == std::string_view::npos ? std::string_view::npos : at - start));
    if (at == std::string_view::npos) return out;
    start = at + 1;
  }
}

template <typename T>
bool Number(std::string_view s, T* out) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size() && !s.empty();
}

absl::Status Corrupt(size_t line, std::string_view why) {
  return absl::DataLossError(Cat("KMIP state file damaged (line ", line, "): ", why));
}

}  // namespace

KmipStateFile::~KmipStateFile() {
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

std::string KmipStateFile::Encode(const KeyStoreContents& c) {
  std::ostringstream o;
  o << kMagic << " " << kVersion << "\n";
  o << "generation " << c.generation << "\n";
  for (const auto& [name, g] : c.groups) o << "group " << g.name << " " << g.created_unix << "\n";
  for (const auto& [id, k] : c.keys) {
    o << "key " << k.id << " " << k.group << " " << static_cast<int>(k.state) << " "
      << k.created_unix << " " << k.state_changed_unix << "\n";
  }
  for (const auto& [key, root] : c.usage) {
    const auto& [pool, group, kek] = key;
    o << "usage " << pool << " " << group << " " << kek << " " << root << "\n";
  }
  for (const auto& [key, hash] : c.pins) {
    const auto& [pool, group, kek] = key;
    o << "pin " << pool << " " << group << " " << kek << " " << hash << "\n";
  }
  for (const PendingKmsChange& p : c.pending) {
    o << "pending " << p.request_id << " " << static_cast<int>(p.op) << " " << p.group << " "
      << (p.key_id.empty() ? "-" : p.key_id) << " " << (p.erase ? 1 : 0) << " "
      << p.created_unix << "\n";
  }
  std::string body = o.str();
  return body + "sha256 " + Sha256Hex(body) + "\n";
}

absl::StatusOr<KeyStoreContents> KmipStateFile::Decode(std::string_view text) {
  if (text.size() > (size_t{64} << 20)) return absl::DataLossError("KMIP state file too large");
  size_t sum_at = text.rfind("sha256 ");
  if (sum_at == std::string_view::npos || (sum_at != 0 && text[sum_at - 1] != '\n')) {
    return absl::DataLossError("KMIP state file damaged: no checksum line");
  }
  std::string_view body = text.substr(0, sum_at);
  std::string_view sum = text.substr(sum_at + 7);
  if (sum != Sha256Hex(body) + "\n") {
    return absl::DataLossError("KMIP state file damaged: checksum mismatch");
  }
  KeyStoreContents c;
  size_t n = 0;
  for (std::string_view line : Split(body, '\n')) {
    if (line.empty()) continue;
    ++n;
    std::vector<std::string_view> f = Split(line, ' ');
    auto num = [&](std::string_view s, int64_t* out) { return Number(s, out); };
    if (n == 1) {
      int v = 0;
      if (f.size() != 2 || f[0] != kMagic || !Number(f[1], &v)) {
        return absl::DataLossError("not a sealpool KMIP state file");
      }
      if (v > kVersion) {
        return absl::FailedPreconditionError(
            Cat("KMIP state file version ", v, " is newer than this sealkmsd (", kVersion, ")"));
      }
      if (v < kOldestVersion) return Corrupt(n, "bad version");
      continue;
    }
    for (size_t i = 1; i < f.size(); ++i) {
      if (f[i].empty()) return Corrupt(n, "empty field");
    }
    if (f[0] == "generation" && f.size() == 2) {
      if (!Number(f[1], &c.generation)) return Corrupt(n, "bad generation");
    } else if (f[0] == "group" && f.size() == 3) {
      StoredGroup g{std::string(f[1]), 0};
      if (!ValidateName("key group", g.name).ok() || !num(f[2], &g.created_unix)) {
        return Corrupt(n, "bad group record");
      }
      if (!c.groups.emplace(g.name, g).second) return Corrupt(n, "group listed twice");
    } else if (f[0] == "key" && f.size() == 6) {
      StoredRootKey k;
      k.id = std::string(f[1]);
      k.group = std::string(f[2]);
      int state = 0;
      if (!ValidateName("root key id", k.id).ok() || !Number(f[3], &state) || state < 0 ||
          state > 255 || !IsValidRootKeyState(static_cast<uint8_t>(state)) ||
          !num(f[4], &k.created_unix) || !num(f[5], &k.state_changed_unix)) {
        return Corrupt(n, "bad key record");
      }
      k.state = static_cast<RootKeyState>(state);
      if (!c.groups.contains(k.group)) return Corrupt(n, "key of an unknown group");
      if (!c.keys.emplace(k.id, k).second) return Corrupt(n, "key listed twice");
    } else if (f[0] == "usage" && f.size() == 5) {
      for (size_t i = 1; i < 5; ++i) {
        if (!ValidateName("name", f[i]).ok()) return Corrupt(n, "bad usage record");
      }
      auto it = c.keys.find(std::string(f[4]));
      if (it == c.keys.end() || it->second.group != f[2])
        return Corrupt(n, "usage of an unknown key");
      c.usage[UsageKey(std::string(f[1]), std::string(f[2]), std::string(f[3]))] =
          std::string(f[4]);
    } else if (f[0] == "pin" && f.size() == 5) {
      UsageKey key{std::string(f[1]), std::string(f[2]), std::string(f[3])};
      if (!ValidatePublicKeyHash(f[4]).ok() || f[4].empty()) return Corrupt(n, "bad pin record");
      if (!c.usage.contains(key)) return Corrupt(n, "pin without a usage record");
      if (!c.pins.emplace(std::move(key), std::string(f[4])).second) {
        return Corrupt(n, "pin listed twice");
      }
    } else if (f[0] == "pending" && f.size() == 7) {
      PendingKmsChange p;
      p.request_id = std::string(f[1]);
      int op = 0, erase = 0;
      p.group = std::string(f[3]);
      if (f[4] != "-") p.key_id = std::string(f[4]);
      if (!ValidateName("request id", p.request_id).ok() || !Number(f[2], &op) || op < 1 ||
          op > 4 || !Number(f[5], &erase) || erase < 0 || erase > 1 ||
          !num(f[6], &p.created_unix)) {
        return Corrupt(n, "bad pending record");
      }
      p.op = static_cast<PendingKmsChange::Op>(op);
      p.erase = erase == 1;
      if (!c.groups.contains(p.group)) return Corrupt(n, "pending change of an unknown group");
      if ((p.op == PendingKmsChange::Op::kCreate) != p.key_id.empty())
        return Corrupt(n, "bad pending record");
      c.pending.push_back(std::move(p));
    } else {
      return Corrupt(n, "unknown record");
    }
  }
  if (n == 0) return absl::DataLossError("KMIP state file is empty");
  return c;
}

absl::StatusOr<std::unique_ptr<KmipStateFile>> KmipStateFile::Create(
    const std::filesystem::path& path) {
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) {
    return absl::AlreadyExistsError(Cat("KMIP state file ", path.string(), " already exists"));
  }
  SEALPOOL_ASSIGN_OR_RETURN(int lock_fd, LockFile(path));
  std::unique_ptr<KmipStateFile> f(new KmipStateFile(path, lock_fd));
  SEALPOOL_RETURN_IF_ERROR(f->Save(KeyStoreContents{}));
  return f;
}

absl::StatusOr<std::unique_ptr<KmipStateFile>> KmipStateFile::Reserve(
    const std::filesystem::path& path) {
  SEALPOOL_ASSIGN_OR_RETURN(int lock_fd, LockFile(path));
  std::unique_ptr<KmipStateFile> f(new KmipStateFile(path, lock_fd));
  std::error_code ec;
  std::filesystem::file_status st = std::filesystem::symlink_status(path, ec);
  if (ec && ec != std::errc::no_such_file_or_directory) {
    return absl::InternalError(
        Cat("cannot check KMIP state file ", path.string(), ": ", ec.message()));
  }
  if (std::filesystem::exists(st)) {
    return absl::AlreadyExistsError(Cat("KMIP state file ", path.string(), " already exists"));
  }
  return f;
}

absl::StatusOr<std::pair<std::unique_ptr<KmipStateFile>, KeyStoreContents>> KmipStateFile::Open(
    const std::filesystem::path& path) {
  SEALPOOL_ASSIGN_OR_RETURN(int lock_fd, LockFile(path));
  std::unique_ptr<KmipStateFile> f(new KmipStateFile(path, lock_fd));
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return Errno("cannot open KMIP state file", path);
  if ((st.st_mode & 077) != 0) {
    return absl::FailedPreconditionError(
        Cat("KMIP state file ", path.string(), " is readable by others (chmod 600 it)"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return Errno("cannot open KMIP state file", path);
  std::stringstream s;
  s << in.rdbuf();
  absl::StatusOr<KeyStoreContents> c = Decode(s.str());
  if (!c.ok()) return Annotate(c.status(), path.string());
  return std::make_pair(std::move(f), *std::move(c));
}

absl::Status KmipStateFile::Save(const KeyStoreContents& contents) {
  return WriteAtomically(path_, Encode(contents));
}

}  // namespace sealpool::kms
