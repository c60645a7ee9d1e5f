#include "kms/key_store_file.h"

#include <openssl/crypto.h>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "crypto/aead.h"
#include "crypto/random.h"
#include "kms/status_util.h"

namespace sealpool::kms {
namespace {

absl::Status Errno(std::string_view what, const std::filesystem::path& path) {
  int e = errno;
  return absl::Status(e == ENOENT ? absl::StatusCode::kNotFound : absl::StatusCode::kInternal,
                      Cat(what, " ", path.string(), ": ", std::strerror(e)));
}

absl::Status WriteAll(int fd, std::span<const uint8_t> data, const std::filesystem::path& p) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno("cannot write", p);
    }
    data = data.subspan(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

absl::Status FsyncDir(const std::filesystem::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Errno("cannot open directory", dir);
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return Errno("cannot fsync directory", dir);
  return absl::OkStatus();
}

std::filesystem::path DirOf(const std::filesystem::path& path) {
  std::filesystem::path dir = path.parent_path();
  return dir.empty() ? std::filesystem::path(".") : dir;
}

absl::StatusOr<std::vector<uint8_t>> ReadStoreFile(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    return Annotate(Errno("cannot open key store", path), "opening the key store");
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    absl::Status s = Errno("cannot stat key store", path);
    ::close(fd);
    return s;
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return absl::FailedPreconditionError(
        Cat("key store ", path.string(), " is not a regular file"));
  }
  if ((st.st_mode & 077) != 0) {
    ::close(fd);
    return absl::FailedPreconditionError(
        absl::StrFormat("key store %s is accessible by group or others (mode %o); run chmod "
                        "600 on it",
                        path.string(), st.st_mode & 0777));
  }
  if (static_cast<uint64_t>(st.st_size) > kKeyStoreHeaderSize + kMaxKeyStorePayload) {
    ::close(fd);
    return absl::DataLossError(Cat("key store ", path.string(), " is too large to be a key store"));
  }
  std::vector<uint8_t> data(static_cast<size_t>(st.st_size));
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::read(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      absl::Status s = n < 0 ? Errno("cannot read key store", path)
                             : absl::DataLossError("key store changed size while read");
      ::close(fd);
      return s;
    }
    off += static_cast<size_t>(n);
  }
  ::close(fd);
  return data;
}

}  // namespace

KeyStoreFile::KeyStoreFile(std::filesystem::path path, int lock_fd, crypto::StoreKey key,
                           KeyStoreHeader header)
    : path_(std::move(path)), lock_fd_(lock_fd), key_(std::move(key)), header_(header) {}

KeyStoreFile::~KeyStoreFile() {
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

absl::StatusOr<int> KeyStoreFile::Lock(const std::filesystem::path& path) {
  std::filesystem::path lock_path = path;
  lock_path += ".lock";
  int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return Errno("cannot open lock file", lock_path);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return absl::FailedPreconditionError(Cat("key store ", path.string(),
                                             " is in use by another process (", lock_path.string(),
                                             " is locked)"));
  }
  return fd;
}

absl::StatusOr<std::unique_ptr<KeyStoreFile>> KeyStoreFile::Create(
    const std::filesystem::path& path, std::span<const uint8_t> passphrase,
    const crypto::ScryptParams& params) {
  if (passphrase.empty()) return absl::InvalidArgumentError("the passphrase is empty");
  SEALPOOL_RETURN_IF_ERROR(crypto::ValidateScryptParams(params));
  SEALPOOL_ASSIGN_OR_RETURN(int lock_fd, Lock(path));
  std::error_code ec;
  if (std::filesystem::exists(std::filesystem::symlink_status(path, ec))) {
    ::close(lock_fd);
    return absl::AlreadyExistsError(
        Cat("key store ", path.string(), " already exists; refusing to overwrite it"));
  }
  KeyStoreHeader header;
  header.scrypt = params;
  if (absl::Status s = crypto::RandomBytes(header.salt); !s.ok()) {
    ::close(lock_fd);
    return s;
  }
  absl::StatusOr<crypto::StoreKey> key = crypto::DeriveStoreKey(passphrase, header.salt, params);
  if (!key.ok()) {
    ::close(lock_fd);
    return key.status();
  }
  std::unique_ptr<KeyStoreFile> file(new KeyStoreFile(path, lock_fd, *std::move(key), header));
  SEALPOOL_RETURN_IF_ERROR(file->Save(KeyStoreContents{}));
  return file;
}

absl::StatusOr<std::pair<std::unique_ptr<KeyStoreFile>, KeyStoreContents>> KeyStoreFile::Open(
    const std::filesystem::path& path, std::span<const uint8_t> passphrase) {
  SEALPOOL_ASSIGN_OR_RETURN(int lock_fd, Lock(path));
  auto fail = [&](absl::Status s) {
    ::close(lock_fd);
    return s;
  };
  absl::StatusOr<std::vector<uint8_t>> data = ReadStoreFile(path);
  if (!data.ok()) return fail(data.status());
  absl::StatusOr<KeyStoreHeader> header = KeyStoreHeader::Decode(*data);
  if (!header.ok()) {
    return fail(Annotate(header.status(), Cat("key store ", path.string())));
  }
  absl::StatusOr<crypto::StoreKey> key =
      crypto::DeriveStoreKey(passphrase, header->salt, header->scrypt);
  if (!key.ok()) return fail(key.status());

  std::array<uint8_t, 16> check{};
  absl::Status s = crypto::Open(*key, header->check_nonce, header->AssociatedData(false),
                                header->check_ciphertext, header->check_tag, check);
  if (!s.ok()) {
    return fail(absl::PermissionDeniedError(
        Cat("wrong passphrase for key store ", path.string(), " (or its header is damaged)")));
  }
  absl::StatusOr<crypto::SecretBytes> plain = crypto::SecretBytes::Allocate(header->payload_size);
  if (!plain.ok()) return fail(plain.status());
  std::span<const uint8_t> ciphertext(data->data() + kKeyStoreHeaderSize, header->payload_size);
  s = crypto::Open(*key, header->payload_nonce, header->AssociatedData(true), ciphertext,
                   header->payload_tag, plain->mutable_span());
  if (!s.ok()) {
    return fail(absl::DataLossError(Cat("key store ", path.string(),
                                        " is damaged: its contents fail authentication although "
                                        "the passphrase is right; restore it from a backup")));
  }
  absl::StatusOr<KeyStoreContents> contents = DecodeKeyStorePayload(plain->span(), header->version);
  if (!contents.ok()) {
    return fail(Annotate(contents.status(), Cat("key store ", path.string())));
  }
  std::unique_ptr<KeyStoreFile> file(new KeyStoreFile(path, lock_fd, *std::move(key), *header));
  return std::make_pair(std::move(file), *std::move(contents));
}

absl::Status KeyStoreFile::Save(const KeyStoreContents& contents) {
  bool replaced = false;
  KeyStoreHeader header = header_;
  absl::Status s = Write(key_, &header, contents, &replaced);
  if (replaced) header_ = header;
  return s;
}

std::string KeyStoreFile::KeyId() const {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (uint8_t b : header_.salt) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

absl::Status KeyStoreFile::ChangePassphrase(std::span<const uint8_t> new_passphrase,
                                            const KeyStoreContents& contents) {
  if (new_passphrase.empty()) return absl::InvalidArgumentError("the new passphrase is empty");
  {
    // The same passphrase under a new salt would leave every older backup opening with it.
    SEALPOOL_ASSIGN_OR_RETURN(crypto::StoreKey same,
                              crypto::DeriveStoreKey(new_passphrase, header_.salt, header_.scrypt));
    const auto a = same.RevealSecret();
    const auto b = key_.RevealSecret();
    if (a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0) {
      return absl::FailedPreconditionError(
          "the new passphrase is the one in use; a passphrase change must change it");
    }
  }
  KeyStoreHeader header = header_;
  SEALPOOL_RETURN_IF_ERROR(crypto::RandomBytes(header.salt));
  SEALPOOL_ASSIGN_OR_RETURN(crypto::StoreKey key,
                       crypto::DeriveStoreKey(new_passphrase, header.salt, header.scrypt));
  bool replaced = false;
  absl::Status s = Write(key, &header, contents, &replaced);
  if (replaced) {  // The file on disk is under the new passphrase now, whatever else failed.
    key_ = std::move(key);
    header_ = header;
  }
  return s;
}

absl::Status KeyStoreFile::Write(const crypto::StoreKey& key, KeyStoreHeader* header_io,
                                 const KeyStoreContents& contents, bool* replaced) {
  *replaced = false;
  KeyStoreHeader& header = *header_io;
  SEALPOOL_ASSIGN_OR_RETURN(crypto::SecretBytes plain, EncodeKeyStorePayload(contents));
  if (plain.size() > kMaxKeyStorePayload) {
    return absl::ResourceExhaustedError("key store contents exceed the format's size limit");
  }
  header.version = kKeyStoreVersion;
  header.payload_size = static_cast<uint32_t>(plain.size());
  std::array<uint8_t, 16> zeros{};
  crypto::GcmNonce nonce{};
  crypto::GcmTag tag{};
  SEALPOOL_RETURN_IF_ERROR(crypto::Seal(key, header.AssociatedData(false), zeros,
                                   header.check_ciphertext, &nonce, &tag));
  header.check_nonce = nonce;
  header.check_tag = tag;
  // The payload's associated data covers the payload size, set above; nonce and tag are not
  // part of it, so they can be filled in after sealing.
  std::vector<uint8_t> file(kKeyStoreHeaderSize + plain.size());
  std::span<uint8_t> ciphertext(file.data() + kKeyStoreHeaderSize, plain.size());
  SEALPOOL_RETURN_IF_ERROR(
      crypto::Seal(key, header.AssociatedData(true), plain.span(), ciphertext, &nonce, &tag));
  header.payload_nonce = nonce;
  header.payload_tag = tag;
  std::array<uint8_t, kKeyStoreHeaderSize> head = header.Encode();
  std::copy(head.begin(), head.end(), file.begin());

  std::filesystem::path tmp = path_;
  tmp += ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return Errno("cannot create", tmp);
  absl::Status s = ::fchmod(fd, 0600) == 0 ? absl::OkStatus() : Errno("cannot chmod", tmp);
  if (s.ok()) s = WriteAll(fd, file, tmp);
  if (s.ok() && ::fsync(fd) != 0) s = Errno("cannot fsync", tmp);
  if (::close(fd) != 0 && s.ok()) s = Errno("cannot close", tmp);
  if (s.ok() && ::rename(tmp.c_str(), path_.c_str()) != 0) s = Errno("cannot rename", tmp);
  if (!s.ok()) {
    ::unlink(tmp.c_str());  // Best effort: the store itself is untouched.
    return Annotate(s, "saving the key store");
  }
  *replaced = true;
  return Annotate(FsyncDir(DirOf(path_)), "saving the key store");
}

}  // namespace sealpool::kms
